"""One delivery's pass over one contract v2 event: read its ledger entry, then step until the flow waits or ends.

``FlowRun`` does the work of ``EnhancedFlow`` (``enhanced_flow.py``: the steps, their order and why they are safe
to repeat). Each step method makes at most one Partner Center call (or one notification) and writes the entry
before the next; a write that another delivery got to first raises ``LostRace``, and ``EnhancedFlow`` starts a
new pass from a fresh read. Ends are recorded and told to the CRM here; what only the host decides (a retry,
retries exhausted) is ``EnhancedFlow.settled``'s.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.attestation import errors as pc
from shared.attestation.contract import ALLOWED_CLOCK_SKEW, PrimaryContact
from shared.attestation.contract.v2 import AcceptanceRequestedEvent
from shared.attestation.flow_state import ROUND_ENDING_STEPS, Delivery, FlowStep
from shared.attestation.ledger import (
    SUCCESSFUL_STATES,
    LedgerEntry,
    LedgerState,
    StoredEntry,
    contact_fingerprint,
    utc_now_iso,
)
from shared.attestation.metadata import MCA, NoTemplateError
from shared.attestation.notifications import FlowNotification, NotificationKind
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
from shared.attestation.ports import StatusKind
from shared.attestation.redaction import personal_data_of, redact_personal_data

if TYPE_CHECKING:
    from shared.attestation.enhanced_flow import EnhancedFlow

log = logging.getLogger(__name__)

CONTRACT_V2 = "v2"
# An acceptance recorded before this date does not spare a customer the enhanced attestation (partner vendors'
# documentation of Microsoft's rule: customers who accepted before 2023-04-01 must accept again).
MCA_ACCEPTANCE_STILL_VALID_SINCE = datetime(2023, 4, 1, tzinfo=UTC)


class LostRace(Exception):
    """Another delivery wrote the entry since it was read: read again and decide again."""


class FlowRun:
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
            raise LostRace
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
            notification_of(
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
        return redact_personal_data(text, personal_data_of(self.event))


def notification_of(
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
