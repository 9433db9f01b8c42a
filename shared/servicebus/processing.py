"""One received message, end to end, independent of the host: route → decide → (v2: record) → settle → record → log.

The Functions trigger and the standalone worker both call ``process_message``; they differ only in the
``MessageSettler`` they pass (``ServiceBusMessageActions`` or an SDK receiver). ``EventRouter`` sends the body
to its contract's flow.

Contract v1: with a ledger (the attestor's journal), what the host did is recorded after the settlement: a
ledger that cannot be written is logged, and the message stays settled (the ledger then shows the event in
progress; ``reconcile`` reads Partner Center).

Contract v2: the flow records its own steps; what only the host decides (a retry, or retries exhausted: the
end, told to the CRM) is recorded *before* the settlement, and a failure to record or notify raises, so the
message is not settled and comes back (every write and notification of the flow is idempotent).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from shared.attestation.enhanced_flow import EnhancedFlow
from shared.attestation.flow_state import Delivery
from shared.attestation.ledger import AttestationJournal, LedgerError
from shared.attestation.notifications import NotificationError
from shared.attestation.outcomes import Outcome, RetryLater, log_outcome
from shared.attestation.router import EventRouter
from shared.servicebus.settlement import (
    DeadLetterMessage,
    MessageSettler,
    RedeliveryPolicy,
    ScheduleCheck,
    ScheduleRetry,
    Settlement,
    decide,
    settle,
    settlement_name,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Processed:
    """What happened to one message (hosts and tests read it; the logs carry the same)."""

    outcome: Outcome
    settlement: Settlement


async def process_message(
    body: bytes,
    *,
    delivery: Delivery,
    router: EventRouter,
    settler: MessageSettler,
    policy: RedeliveryPolicy,
    rng: random.Random,
    time_to_live: float | None = None,
) -> Processed:
    """Carry one message body through its flow and settle the message accordingly (a retry never later than
    ``time_to_live``)."""
    started = time.perf_counter()
    attempt, message_id = delivery.attempt, delivery.message_id
    outcome = await router.attest_body(body, delivery)
    settlement = decide(outcome, attempt, policy, rng, time_to_live=time_to_live)
    enhanced = router.enhanced
    if enhanced is not None and isinstance(outcome, RetryLater) and enhanced.owns(outcome.event_id):
        await _record_enhanced(enhanced, outcome, settlement, attempt=attempt + 1, message_id=message_id)
    await settle(settlement, settler)
    if router.journal is not None:
        await record_settlement(router.journal, outcome, settlement, attempt=attempt + 1, message_id=message_id)
    fields: dict[str, object] = {
        "message_id": message_id,
        "settlement": settlement_name(settlement),
        "attempt": attempt,
    }
    if isinstance(settlement, ScheduleRetry | ScheduleCheck):
        fields["retry_in_seconds" if isinstance(settlement, ScheduleRetry) else "check_in_seconds"] = round(
            settlement.delay_seconds, 1
        )
    reason = settlement.reason if isinstance(settlement, DeadLetterMessage) else ""
    log_outcome(outcome, started, reason=reason, **fields)
    return Processed(outcome, settlement)


async def record_settlement(
    journal: AttestationJournal, outcome: Outcome, settlement: Settlement, *, attempt: int, message_id: str = ""
) -> None:
    """Record in the ledger what a host did with ``outcome`` (``attempt`` counts deliveries, from 1)."""
    try:
        await journal.settle(
            outcome,
            attempt=attempt,
            message_id=message_id,
            dead_letter_reason=settlement.reason if isinstance(settlement, DeadLetterMessage) else "",
        )
    except LedgerError as error:
        log.warning(
            "ledger not updated after settlement",
            extra={"event": "ledger.unavailable", "event_id": outcome.event_id, "error": str(error)[:300]},
        )


class MessageNotSettled(Exception):
    """The message must not be settled now (the CRM could not be told how it ended): the host leaves it, and
    Service Bus delivers it again."""


async def _record_enhanced(
    enhanced: EnhancedFlow, outcome: RetryLater, settlement: Settlement, *, attempt: int, message_id: str
) -> None:
    """The enhanced flow's record of what the host decided. A ledger that cannot be written is logged (as for
    v1); a notification that cannot be sent keeps the message unsettled, so the end is told on redelivery."""
    reason = settlement.reason if isinstance(settlement, DeadLetterMessage) else ""
    try:
        await enhanced.settled(outcome, dead_letter_reason=reason, attempt=attempt, message_id=message_id)
    except LedgerError as error:
        log.warning(
            "ledger not updated before settlement",
            extra={"event": "ledger.unavailable", "event_id": outcome.event_id, "error": str(error)[:300]},
        )
    except NotificationError as error:
        log.warning(
            "the CRM could not be told; the message is left for redelivery",
            extra={"event": "enhanced.notification_failed", "event_id": outcome.event_id, "error": str(error)},
        )
        raise MessageNotSettled(str(error)) from error
