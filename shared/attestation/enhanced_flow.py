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

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from shared.attestation import errors as pc
from shared.attestation.contract import ALLOWED_CLOCK_SKEW, PrimaryContact
from shared.attestation.contract.v2 import AcceptanceRequestedEvent
from shared.attestation.correlation import derive_correlation_id
from shared.attestation.flow_state import ROUND_ENDING_STEPS, Delivery, FlowStep, FlowTiming
from shared.attestation.ledger import (
    SUCCESSFUL_STATES,
    Ledger,
    LedgerEntry,
    LedgerError,
    LedgerState,
    StoredEntry,
    contact_fingerprint,
    utc_now_iso,
)
from shared.attestation.metadata import MCA, MetadataSource, NoTemplateError
from shared.attestation.notifications import FlowNotification, NotificationError, NotificationKind, Notifier
from shared.attestation.outcomes import (
    AlreadyAccepted,
    AlreadyAttested,
    Attested,
    AwaitingAcceptance,
    DeadLetter,
    DeadLetterReason,
    Outcome,
    RetryLater,
    outcome_for_error,
)
from shared.attestation.ports import AcceptanceView, EnhancedAttestation, StatusKind
from shared.attestation.redaction import redact_personal_data

log = logging.getLogger(__name__)

CONTRACT_V2 = "v2"
# An acceptance recorded before this date does not spare a customer the enhanced attestation (partner vendors'
# documentation of Microsoft's rule: customers who accepted before 2023-04-01 must accept again).
MCA_ACCEPTANCE_STILL_VALID_SINCE = datetime(2023, 4, 1, tzinfo=UTC)
_MAX_RACES = 5
_MAX_REMEMBERED = 10_000


class _LostRace(Exception):
    """Another delivery wrote the entry since it was read: read again and decide again."""


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
                    outcome = await _Run(self, event, delivery, correlation_id).go()
                    break
                except _LostRace:
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
                    _notification(
                        self, entry, NotificationKind.DEAD_LETTERED, reason=dead_letter_reason, detail=entry.detail
                    )
                )
                entry = replace(entry, state=LedgerState.DEAD_LETTERED, reason=dead_letter_reason)
            elif entry.state is not LedgerState.AWAITING_ACCEPTANCE:
                entry = replace(entry, state=LedgerState.RETRYING)
            if await self.ledger.put(replace(entry, updated_at=utc_now_iso(self.clock)), if_match=stored.etag):
                return
        raise LedgerError(f"ledger entry {outcome.event_id}: other writers won {_MAX_RACES} times in a row")


