"""decide(): a RetryLater whose retries run out is dead-lettered with the reason the outcome carries."""

from __future__ import annotations

import random

from shared.attestation.outcomes import DeadLetterReason, RetryLater
from shared.servicebus.settlement import DeadLetterMessage, RedeliveryPolicy, ScheduleRetry, decide

POLICY = RedeliveryPolicy(budget=3)


def _retry_later(exhausted_reason: DeadLetterReason | None = None) -> RetryLater:
    if exhausted_reason is None:
        return RetryLater("crm-42", "req-1", "corr-1", None, "HTTP 404: Not Found")
    return RetryLater("crm-42", "req-1", "corr-1", None, "HTTP 404: Not Found", exhausted_reason)


def test_exhausted_retry_uses_the_outcomes_reason() -> None:
    """Retries exhausted for an unreachable Partner Center dead-letter as PartnerCenterUnreachable."""
    outcome = _retry_later(exhausted_reason=DeadLetterReason.PARTNER_CENTER_UNREACHABLE)

    settlement = decide(outcome, 3, POLICY, random.Random(1))

    assert isinstance(settlement, DeadLetterMessage)
    assert settlement.reason == "PartnerCenterUnreachable"
    assert "gave up after 3 scheduled retries" in settlement.description
    assert "HTTP 404: Not Found" in settlement.description


def test_exhausted_retry_defaults_to_retries_exhausted() -> None:
    """A RetryLater that names no reason exhausts as RetriesExhausted."""
    settlement = decide(_retry_later(), 3, POLICY, random.Random(1))

    assert isinstance(settlement, DeadLetterMessage)
    assert settlement.reason == "RetriesExhausted"


def test_within_budget_the_reason_does_not_matter() -> None:
    """Before the budget is spent, a RetryLater is scheduled whatever its exhausted reason."""
    outcome = _retry_later(exhausted_reason=DeadLetterReason.PARTNER_CENTER_UNREACHABLE)

    assert isinstance(decide(outcome, 2, POLICY, random.Random(1)), ScheduleRetry)
