"""Hosts record to the ledger, and a redelivered event that is already done is not posted again."""

from __future__ import annotations

import dataclasses

from shared.attestation import errors as pc
from shared.attestation.flow_state import Delivery
from shared.attestation.ledger import AttestationJournal, LedgerState
from shared.attestation.outcomes import AlreadyAttested, Attested, DeadLetterReason
from shared.attestation.use_case import Attestor
from shared.cli.bulk import ResultStatus, attest_all, validate_records
from shared.cli.event_files import RawRecord
from shared.servicebus.processing import Processed
from shared.servicebus.settlement import Complete, DeadLetterMessage, RedeliveryPolicy, ScheduleRetry
from tests.builders import (
    EMAIL,
    FIRST,
    LAST,
    OLDER_TEMPLATE,
    PHONE,
    TENANT,
    FakeAttestation,
    FakeLedger,
    FakeMetadata,
    RecordingSleep,
    as_body,
    event_doc,
    process_with,
)


def attestor_with(ledger: FakeLedger, attestation: FakeAttestation) -> Attestor:
    return Attestor(attestation, FakeMetadata(), journal=AttestationJournal(ledger, contact_key=b"test-key"))


async def deliver(attestor: Attestor, body: bytes, *, attempt: int = 0, budget: int = 8) -> Processed:
    return await process_with(
        attestor,
        body,
        delivery=Delivery(attempt=attempt, message_id=f"msg-{attempt}"),
        policy=RedeliveryPolicy(budget=budget),
    )


async def test_second_delivery_of_an_attested_event_makes_no_post() -> None:
    """Delivered twice (even to another process's attestor), the event is posted once; the second completes."""
    ledger, attestation = FakeLedger(), FakeAttestation()
    first = await deliver(attestor_with(ledger, attestation), as_body(event_doc()))
    posts_after_first = len(attestation.requests)
    second = await deliver(attestor_with(ledger, attestation), as_body(event_doc()))
    assert isinstance(first.outcome, Attested)
    assert posts_after_first == 1
    assert len(attestation.requests) - posts_after_first == 0
    assert isinstance(second.outcome, AlreadyAttested)
    assert second.outcome.request_id == first.outcome.request_id
    assert isinstance(second.settlement, Complete)
    assert ledger.entry().state is LedgerState.ATTESTED


async def test_the_ledger_entry_holds_the_facts_and_ids() -> None:
    """After an attestation the entry has the template, date, ids, user id, attempt and message id."""
    ledger = FakeLedger()
    processed = await deliver(attestor_with(ledger, FakeAttestation(user_id="user-9")), as_body(event_doc()))
    entry = ledger.entry()
    assert isinstance(processed.outcome, Attested)
    assert (entry.state, entry.user_id, entry.attempt, entry.message_id) == (LedgerState.ATTESTED, "user-9", 1, "msg-0")
    assert (entry.request_id, entry.correlation_id) == (processed.outcome.request_id, processed.outcome.correlation_id)
    assert entry.template_id
    assert entry.date_agreed == "2026-11-20T09:30:00.000Z"
    assert len(entry.contact_fingerprint) == 64
    assert [w.state for w in ledger.writes] == [LedgerState.IN_PROGRESS, LedgerState.ATTESTED]


async def test_no_personal_data_reaches_the_ledger() -> None:
    """No written entry carries the contact's names, email or phone, even in an error's description."""
    ledger = FakeLedger()
    error = pc.PermanentError(f"400: invalid contact {FIRST} {LAST} {EMAIL} {PHONE}", status=400, code="3000")
    await deliver(attestor_with(ledger, FakeAttestation(error=error)), as_body(event_doc()))
    text = repr([dataclasses.asdict(w) for w in ledger.writes])
    assert ledger.entry().state is LedgerState.DEAD_LETTERED
    for personal in (FIRST, LAST, EMAIL, PHONE):
        assert personal not in text


async def test_another_request_id_is_posted_again() -> None:
    """An event re-sent with another template (another request id) is posted; the success stays the first."""
    ledger, attestation = FakeLedger(), FakeAttestation()
    await deliver(attestor_with(ledger, attestation), as_body(event_doc()))
    await deliver(attestor_with(ledger, attestation), as_body(event_doc(templateId=OLDER_TEMPLATE)))
    assert len(attestation.requests) == 2
    assert ledger.entry().state is LedgerState.ATTESTED


async def test_retry_then_exhausted_is_recorded_as_retrying_then_dead_lettered() -> None:
    """A transient failure records retrying; when the budget is spent, dead-lettered with the reason."""
    ledger = FakeLedger()
    busy = FakeAttestation(error=pc.Throttled("429", status=429, retry_after=5.0))
    first = await deliver(attestor_with(ledger, busy), as_body(event_doc()), attempt=0, budget=1)
    assert isinstance(first.settlement, ScheduleRetry)
    assert ledger.entry().state is LedgerState.RETRYING
    last = await deliver(attestor_with(ledger, busy), as_body(event_doc()), attempt=1, budget=1)
    assert isinstance(last.settlement, DeadLetterMessage)
    entry = ledger.entry()
    assert (entry.state, entry.reason, entry.attempt) == (
        LedgerState.DEAD_LETTERED,
        DeadLetterReason.RETRIES_EXHAUSTED.value,
        2,
    )


async def test_an_unreachable_ledger_does_not_stop_the_attestation() -> None:
    """With the ledger down, the event is still attested and the message completed."""
    attestation = FakeAttestation()
    processed = await deliver(attestor_with(FakeLedger(fail=True), attestation), as_body(event_doc()))
    assert isinstance(processed.outcome, Attested)
    assert isinstance(processed.settlement, Complete)
    assert len(attestation.requests) == 1


async def test_dry_run_writes_nothing() -> None:
    """A dry run neither reads nor writes the ledger."""
    ledger = FakeLedger()
    attestor = Attestor(FakeAttestation(), FakeMetadata(), dry_run=True, journal=AttestationJournal(ledger))
    await deliver(attestor, as_body(event_doc()))
    assert attestor.journal is None
    assert ledger.writes == []


async def test_bulk_command_records_each_event() -> None:
    """The bulk command records every event it attests, and a re-run posts nothing already done."""
    ledger, attestation = FakeLedger(), FakeAttestation()
    records = [RawRecord(1, event_doc()), RawRecord(2, event_doc(eventId="crm-43"))]
    valid, _ = validate_records(records)
    policy = RedeliveryPolicy(budget=0)
    first = await attest_all(valid, attestor_with(ledger, attestation), concurrency=2, redelivery=policy)
    again = await attest_all(
        valid, attestor_with(ledger, attestation), concurrency=2, redelivery=policy, sleep=RecordingSleep()
    )
    assert [r.status for r in first] == [ResultStatus.ATTESTED, ResultStatus.ATTESTED]
    assert [r.status for r in again] == [ResultStatus.ALREADY_ATTESTED, ResultStatus.ALREADY_ATTESTED]
    assert len(attestation.requests) == 2
    assert {ledger.entry(e).state for e in ("crm-42", "crm-43")} == {LedgerState.ATTESTED}
    assert ledger.entry("crm-43", TENANT).attempt == 1