class _Run:
    """One delivery's pass over one event: read the entry, then step until the flow waits or ends."""

    def __init__(
        self, flow: EnhancedFlow, event: AcceptanceRequestedEvent, delivery: Delivery, correlation_id: str
    ) -> None:
        self.flow = flow
        self.event = event
        self.delivery = delivery
        self.correlation_id = correlation_id
        self.stored: StoredEntry | None = None
        self.link = ""  # the acceptance link as the create answer gave it (never stored)

    @property
    def entry(self) -> LedgerEntry:
        assert self.stored is not None
        return self.stored.entry

    async def go(self) -> Outcome:
        event = self.event
        self.stored = await self.flow.ledger.get(event.customer_tenant_id, event.event_id)
        if self.stored is None:
            await self.write(self.first_entry())
        if self.entry.contract != CONTRACT_V2:
            return self.dead_letter_only(
                DeadLetterReason.INVALID_EVENT,
                "invalid event: eventId: already used by a contract v1 event of this customer; "
                "give this request its own eventId",
            )
        if self.entry.state in SUCCESSFUL_STATES:
            return self.success_again()
        if self.entry.state is LedgerState.DEAD_LETTERED:
            if not self.starts_again():
                return self.ended_again()
            await self.restart()
        while True:
            step = FlowStep(self.entry.flow_step)
            if step is FlowStep.REQUESTED:
                outcome = await self.create_attestation()
            elif step is FlowStep.ATTESTATION_CREATED:
                outcome = await self.issue_link()
            elif step is FlowStep.LINK_ISSUED:
                outcome = await self.start_waiting()
            elif step is FlowStep.AWAITING_ACCEPTANCE:
                outcome = await self.check_status()
            elif step is FlowStep.ACCEPTED:
                outcome = await self.create_agreement()
            else:  # a terminal step under a state that is not: written by hand; nothing to do but say so
                return self.ended_again()
            if outcome is not None:
                return outcome

    # --- the steps -------------------------------------------------------------------------------------------

    async def create_attestation(self) -> Outcome | None:
        api, entry = self.flow.api, self.entry
        if self.flow.precheck is not None:
            try:
                acceptance = await self.flow.precheck.acceptance(self.event.customer_tenant_id, MCA)
            except pc.PartnerCenterError as error:
                return await self.failed(error)
            fingerprint = self.flow.precheck.fingerprint(_contact_of(self.event))
            via = acceptance.accepted_via(fingerprint, agreed_since=MCA_ACCEPTANCE_STILL_VALID_SINCE)
            if via:
                await self.notify(NotificationKind.ALREADY_ACCEPTED, detail=f"accepted via {via}")
                await self.write(
                    replace(entry, state=LedgerState.ALREADY_ACCEPTED, flow_step=FlowStep.ALREADY_ACCEPTED, reason=via)
                )
                return AlreadyAccepted(self.event.event_id, "", self.correlation_id, via)
        try:
            state = await api.create_attestation(
                self.event, attempt_round=entry.attestation_round, correlation_id=self.correlation_id
            )
        except pc.AlreadyAttested as error:
            return await self.already_attested(error.ids.request_id)
        except pc.NoRelationship as error:
            reason = DeadLetterReason.ATTESTATION_NOT_PERMITTED
            description = (
                f"Partner Center refused to create the attestation: {error.summary(self.redact)}. Indirect "
                "resellers cannot attest; the customer's indirect provider (or a direct-bill partner) must, or "
                "this app lacks the relationship or role for the customer"
            )
            return await self.end(None, NotificationKind.DEAD_LETTERED, reason, description, error.ids.request_id)
        except pc.PartnerCenterError as error:
            return await self.failed(error)
        self.link = state.acceptance_link
        await self.write(
            replace(
                entry,
                flow_step=FlowStep.ATTESTATION_CREATED,
                attestation_id=state.attestation_id,
                link_expires_at=state.link_expires_at,
                request_id=state.ids.request_id or entry.request_id,
                ms_cv=state.ids.ms_cv,
            )
        )
        return None

    async def issue_link(self) -> Outcome | None:
        entry = self.entry
        link, expires = self.link, entry.link_expires_at
        if not link:  # resumed after a crash: the link was never stored, so ask again
            try:
                state = await self.flow.api.get_status(entry.attestation_id, correlation_id=self.correlation_id)
            except pc.PartnerCenterError as error:
                return await self.failed(error)
            link, expires = state.acceptance_link, state.link_expires_at or expires
        if not link:
            description = (
                f"Partner Center's answers for attestation {entry.attestation_id} carry no acceptance link: correct "
                "responseLinkField in the enhanced-API configuration (docs/enhanced-attestation.md), then replay"
            )
            return await self.end(None, NotificationKind.DEAD_LETTERED, DeadLetterReason.REJECTED, description)
        await self.notify(NotificationKind.LINK_ISSUED, link=link, link_expires_at=expires)
        await self.write(replace(entry, flow_step=FlowStep.LINK_ISSUED, link_expires_at=expires))
        return None

    async def start_waiting(self) -> Outcome:
        now = self.flow.clock()
        first = self.flow.timing.interval(0)
        await self.write(
            replace(
                self.entry,
                state=LedgerState.AWAITING_ACCEPTANCE,
                flow_step=FlowStep.AWAITING_ACCEPTANCE,
                awaiting_since=_iso(now),
                next_check_at=_iso(now + timedelta(seconds=first)),
                checks=0,
            )
        )
        return self.awaiting(first)

    async def check_status(self) -> Outcome | None:
        entry, timing = self.entry, self.flow.timing
        now = self.flow.clock()
        due = _parse(entry.next_check_at) or now
        is_the_due_check = self.delivery.check == entry.checks + 1
        if now < due and not (self.delivery.check_now or is_the_due_check):
            return self.awaiting((due - now).total_seconds())  # early (a duplicate, a retry): keep the schedule
        moment = max(now, due) if is_the_due_check else now  # counted as run at its time: see below
        try:
            state = await self.flow.api.get_status(entry.attestation_id, correlation_id=self.correlation_id)
        except pc.PartnerCenterError as error:
            return await self.failed(error)
        if state.status is StatusKind.ACCEPTED:
            accepted = _parse(state.accepted_at)
            if accepted is None or accepted > now:  # Partner Center's date, unless absent or ahead of ours
                accepted = now
            await self.write(
                replace(entry, flow_step=FlowStep.ACCEPTED, state=LedgerState.IN_PROGRESS, date_agreed=_iso(accepted))
            )
            return None
        if state.status is StatusKind.EXPIRED:
            description = f"the acceptance link of attestation {entry.attestation_id} expired before the customer accepted; replay to issue a new one"
            return await self.end(
                FlowStep.LINK_EXPIRED,
                NotificationKind.LINK_EXPIRED,
                DeadLetterReason.ACCEPTANCE_LINK_EXPIRED,
                description,
            )
        if state.status is StatusKind.REJECTED:
            description = (
                f"the customer declined the agreement (attestation {entry.attestation_id}); replay to ask again"
            )
            return await self.end(
                FlowStep.REJECTED, NotificationKind.REJECTED, DeadLetterReason.ACCEPTANCE_REJECTED, description
            )
        if state.status is StatusKind.UNKNOWN:
            log.warning(
                "attestation status not in the configured lists; waiting on",
                extra={
                    "event": "enhanced.unknown_status",
                    "event_id": entry.event_id,
                    "raw_status": state.raw_status[:64],
                },
            )
        checks = entry.checks + 1
        deadline = (_parse(entry.awaiting_since) or now) + timedelta(seconds=timing.deadline_seconds)
        if moment >= deadline:
            within = _duration(timing.deadline_seconds)
            description = (
                f"the customer did not accept within {within} (attestation {entry.attestation_id}, "
                f"{checks} status checks); replay to wait again"
            )
            return await self.end(
                FlowStep.TIMED_OUT, NotificationKind.TIMED_OUT, DeadLetterReason.ACCEPTANCE_TIMED_OUT, description
            )
        next_check = moment + timedelta(seconds=min(timing.interval(checks), (deadline - moment).total_seconds()))
        await self.write(
            replace(entry, state=LedgerState.AWAITING_ACCEPTANCE, checks=checks, next_check_at=_iso(next_check))
        )
        return self.awaiting((next_check - now).total_seconds())

    async def create_agreement(self) -> Outcome:
        entry = self.entry
        try:
            metadata = await self.flow.metadata.get(MCA)
        except pc.PartnerCenterError as error:
            return await self.failed(error)
        except NoTemplateError as error:
            return RetryLater(self.event.event_id, "", self.correlation_id, None, str(error))
        template_id = metadata.current.template_id
        try:
            receipt = await self.flow.api.create_agreement(
                self.event,
                entry.attestation_id,
                template_id=template_id,
                date_agreed=_parse(entry.date_agreed) or self.flow.clock(),
                attempt_round=entry.attestation_round,
                correlation_id=self.correlation_id,
            )
        except pc.AlreadyAttested as error:
            return await self.already_attested(error.ids.request_id)
        except pc.FutureDate as error:  # our clock ahead of Partner Center's: the date is ours, so wait
            wait = ALLOWED_CLOCK_SKEW.total_seconds()
            description = error.summary(self.redact)
            return RetryLater(
                self.event.event_id,
                error.ids.request_id,
                self.correlation_id,
                wait,
                description,
                DeadLetterReason.FUTURE_DATE,
            )
        except pc.PartnerCenterError as error:
            return await self.failed(error)
        await self.notify(NotificationKind.AGREEMENT_CREATED)
        await self.write(
            replace(
                entry,
                state=LedgerState.ATTESTED,
                flow_step=FlowStep.AGREEMENT_CREATED,
                template_id=template_id,
                user_id=receipt.user_id,
                ms_cv=receipt.ms_cv,
            )
        )
        return Attested(self.event.event_id, entry.request_id, self.correlation_id, receipt.user_id, receipt.ms_cv)

    # --- ends, restarts, repeats ---------------------------------------------------------------------------------

    async def already_attested(self, request_id: str) -> Outcome:
        await self.notify(NotificationKind.ALREADY_ATTESTED)
        await self.write(replace(self.entry, state=LedgerState.ALREADY_ATTESTED, flow_step=FlowStep.AGREEMENT_CREATED))
        return AlreadyAttested(self.event.event_id, request_id or self.entry.request_id, self.correlation_id)

    async def failed(self, error: pc.PartnerCenterError) -> Outcome:
        """A Partner Center error at any step: a retry (the host records it) or the end (recorded here)."""
        outcome = outcome_for_error(
            error, self.event.event_id, error.ids.request_id, self.correlation_id, redact=self.redact
        )
        if isinstance(outcome, DeadLetter):
            return await self.end(
                None, NotificationKind.DEAD_LETTERED, outcome.reason, outcome.description, outcome.request_id
            )
        return outcome

    async def end(
        self,
        step: FlowStep | None,
        kind: NotificationKind,
        reason: DeadLetterReason,
        description: str,
        request_id: str = "",
    ) -> DeadLetter:
        """An unhappy end: the CRM told, then the entry dead-lettered (at ``step``, or where it failed)."""
        await self.notify(kind, reason=reason.value, detail=description)
        entry = replace(self.entry, state=LedgerState.DEAD_LETTERED, reason=reason.value, detail=description)
        await self.write(replace(entry, flow_step=step) if step else entry)
        return DeadLetter(self.event.event_id, request_id or entry.request_id, self.correlation_id, reason, description)

    def starts_again(self) -> bool:
        """A dead-lettered request starts again for a replay the ledger has not seen, or a corrected event."""
        entry = self.entry
        if self.delivery.replay_count > entry.replay_count:
            return True
        expected = self.flow.api_request_id(self.event, entry.attestation_round)
        return bool(entry.request_id) and expected != entry.request_id and entry.flow_step == FlowStep.REQUESTED

    async def restart(self) -> None:
        entry = replace(
            self.entry,
            state=LedgerState.IN_PROGRESS,
            reason="",
            detail="",
            replay_count=max(self.delivery.replay_count, self.entry.replay_count),
        )
        step = FlowStep(entry.flow_step)
        if step is FlowStep.TIMED_OUT:  # wait again, for the same attestation, from now
            entry = replace(
                entry,
                flow_step=FlowStep.AWAITING_ACCEPTANCE,
                state=LedgerState.AWAITING_ACCEPTANCE,
                awaiting_since=_iso(self.flow.clock()),
                next_check_at="",
                checks=0,
            )
        elif step in ROUND_ENDING_STEPS:  # a new attestation, so a new link
            entry = replace(
                entry,
                flow_step=FlowStep.REQUESTED,
                attestation_round=entry.attestation_round + 1,
                attestation_id="",
                link_expires_at="",
                awaiting_since="",
                next_check_at="",
                checks=0,
            )
        log.info(
            "enhanced attestation starts again",
            extra={
                "event": "enhanced.restart",
                "event_id": entry.event_id,
                "flow_step": entry.flow_step,
                "attestation_round": entry.attestation_round,
            },
        )
        await self.write(entry)

    def success_again(self) -> Outcome:
        entry = self.entry
        if entry.state is LedgerState.ALREADY_ACCEPTED:
            return AlreadyAccepted(entry.event_id, entry.request_id, self.correlation_id, entry.reason)
        return AlreadyAttested(entry.event_id, entry.request_id, self.correlation_id)

    def ended_again(self) -> DeadLetter:
        """Another delivery of a request that already ended unhappily (not a replay): the same reason again."""
        entry = self.entry
        try:
            reason = DeadLetterReason(entry.reason)
        except ValueError:
            reason = DeadLetterReason.REJECTED
        return self.dead_letter_only(reason, f"this request already ended ({entry.flow_step}): {entry.detail}")

    def dead_letter_only(self, reason: DeadLetterReason, description: str) -> DeadLetter:
        return DeadLetter(self.event.event_id, "", self.correlation_id, reason, description[:1000])

    # --- helpers -------------------------------------------------------------------------------------------------

    def first_entry(self) -> LedgerEntry:
        event = self.event
        return LedgerEntry(
            event.customer_tenant_id,
            event.event_id,
            LedgerState.IN_PROGRESS,
            agreement_type=MCA,
            contact_fingerprint=contact_fingerprint(self.flow.contact_key, _contact_of(event)),
            correlation_id=self.correlation_id,
            request_id=self.flow.api_request_id(event, 1),
            contract=CONTRACT_V2,
            flow_step=FlowStep.REQUESTED,
            attestation_round=1,
            replay_count=self.delivery.replay_count,
        )

    async def write(self, entry: LedgerEntry) -> None:
        now = utc_now_iso(self.flow.clock)
        entry = replace(
            entry,
            created_at=entry.created_at or now,
            updated_at=now,
            attempt=self.delivery.attempt + 1,
            message_id=self.delivery.message_id or entry.message_id,
        )
        if entry.flow_step == FlowStep.REQUESTED and entry.attestation_round:
            entry = replace(entry, request_id=self.flow.api_request_id(self.event, entry.attestation_round))
        etag = await self.flow.ledger.put(entry, if_match=self.stored.etag if self.stored else None)
        if etag is None:
            raise _LostRace
        if self.stored is None or self.stored.entry.flow_step != entry.flow_step:
            log.info(
                "enhanced attestation step",
                extra={
                    "event": "enhanced.step",
                    "event_id": entry.event_id,
                    "flow_step": entry.flow_step,
                    "attestation_id": entry.attestation_id,
                },
            )
        self.stored = StoredEntry(entry, etag)

    async def notify(
        self, kind: NotificationKind, *, link: str = "", link_expires_at: str = "", reason: str = "", detail: str = ""
    ) -> None:
        await self.flow.notifier.notify(
            _notification(
                self.flow, self.entry, kind, link=link, link_expires_at=link_expires_at, reason=reason, detail=detail
            )
        )

    def awaiting(self, wait_seconds: float) -> AwaitingAcceptance:
        entry = self.entry
        check = entry.checks + 1
        identity = (
            entry.customer_tenant_id,
            entry.event_id,
            entry.attestation_round,
            entry.replay_count,
            "check",
            check,
        )
        return AwaitingAcceptance(
            entry.event_id,
            entry.request_id,
            self.correlation_id,
            entry.attestation_id,
            max(0.0, wait_seconds),
            check,
            identity,
        )

    def redact(self, text: str) -> str:
        signatory = self.event.signatory
        return redact_personal_data(
            text,
            {
                "firstName": signatory.first_name,
                "lastName": signatory.last_name,
                "email": str(signatory.email),
                "phoneNumber": signatory.phone_number,
                "companyName": self.event.company_name,
            },
        )


