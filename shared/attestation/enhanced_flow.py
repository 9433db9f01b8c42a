"""The enhanced attestation (contract v2) as a state machine on the ledger: ``advance(event, delivery) -> Outcome``.

Every delivery of a v2 event (the CRM's message, a retry copy, a scheduled status check, a replay) reads the
event's ledger entry and carries the flow on from the step recorded there (``flow_state.FlowStep``), until it
must wait for the customer or ends:

- ``requested``: the pre-check (a customer who accepted in the admin center needs nothing), then create the
  attestation; its id is recorded (``attestation_created``) before anything else happens.
- ``attestation_created``: send the acceptance link to the CRM (``Notifier``; ``link_issued``).
- ``link_issued``: start the wait (``awaiting_acceptance``) and schedule the first status check.
- ``awaiting_acceptance``: at the scheduled time, read the status: pending → schedule the next check (growing
  interval) unless the deadline passed (``timed_out``); expired or rejected → end; accepted → ``accepted``.
  The check that is due (the delivery's ``check`` is the next one) runs even if it arrives before its time by
  this host's clock, and counts as run *at* its time: the next check is due an interval after it and the one due
  at the deadline times out, so a clock behind the broker's neither stalls the wait nor, near the deadline,
  sends a burst of checks each scheduled the remaining fraction of a second ahead.
- ``accepted``: create the agreement with the attestation id (``agreement_created``).

Idempotence: every write names the ETag it read, so of two deliveries racing on one event one wins each step
and the other re-reads and follows; every Partner Center write carries an ``MS-RequestId`` derived from the
event, the round and the body (a retry repeats it); every notification and scheduled check has an identity the
host turns into its message id (the queue keeps one). Notifications are sent *before* the step that follows
them is recorded: a crash in between sends the same notification again (de-duplicated), never none.

Ends: success (``attested``, ``already_attested``, ``already_accepted``) completes; the unhappy ends are dead
letters whose description names the attestation id, each notified to the CRM. A *replay* of such a dead letter
(a ``mca-replay-count`` the ledger has not seen), or a corrected event (another request body), starts again:
after an expiry or a rejection with a new attestation (round + 1, a new link); after a timeout by waiting
again; after any other failure from the step that failed. The tool never accepts for the customer: nothing
here can, and docs/enhanced-attestation.md says why.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from shared.attestation.contract.v2 import AcceptanceRequestedEvent
from shared.attestation.correlation import derive_correlation_id
from shared.attestation.flow_run import FlowRun, LostRace, notification_of
from shared.attestation.flow_state import Delivery, FlowTiming
from shared.attestation.ledger import (
    SUCCESSFUL_STATES,
    Ledger,
    LedgerError,
    LedgerState,
    utc_now_iso,
)
from shared.attestation.metadata import MetadataSource
from shared.attestation.notifications import NotificationError, NotificationKind, Notifier
from shared.attestation.outcomes import (
    Outcome,
    RetryLater,
)
from shared.attestation.ports import AcceptanceView, EnhancedAttestation

_MAX_RACES = 5
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class _Open:
    """What ``settled`` needs of an event whose last outcome was RetryLater."""

    customer_tenant_id: str
    correlation_id: str


class EnhancedFlow:
    """Carries contract v2 events through the enhanced attestation, one delivery at a time."""

    def __init__(
        self,
        api: EnhancedAttestation,
        ledger: Ledger,
        notifier: Notifier,
        metadata: MetadataSource,
        *,
        timing: FlowTiming | None = None,
        precheck: AcceptanceView | None = None,
        contact_key: bytes = b"",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.notifier = notifier
        self.metadata = metadata
        self.timing = timing or FlowTiming()
        self.precheck = precheck
        self.contact_key = contact_key
        self.clock = clock
        self._open: OrderedDict[str, _Open] = OrderedDict()

    async def advance(self, event: AcceptanceRequestedEvent, delivery: Delivery | None = None) -> Outcome:
        """Carry ``event`` on from where its ledger entry stands; always an outcome (failures are outcomes)."""
        delivery = delivery or Delivery()
        correlation_id = event.correlation_id or derive_correlation_id(event.event_id)
        outcome: Outcome | None = None
        try:
            for _ in range(_MAX_RACES):
                try:
                    outcome = await FlowRun(self, event, delivery, correlation_id).go()
                    break
                except LostRace:
                    continue
            else:
                outcome = RetryLater(
                    event.event_id, "", correlation_id, None, "other deliveries of this event kept updating its entry"
                )
        except LedgerError as error:
            outcome = RetryLater(event.event_id, "", correlation_id, None, f"ledger unavailable: {str(error)[:300]}")
        except NotificationError as error:
            description = f"notification not sent: {str(error)[:300]}"
            outcome = RetryLater(event.event_id, "", correlation_id, None, description)
        if isinstance(outcome, RetryLater):
            self._open[event.event_id] = _Open(event.customer_tenant_id, correlation_id)
            self._open.move_to_end(event.event_id)
            while len(self._open) > _MAX_REMEMBERED:
                self._open.popitem(last=False)
        return outcome

    def api_request_id(self, event: AcceptanceRequestedEvent, attempt_round: int) -> str:
        return self.api.attestation_request_id(event, attempt_round=attempt_round)

    def owns(self, event_id: str) -> bool:
        """Whether ``event_id``'s last outcome came from this flow and awaits ``settled``."""
        return event_id in self._open

    async def settled(self, outcome: RetryLater, *, dead_letter_reason: str, attempt: int, message_id: str) -> None:
        """Record what the host decides for a RetryLater of this flow: a retry (``retrying``) or, with
        ``dead_letter_reason``, the end (dead-lettered, and the CRM told). Raises ``NotificationError`` (the host
        then leaves the message unsettled, so it comes back) and ``LedgerError``."""
        opened = self._open.pop(outcome.event_id, None)
        if opened is None:
            return
        for _ in range(_MAX_RACES):
            stored = await self.ledger.get(opened.customer_tenant_id, outcome.event_id)
            if stored is None or stored.entry.state in SUCCESSFUL_STATES | {LedgerState.DEAD_LETTERED}:
                return
            entry = replace(stored.entry, attempt=attempt, message_id=message_id, detail=outcome.description)
            if dead_letter_reason:
                await self.notifier.notify(
                    notification_of(
                        self, entry, NotificationKind.DEAD_LETTERED, reason=dead_letter_reason, detail=entry.detail
                    )
                )
                entry = replace(entry, state=LedgerState.DEAD_LETTERED, reason=dead_letter_reason)
            elif entry.state is not LedgerState.AWAITING_ACCEPTANCE:
                entry = replace(entry, state=LedgerState.RETRYING)
            if await self.ledger.put(replace(entry, updated_at=utc_now_iso(self.clock)), if_match=stored.etag):
                return
        raise LedgerError(f"ledger entry {outcome.event_id}: other writers won {_MAX_RACES} times in a row")
