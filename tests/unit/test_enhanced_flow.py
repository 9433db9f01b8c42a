"""The enhanced attestation's state machine (``EnhancedFlow``) through the hosts' path, with fakes for Partner
Center, the ledger and the notifications queue. Each delivery is one ``process_with`` call, as a queue host
would make it; the fake Partner Center counts attestations, so a second one for an event shows."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.attestation import errors as pc
from shared.attestation.enhanced_flow import EnhancedFlow
from shared.attestation.flow_state import Delivery, FlowStep, FlowTiming
from shared.attestation.ledger import LedgerEntry, LedgerState
from shared.attestation.metadata import MCA
from shared.attestation.outcomes import (
    AlreadyAccepted,
    AlreadyAttested,
    Attested,
    AwaitingAcceptance,
    DeadLetter,
    DeadLetterReason,
    RetryLater,
)
from shared.attestation.ports import StatusKind
from shared.attestation.router import EventRouter
from shared.attestation.use_case import Attestor
from shared.partner_center.acceptance import PartnerCenterAcceptance
from shared.partner_center.client import CustomerAgreement
from shared.servicebus.processing import MessageNotSettled, Processed
from shared.servicebus.settlement import DeadLetterMessage, RedeliveryPolicy, ScheduleCheck
from tests.builders import (
    COMPANY,
    EMAIL,
    EVENT_ID,
    FIRST,
    LAST,
    PHONE,
    TEMPLATE,
    TENANT,
    FakeAcceptanceReads,
    FakeAttestation,
    FakeEnhancedAttestation,
    FakeLedger,
    FakeMetadata,
    MemoryNotifier,
    RecordingSettler,
    acceptance_requested_doc,
    as_body,
    event_doc,
    process_with,
    signatory,
)

TIMING = FlowTiming(first_check_seconds=60, max_check_seconds=600, deadline_seconds=3600)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Setup:
    def __init__(self, *, precheck: FakeAcceptanceReads | None = None) -> None:
        self.api = FakeEnhancedAttestation()
        self.ledger = FakeLedger()
        self.notifier = MemoryNotifier()
        self.clock = Clock()
        self.flow = EnhancedFlow(
            self.api,
            self.ledger,
            self.notifier,
            FakeMetadata(),
            timing=TIMING,
            precheck=PartnerCenterAcceptance(precheck, contact_key=b"k") if precheck else None,
            contact_key=b"k",
            clock=self.clock,
        )
        self.router = EventRouter(Attestor(FakeAttestation(), FakeMetadata()), self.flow)
        self.settler = RecordingSettler()

    async def deliver(
        self,
        doc: dict[str, object] | None = None,
        *,
        replay_count: int = 0,
        attempt: int = 0,
        budget: int = 8,
        check: int = 0,
    ) -> Processed:
        self.settler = RecordingSettler()
        return await process_with(
            self.router,
            as_body(doc or acceptance_requested_doc()),
            delivery=Delivery(attempt=attempt, message_id=f"m{attempt}", replay_count=replay_count, check=check),
            settler=self.settler,
            policy=RedeliveryPolicy(budget=budget),
        )

    def entry(self) -> LedgerEntry:
        return self.ledger.entry()


async def test_request_link_acceptance_agreement() -> None:
    """requested → attestation → link notified → awaiting (check scheduled) → accepted → agreement, once."""
    s = Setup()
    first = await s.deliver()
    assert isinstance(first.outcome, AwaitingAcceptance)
    assert first.outcome.check_in_seconds == 60
    assert isinstance(first.settlement, ScheduleCheck)
    assert [call for call, _ in s.settler.calls] == ["schedule_check", "complete"]
    assert s.api.created == 1
    assert s.notifier.kinds() == ["acceptance_link_issued"]
    assert s.notifier.sent[0].acceptance_link == s.api.link
    entry = s.entry()
    assert (entry.state, entry.flow_step, entry.attestation_id) == (
        LedgerState.AWAITING_ACCEPTANCE,
        FlowStep.AWAITING_ACCEPTANCE,
        "attestation-1",
    )

    s.api.status = StatusKind.ACCEPTED  # the customer accepts on Microsoft's page
    s.clock.advance(60)
    second = await s.deliver()
    assert isinstance(second.outcome, Attested)
    assert s.api.agreements == [(TENANT, "attestation-1", TEMPLATE)]
    assert s.notifier.kinds() == ["acceptance_link_issued", "agreement_created"]
    assert (s.entry().state, s.entry().flow_step) == (LedgerState.ATTESTED, FlowStep.AGREEMENT_CREATED)

    again = await s.deliver()  # a late duplicate of the CRM's message
    assert isinstance(again.outcome, AlreadyAttested)
    assert s.api.created == 1
    assert len(s.api.agreements) == 1
    assert s.notifier.attempts == 2


async def test_checks_grow_then_the_deadline_dead_letters_with_the_attestation_id() -> None:
    s = Setup()
    processed = await s.deliver()
    waits: list[float] = []
    identities = set()
    while isinstance(processed.outcome, AwaitingAcceptance):
        waits.append(processed.outcome.check_in_seconds)
        identities.add(processed.outcome.check_identity)
        s.clock.advance(processed.outcome.check_in_seconds)
        processed = await s.deliver()
    assert waits[:5] == [60, 120, 240, 480, 600]  # doubling, capped at the longest interval
    assert sum(waits) == 3600  # the last check falls on the deadline
    assert len(identities) == len(waits)  # every check its own message id
    outcome = processed.outcome
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.ACCEPTANCE_TIMED_OUT
    assert "attestation-1" in outcome.description
    assert "within 1 hour " in outcome.description
    assert isinstance(processed.settlement, DeadLetterMessage)
    assert s.notifier.kinds() == ["acceptance_link_issued", "timed_out"]
    assert (s.entry().state, s.entry().flow_step) == (LedgerState.DEAD_LETTERED, FlowStep.TIMED_OUT)


async def test_the_timeout_names_the_deadline_in_its_largest_whole_unit() -> None:
    """The timeout's description says the deadline as a person would (30 days, 1.5 days, 6 seconds), never as a
    fraction of a day (a short deadline read "6.94444e-05 days")."""
    descriptions = []
    for deadline in (2_592_000.0, 129_600.0, 90.0, 6.0):
        s = Setup()
        s.flow.timing = FlowTiming(first_check_seconds=1, max_check_seconds=deadline, deadline_seconds=deadline)
        processed = await s.deliver()
        while isinstance(processed.outcome, AwaitingAcceptance):
            s.clock.advance(processed.outcome.check_in_seconds)
            processed = await s.deliver()
        assert isinstance(processed.outcome, DeadLetter)
        descriptions.append(processed.outcome.description.split(" (")[0])
    assert descriptions == [
        "the customer did not accept within 30 days",
        "the customer did not accept within 1.5 days",
        "the customer did not accept within 1.5 minutes",
        "the customer did not accept within 6 seconds",
    ]


async def test_an_early_delivery_keeps_the_schedule_and_asks_nothing() -> None:
    s = Setup()
    first = await s.deliver()
    s.clock.advance(20)
    early = await s.deliver()
    assert isinstance(first.outcome, AwaitingAcceptance)
    assert isinstance(early.outcome, AwaitingAcceptance)
    assert early.outcome.check_identity == first.outcome.check_identity  # the queue keeps one of the two
    assert early.outcome.check_in_seconds == 40
    assert "status" not in s.api.calls


async def test_checks_that_arrive_early_count_as_run_at_their_time() -> None:
    """Each scheduled check arrives 0.8 s before its time by this host's clock (the broker's is ahead): each runs,
    the next is due an interval after the check's time (not after its early arrival), and the one due at the
    deadline times out — as many checks as on time, no burst of checks scheduled 0.8 s ahead near the deadline."""
    s = Setup()
    started = s.clock.now
    processed = await s.deliver()
    identities = []
    for _ in range(20):  # bounded: near the deadline, checks scheduled from the early arrival loop on
        if not isinstance(processed.outcome, AwaitingAcceptance):
            break
        identities.append(processed.outcome.check_identity)
        s.clock.advance(max(0.0, processed.outcome.check_in_seconds - 0.8))
        processed = await s.deliver(check=processed.outcome.check)
    assert len(set(identities)) == len(identities) == 9  # as many checks as on time: 60, 120, …, 600, 300 s
    assert s.api.calls.count("status") == len(identities)
    assert isinstance(processed.outcome, DeadLetter)
    assert processed.outcome.reason is DeadLetterReason.ACCEPTANCE_TIMED_OUT
    assert s.clock.now - started == timedelta(seconds=3600 - 0.8)


async def test_an_early_copy_of_a_check_already_run_keeps_the_schedule() -> None:
    """A check message that is not the one the entry waits for (a late duplicate of a check already run) arriving
    before the next check's time asks nothing and keeps the schedule."""
    s = Setup()
    await s.deliver()
    s.clock.advance(60)
    second = await s.deliver(check=1)  # check 1 runs: pending, check 2 is due in 120 s
    s.clock.advance(10)
    duplicate = await s.deliver(check=1)
    assert isinstance(second.outcome, AwaitingAcceptance)
    assert isinstance(duplicate.outcome, AwaitingAcceptance)
    assert duplicate.outcome.check_identity == second.outcome.check_identity
    assert duplicate.outcome.check_in_seconds == 110
    assert s.api.calls.count("status") == 1


