"""Outcome → settlement: retry delays are bounded whatever Retry-After says."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.attestation.outcomes import RetryLater
from shared.servicebus.settlement import Complete, DeadLetterMessage, RedeliveryPolicy, ScheduleRetry, decide

POLICY = RedeliveryPolicy(budget=8, base_seconds=30, max_seconds=3600)


def retry_later(retry_after: float | None) -> RetryLater:
    return RetryLater("evt", "req", "corr", retry_after=retry_after, description="HTTP 429")


def scheduled_delay(retry_after: float | None, *, attempt: int = 0, time_to_live: float | None = None) -> float:
    settlement = decide(retry_later(retry_after), attempt, POLICY, random.Random(7), time_to_live=time_to_live)
    assert isinstance(settlement, ScheduleRetry)
    return settlement.delay_seconds


@pytest.mark.parametrize("retry_after", [1735689600.0, 1e12, 1e308, 7200.0])
def test_a_long_retry_after_is_capped_at_the_maximum_delay(retry_after: float) -> None:
    """An epoch, 1e12 or anything beyond an hour schedules the copy at most max_seconds ahead — and the time
    can be computed (no OverflowError in the hosts)."""
    delay = scheduled_delay(retry_after)
    assert delay == POLICY.max_seconds
    assert datetime.now(UTC) + timedelta(seconds=delay) < datetime.now(UTC) + timedelta(hours=2)


@pytest.mark.parametrize("retry_after", [math.inf, -math.inf, math.nan, -5.0])
def test_an_absurd_retry_after_is_treated_as_absent(retry_after: float) -> None:
    """Infinite, NaN or negative Retry-After values give the plain backoff delay."""
    assert scheduled_delay(retry_after) == scheduled_delay(None)


def test_a_retry_after_within_the_cap_is_honoured() -> None:
    """Retry-After above the backoff but below the cap is the delay."""
    assert scheduled_delay(900.0) == 900.0


def test_no_delay_exceeds_the_message_time_to_live() -> None:
    """A message that lives 2 minutes is never scheduled further out than 2 minutes."""
    assert scheduled_delay(3000.0, time_to_live=120.0) == 120.0
    assert scheduled_delay(None, attempt=7, time_to_live=120.0) <= 120.0


def test_backoff_at_a_huge_attempt_number_stays_at_the_cap() -> None:
    """The exponential backoff cannot overflow, even for an attempt far beyond the budget."""
    policy = RedeliveryPolicy(budget=10**9, base_seconds=30, max_seconds=3600)
    settlement = decide(retry_later(None), 10**6, policy, random.Random(1))
    assert isinstance(settlement, ScheduleRetry)
    assert 1800 <= settlement.delay_seconds <= 3600


def test_budget_spent_dead_letters_as_retries_exhausted() -> None:
    """At the budget, RetryLater becomes a RetriesExhausted dead letter naming the last error."""
    settlement = decide(retry_later(None), POLICY.budget, POLICY, random.Random(1))
    assert isinstance(settlement, DeadLetterMessage)
    assert settlement.reason == "RetriesExhausted"
    assert "HTTP 429" in settlement.description
    assert not isinstance(settlement, Complete)