def _notification(
    flow: EnhancedFlow,
    entry: LedgerEntry,
    kind: NotificationKind,
    *,
    link: str = "",
    link_expires_at: str = "",
    reason: str = "",
    detail: str = "",
) -> FlowNotification:
    return FlowNotification(
        kind=kind,
        event_id=entry.event_id,
        customer_tenant_id=entry.customer_tenant_id,
        correlation_id=entry.correlation_id,
        occurred_at=utc_now_iso(flow.clock),
        attestation_id=entry.attestation_id,
        attempt_round=entry.attestation_round,
        replay_count=entry.replay_count,
        acceptance_link=link,
        link_expires_at=link_expires_at or entry.link_expires_at,
        reason=reason,
        detail=detail,
    )


def _contact_of(event: AcceptanceRequestedEvent) -> PrimaryContact:
    signatory = event.signatory
    return PrimaryContact(
        first_name=signatory.first_name,
        last_name=signatory.last_name,
        email=signatory.email,
        phone_number=signatory.phone_number,
    )


_UNITS = (("day", 86_400.0), ("hour", 3_600.0), ("minute", 60.0))


def _duration(seconds: float) -> str:
    """``30 days``, ``1.5 days``, ``12 hours``, ``6 seconds``: the largest unit the duration fills at least once."""
    for name, size in _UNITS:
        if seconds >= size:
            return _count(round(seconds / size, 2), name)
    return _count(round(seconds, 2), "second")


def _count(value: float, unit: str) -> str:
    return f"{value:g} {unit}" if value == 1 else f"{value:g} {unit}s"


def _iso(moment: datetime) -> str:
    return utc_now_iso(lambda: moment)


def _parse(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