async def test_an_expired_link_ends_and_a_replay_issues_a_new_attestation() -> None:
    s = Setup()
    await s.deliver()
    s.api.status = StatusKind.EXPIRED
    s.clock.advance(60)
    expired = await s.deliver()
    assert isinstance(expired.outcome, DeadLetter)
    assert expired.outcome.reason is DeadLetterReason.ACCEPTANCE_LINK_EXPIRED
    assert "attestation-1" in expired.outcome.description

    duplicate = await s.deliver()  # not a replay: the same end again, nothing created
    assert isinstance(duplicate.outcome, DeadLetter)
    assert s.api.created == 1

    s.api.status = StatusKind.PENDING
    replayed = await s.deliver(replay_count=1)
    assert isinstance(replayed.outcome, AwaitingAcceptance)
    assert s.api.created == 2  # a new attestation: a new link
    assert s.entry().attestation_round == 2
    assert s.entry().attestation_id == "attestation-2"
    assert s.notifier.kinds() == ["acceptance_link_issued", "link_expired", "acceptance_link_issued"]


async def test_a_rejection_ends_with_its_reason() -> None:
    s = Setup()
    await s.deliver()
    s.api.status = StatusKind.REJECTED
    s.clock.advance(60)
    processed = await s.deliver()
    assert isinstance(processed.outcome, DeadLetter)
    assert processed.outcome.reason is DeadLetterReason.ACCEPTANCE_REJECTED
    assert s.notifier.kinds()[-1] == "rejected"


