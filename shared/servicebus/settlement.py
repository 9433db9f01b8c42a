"""Outcome → settlement: what a queue host does with a message once ``attest`` has answered.

Plain code with no SDK in it, so the Functions trigger and the standalone worker apply the *same*
policy; each host only adapts ``MessageSettler`` to its own SDK (``ServiceBusMessageActions`` in the
function, ``ServiceBusReceiver`` in the worker).

=================  =====================================================================
outcome            settlement
=================  =====================================================================
Attested           complete
AlreadyAttested    complete (600061 means the goal is reached)
AlreadyAccepted    complete (the customer had accepted; nothing was posted)
DeadLetter         dead-letter with the reason code and description; body untouched
RetryLater         attempt < budget: schedule a copy for later, *then* complete the
                   original — a crash between the two can only duplicate the message
                   (the consumer is idempotent), never lose it. The delay is the
                   exponential backoff (at least Retry-After); for a throttling pause
                   (``paused``) it is the pause plus a little jitter instead.
                   attempt = budget: dead-letter as its ``exhausted_reason`` (by default
                   ``RetriesExhausted``) with the last error
Validated          complete (dry-run hosts only)
AwaitingAcceptance schedule the status check (a copy of the message, ``mca-check`` set, a
                   message id from the check's identity: a second delivery scheduling the
                   same check gets the same id, which duplicate detection drops), *then*
                   complete the original
=================  =====================================================================

The retry attempt travels with the message in the application property ``mca-attempt``. The copy gets a
fresh message id (``shared.servicebus.messages.retry_message_id``: unique per original message and attempt) so
the queue's duplicate detection, keyed on the message id, cannot drop it.

Every delay is bounded: never longer than ``RedeliveryPolicy.max_seconds`` (``ATTEST_RETRY_MAX_SECONDS``,
one hour by default) nor than the message's own time to live, whatever ``Retry-After`` asked for — an epoch
sent as Retry-After must not park an event in the year 2081.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from shared.attestation.backoff import exponential_delay
from shared.attestation.outcomes import (
    AlreadyAccepted,
    AlreadyAttested,
    Attested,
    AwaitingAcceptance,
    DeadLetter,
    Outcome,
    RetryLater,
    Validated,
)

MAX_DESCRIPTION_CHARS = 1024  # Service Bus keeps DeadLetterErrorDescription short; so do we


@dataclass(frozen=True, slots=True)
class RedeliveryPolicy:
    """How transient failures are retried across deliveries (the in-call retries come first)."""

    budget: int = 8  # scheduled retries before RetriesExhausted
    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    pause_jitter_seconds: float = 10.0  # the most jitter added to a throttling pause

    def pause_delay(self, pause: float, rng: random.Random, *, time_to_live: float | None = None) -> float:
        """Seconds until the retry of a message held back by a throttling pause: the pause plus jitter of up to
        a tenth of it (at least 1 s, at most ``pause_jitter_seconds``), so the copies of one pause do not all
        arrive at its end; bounded like ``delay``."""
        jitter = rng.uniform(0.0, min(self.pause_jitter_seconds, max(1.0, pause / 10)))
        return self._bounded(pause + jitter, time_to_live)

    def delay(
        self, attempt: int, retry_after: float | None, rng: random.Random, *, time_to_live: float | None = None
    ) -> float:
        """Seconds until retry ``attempt`` (1-based): exponential with jitter, at least Retry-After, and at most
        ``max_seconds`` and the message's ``time_to_live``. A Retry-After that is negative or not finite is
        treated as absent."""
        backoff = exponential_delay(attempt, base=self.base_seconds, cap=self.max_seconds, rng=rng)
        wanted = max(backoff, retry_after) if retry_after is not None and _usable(retry_after) else backoff
        return self._bounded(wanted, time_to_live)

    def _bounded(self, wanted: float, time_to_live: float | None) -> float:
        ceiling = self.max_seconds
        if time_to_live is not None and math.isfinite(time_to_live) and time_to_live > 0:
            ceiling = min(ceiling, time_to_live)
        return max(0.0, min(wanted, ceiling))


def _usable(seconds: float) -> bool:
    return math.isfinite(seconds) and seconds >= 0


@dataclass(frozen=True, slots=True)
class Complete:
    pass


@dataclass(frozen=True, slots=True)
class DeadLetterMessage:
    reason: str
    description: str


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    delay_seconds: float
    attempt: int  # the attempt number the copy carries


@dataclass(frozen=True, slots=True)
class ScheduleCheck:
    """The enhanced attestation's next status check: a copy of the message after ``delay_seconds``."""

    delay_seconds: float
    check: int  # its number within the wait (``mca-check``)
    event_id: str  # readable part of the copy's message id
    identity: tuple[str | int, ...]  # decides the copy's message id


