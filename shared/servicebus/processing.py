"""One received message, end to end, independent of the host: attest → decide → settle → log.

The Functions trigger and the standalone worker both call ``process_message``; they differ only in the
``MessageSettler`` they pass (``ServiceBusMessageActions`` or an SDK receiver).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from shared.attestation.outcomes import Outcome, outcome_name
from shared.attestation.use_case import Attestor
from shared.servicebus.settlement import (
    Complete,
    DeadLetterMessage,
    MessageSettler,
    RedeliveryPolicy,
    ScheduleRetry,
    Settlement,
    decide,
    settle,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Processed:
    """What happened to one message (hosts and tests read it; the logs carry the same)."""

    outcome: Outcome
    settlement: Settlement


def settlement_name(settlement: Settlement) -> str:
    if isinstance(settlement, Complete):
        return "complete"
    if isinstance(settlement, DeadLetterMessage):
        return "dead_letter"
    return "schedule_retry"


async def process_message(
    body: bytes,
    *,
    attempt: int,
    attestor: Attestor,
    settler: MessageSettler,
    policy: RedeliveryPolicy,
    rng: random.Random,
    message_id: str = "",
    time_to_live: float | None = None,
) -> Processed:
    """Attest one message body and settle the message accordingly (a retry never later than ``time_to_live``)."""
    started = time.perf_counter()
    outcome = await attestor.attest_body(body)
    settlement = decide(outcome, attempt, policy, rng, time_to_live=time_to_live)
    await settle(settlement, settler)
    extra: dict[str, object] = {
        "event": "message.settled",
        "message_id": message_id,
        "event_id": outcome.event_id,
        "ms_request_id": outcome.request_id,
        "ms_correlation_id": outcome.correlation_id,
        "outcome": outcome_name(outcome),
        "settlement": settlement_name(settlement),
        "attempt": attempt,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if isinstance(settlement, DeadLetterMessage):
        extra["reason"] = settlement.reason
    if isinstance(settlement, ScheduleRetry):
        extra["retry_in_seconds"] = round(settlement.delay_seconds, 1)
    log.info("message %s", extra["settlement"], extra=extra)
    return Processed(outcome, settlement)