async def test_a_replay_after_a_timeout_waits_again_for_the_same_attestation() -> None:
    s = Setup()
    processed = await s.deliver()
    while isinstance(processed.outcome, AwaitingAcceptance):
        s.clock.advance(processed.outcome.check_in_seconds)
        processed = await s.deliver()
    replayed = await s.deliver(replay_count=1)
    assert isinstance(replayed.outcome, AwaitingAcceptance)
    assert s.api.created == 1
    s.api.status = StatusKind.ACCEPTED
    s.clock.advance(replayed.outcome.check_in_seconds)
    assert isinstance((await s.deliver(replay_count=1)).outcome, Attested)


async def test_a_crash_after_the_attestation_resumes_without_a_second_one() -> None:
    """The notification fails after the attestation is recorded (as a crash would leave it): the next delivery
    reads the link again and goes on; Partner Center saw one attestation."""
    s = Setup()
    s.notifier.fail = True
    first = await s.deliver()
    assert isinstance(first.outcome, RetryLater)
    assert s.entry().flow_step == FlowStep.ATTESTATION_CREATED
    assert s.entry().state is LedgerState.RETRYING
    s.notifier.fail = False
    second = await s.deliver(attempt=1)
    assert isinstance(second.outcome, AwaitingAcceptance)
    assert s.api.created == 1
    assert s.api.calls == ["create", "status"]  # the link, read again
    assert s.notifier.kinds() == ["acceptance_link_issued"]


async def test_two_deliveries_at_once_make_one_attestation_and_one_check() -> None:
    s = Setup()
    body = as_body(acceptance_requested_doc())
    a, b = await asyncio.gather(
        process_with(s.router, body, delivery=Delivery(message_id="a")),
        process_with(s.router, body, delivery=Delivery(message_id="b")),
    )
    assert isinstance(a.outcome, AwaitingAcceptance)
    assert isinstance(b.outcome, AwaitingAcceptance)
    assert a.outcome.check_identity == b.outcome.check_identity
    assert s.api.created == 1
    assert s.notifier.kinds() == ["acceptance_link_issued"]