Settlement = Complete | DeadLetterMessage | ScheduleRetry | ScheduleCheck


def settlement_name(settlement: Settlement) -> str:
    """snake_case name used in logs and the worker's counts."""
    if isinstance(settlement, Complete):
        return "complete"
    if isinstance(settlement, DeadLetterMessage):
        return "dead_letter"
    if isinstance(settlement, ScheduleCheck):
        return "schedule_check"
    return "schedule_retry"


def decide(
    outcome: Outcome,
    attempt: int,
    policy: RedeliveryPolicy,
    rng: random.Random,
    *,
    time_to_live: float | None = None,
) -> Settlement:
    """The settlement for ``outcome`` of a message that already had ``attempt`` scheduled retries
    (``time_to_live``: the message's, in seconds, when known; a retry is never scheduled beyond it)."""
    if isinstance(outcome, Attested | AlreadyAttested | AlreadyAccepted | Validated):
        return Complete()
    if isinstance(outcome, DeadLetter):
        return DeadLetterMessage(outcome.reason.value, _short(outcome.description))
    if isinstance(outcome, AwaitingAcceptance):
        delay = outcome.check_in_seconds if _usable(outcome.check_in_seconds) else policy.base_seconds
        return ScheduleCheck(delay, outcome.check, outcome.event_id, outcome.check_identity)
    if isinstance(outcome, RetryLater):
        if attempt >= policy.budget:
            return DeadLetterMessage(
                outcome.exhausted_reason.value,
                _short(f"gave up after {attempt} scheduled retries; last error: {outcome.description}"),
            )
        next_attempt = attempt + 1
        if outcome.paused and outcome.retry_after is not None and _usable(outcome.retry_after):
            delay = policy.pause_delay(outcome.retry_after, rng, time_to_live=time_to_live)
        else:
            delay = policy.delay(next_attempt, outcome.retry_after, rng, time_to_live=time_to_live)
        return ScheduleRetry(delay, next_attempt)
    raise TypeError(f"unknown outcome {type(outcome).__name__}")  # pragma: no cover — the union is closed


class MessageSettler(Protocol):
    """One received message, settled through whatever the host offers."""

    async def complete(self) -> None: ...

    async def dead_letter(self, reason: str, description: str) -> None: ...

    async def schedule_copy(self, delay_seconds: float, attempt: int) -> None:
        """Enqueue a copy (same body and properties, ``mca-attempt`` = attempt) after the delay."""
        ...

    async def schedule_check(self, check: ScheduleCheck) -> None:
        """Enqueue the status-check copy (same body, ``mca-check`` set, ``mca-attempt`` reset) after its delay."""
        ...


async def settle(settlement: Settlement, settler: MessageSettler) -> None:
    """Carry out ``settlement``. For a retry: the copy is scheduled before the original is completed."""
    if isinstance(settlement, Complete):
        await settler.complete()
    elif isinstance(settlement, DeadLetterMessage):
        await settler.dead_letter(settlement.reason, settlement.description)
    elif isinstance(settlement, ScheduleCheck):
        await settler.schedule_check(settlement)
        await settler.complete()
    else:
        await settler.schedule_copy(settlement.delay_seconds, settlement.attempt)
        await settler.complete()


def _short(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION_CHARS else text[: MAX_DESCRIPTION_CHARS - 1] + "…"