async def test_600061_on_create_is_already_attested_and_notified() -> None:
    s = Setup()
    s.api.errors["create"] = pc.AlreadyAttested("exists", status=409, code="600061")
    processed = await s.deliver()
    assert isinstance(processed.outcome, AlreadyAttested)
    assert s.notifier.kinds() == ["already_attested"]
    assert s.entry().state is LedgerState.ALREADY_ATTESTED


async def test_403_on_create_names_the_indirect_reseller_case() -> None:
    s = Setup()
    s.api.errors["create"] = pc.NoRelationship(f"denied for {EMAIL}", status=403, code="20002")
    processed = await s.deliver()
    assert isinstance(processed.outcome, DeadLetter)
    assert processed.outcome.reason is DeadLetterReason.ATTESTATION_NOT_PERMITTED
    assert "Indirect resellers cannot attest" in processed.outcome.description
    assert EMAIL not in processed.outcome.description
    assert s.notifier.sent[-1].reason == "AttestationNotPermitted"


async def test_status_errors_retry_and_exhaustion_ends_notified() -> None:
    s = Setup()
    await s.deliver()
    s.clock.advance(60)
    s.api.errors["status"] = pc.ServerError("busy", status=503)
    retried = await s.deliver()
    assert isinstance(retried.outcome, RetryLater)
    assert s.entry().state is LedgerState.AWAITING_ACCEPTANCE  # still waiting, not failing
    s.api.errors["status"] = pc.ServerError("busy", status=503)
    exhausted = await s.deliver(attempt=3, budget=3)
    assert isinstance(exhausted.settlement, DeadLetterMessage)
    assert exhausted.settlement.reason == "RetriesExhausted"
    assert s.entry().state is LedgerState.DEAD_LETTERED
    assert s.entry().reason == "RetriesExhausted"
    assert s.notifier.sent[-1].kind.value == "dead_lettered"


async def test_a_customer_who_accepted_in_the_admin_center_needs_nothing() -> None:
    reads = FakeAcceptanceReads()
    reads.direct_signed.add(TENANT)
    s = Setup(precheck=reads)
    processed = await s.deliver()
    assert isinstance(processed.outcome, AlreadyAccepted)
    assert processed.outcome.via == "direct_signed"
    assert s.api.created == 0
    assert s.notifier.kinds() == ["already_accepted"]


async def test_a_corrected_event_after_a_refusal_starts_again() -> None:
    s = Setup()
    s.api.errors["create"] = pc.InvalidRequest("bad signatory", status=400, code="1001")
    refused = await s.deliver()
    assert isinstance(refused.outcome, DeadLetter)
    fixed = acceptance_requested_doc(signatory=signatory(email="fixed@contoso.example.com"))
    processed = await s.deliver(fixed)
    assert isinstance(processed.outcome, AwaitingAcceptance)
    assert s.api.created == 1


async def test_an_event_id_used_by_a_v1_event_is_refused() -> None:
    s = Setup()
    await s.ledger.put(LedgerEntry(TENANT, EVENT_ID, LedgerState.ATTESTED), if_match=None)
    processed = await s.deliver()
    assert isinstance(processed.outcome, DeadLetter)
    assert processed.outcome.reason is DeadLetterReason.INVALID_EVENT
    assert s.api.created == 0


async def test_the_router_sends_each_contract_to_its_flow() -> None:
    s = Setup()
    v1 = await process_with(s.router, as_body(event_doc()))
    assert isinstance(v1.outcome, Attested)
    assert s.api.created == 0
    legacy_only = EventRouter(Attestor(FakeAttestation(), FakeMetadata()), None)
    refused = await process_with(legacy_only, as_body(acceptance_requested_doc()))
    assert isinstance(refused.outcome, DeadLetter)
    assert refused.outcome.reason is DeadLetterReason.FLOW_NOT_ENABLED
    bad = await process_with(s.router, as_body(acceptance_requested_doc(country="XX", contractVersion=2)))
    assert isinstance(bad.outcome, DeadLetter)
    assert "country" in bad.outcome.description
    unknown = await process_with(s.router, as_body(acceptance_requested_doc(contractVersion=3)))
    assert isinstance(unknown.outcome, DeadLetter)
    assert "contractVersion" in unknown.outcome.description


async def test_no_personal_data_in_the_ledger_or_notifications_and_no_link_in_the_ledger() -> None:
    s = Setup()
    await s.deliver()
    s.api.status = StatusKind.ACCEPTED
    s.clock.advance(60)
    await s.deliver()
    stored = json.dumps([dataclasses.asdict(w) for w in s.ledger.writes], default=str)
    sent = json.dumps([n.document() for n in s.notifier.sent])
    for value in (FIRST, LAST, EMAIL, PHONE, COMPANY):
        assert value not in stored
        assert value not in sent
    assert s.api.link not in stored
    assert s.api.link in sent  # only the link notification carries it


async def test_an_end_the_crm_cannot_hear_of_leaves_the_message_unsettled() -> None:
    """Retries exhausted while the notifications queue is down: no dead letter yet (the CRM would never hear);
    the message is left, so its redelivery tells the end."""
    s = Setup()
    await s.deliver()
    s.clock.advance(60)
    s.api.errors["status"] = pc.ServerError("busy", status=503)
    s.notifier.fail = True
    with pytest.raises(MessageNotSettled):
        await s.deliver(attempt=3, budget=3)
    assert s.settler.calls == []
    assert s.entry().state is LedgerState.AWAITING_ACCEPTANCE


async def test_the_scheduled_check_runs_when_it_arrives_even_if_this_clock_says_early() -> None:
    """The broker delivered check 1 by its clock; ours lags by 5 s. Keeping the schedule would re-schedule check 1
    under the id the queue has just seen (dropped as a duplicate): the wait would stall. So the due check runs."""
    s = Setup()
    await s.deliver()
    s.clock.advance(55)
    s.api.status = StatusKind.ACCEPTED
    s.settler = RecordingSettler()
    processed = await process_with(
        s.router, as_body(acceptance_requested_doc()), delivery=Delivery(check=1), settler=s.settler
    )
    assert isinstance(processed.outcome, Attested)
    early_duplicate = Setup()
    await early_duplicate.deliver()
    early_duplicate.clock.advance(55)
    kept = await process_with(early_duplicate.router, as_body(acceptance_requested_doc()), delivery=Delivery(check=0))
    assert isinstance(kept.outcome, AwaitingAcceptance)
    assert "status" not in early_duplicate.api.calls


async def test_the_agreement_is_dated_when_partner_center_says_the_customer_accepted() -> None:
    """dateAgreed: Partner Center's acceptance time when its answer has one (not the check that noticed it, up to
    hours later); the check's own time when it has none, or one ahead of this host's clock."""
    dates = []
    for said in ("2026-12-02T09:00:30Z", "", "2026-12-03T00:00:00Z"):
        s = Setup()
        await s.deliver()
        s.api.status, s.api.accepted_at = StatusKind.ACCEPTED, said
        s.clock.advance(60)
        assert isinstance((await s.deliver()).outcome, Attested)
        dates.append(s.entry().date_agreed)
    assert dates == ["2026-12-02T09:00:30.000Z", "2026-12-02T09:01:00.000Z", "2026-12-02T09:01:00.000Z"]


async def test_an_acceptance_before_april_2023_does_not_spare_the_enhanced_attestation() -> None:
    """The same signatory's agreement from 2022 is no acceptance for the enhanced attestation; one from 2026 is."""
    old, recent = FakeAcceptanceReads(), FakeAcceptanceReads()
    old.agreements[TENANT] = [
        CustomerAgreement(TEMPLATE, MCA, datetime(2022, 6, 1, tzinfo=UTC), (FIRST, LAST, EMAIL, PHONE))
    ]
    recent.attested()
    needs_it, spared = Setup(precheck=old), Setup(precheck=recent)
    assert isinstance((await needs_it.deliver()).outcome, AwaitingAcceptance)
    assert needs_it.api.created == 1
    outcome = (await spared.deliver()).outcome
    assert isinstance(outcome, AlreadyAccepted)
    assert outcome.via == "existing_attestation"
    assert spared.api.created == 0
