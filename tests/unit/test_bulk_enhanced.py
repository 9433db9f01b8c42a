"""The bulk command with contract v2 events: validation of both contracts, one pass of the enhanced flow per run,
retries within the budget, the end recorded through ``settled``, and a report without personal data or links.
Fakes stand in for Partner Center, the ledger and the notifier."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.attestation import errors as pc
from shared.attestation.enhanced_flow import EnhancedFlow
from shared.attestation.flow_state import FlowStep, FlowTiming
from shared.attestation.ledger import LedgerState
from shared.attestation.outcomes import DeadLetterReason
from shared.attestation.ports import StatusKind
from shared.attestation.router import EventRouter
from shared.attestation.use_case import Attestor
from shared.cli.bulk import (
    BulkResult,
    ResultStatus,
    attest_all,
    enhanced_events,
    failed,
    summarize,
    validate_records,
    write_report,
)
from shared.cli.event_files import RawRecord
from shared.servicebus.settlement import RedeliveryPolicy
from tests.builders import (
    COMPANY,
    EMAIL,
    FIRST,
    LAST,
    PHONE,
    FakeAttestation,
    FakeEnhancedAttestation,
    FakeLedger,
    FakeMetadata,
    MemoryNotifier,
    RecordingSleep,
    acceptance_requested_doc,
    as_body,
    event_doc,
    signatory,
)

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PERSONAL = (FIRST, LAST, EMAIL, PHONE, COMPANY)


class Bulk:
    """One bulk set-up: the legacy attestor and the enhanced flow on fakes, shared across runs like a ledger is."""

    def __init__(self) -> None:
        self.api = FakeEnhancedAttestation()
        self.ledger = FakeLedger()
        self.notifier = MemoryNotifier()
        self.legacy = FakeAttestation()
        self.sleep = RecordingSleep()
        self.flow = EnhancedFlow(
            self.api,
            self.ledger,
            self.notifier,
            FakeMetadata(),
            timing=FlowTiming(first_check_seconds=60, max_check_seconds=600, deadline_seconds=3600),
            clock=lambda: NOW,
        )
        self.attestor = Attestor(self.legacy, FakeMetadata())

    async def run(
        self, *docs: dict[str, Any], budget: int = 3, router: EventRouter | None = None, destination: str = "f.jsonl"
    ) -> list[BulkResult]:
        valid, known = validate_records([RawRecord(n, as_body(doc)) for n, doc in enumerate(docs, start=1)])
        results = await attest_all(
            valid,
            self.attestor,
            router=router or EventRouter(self.attestor, self.flow),
            link_destination=destination,
            concurrency=4,
            redelivery=RedeliveryPolicy(budget=budget, base_seconds=1.0),
            sleep=self.sleep,
        )
        return sorted(known + results, key=lambda r: r.line)


def test_both_contracts_are_validated_and_a_bad_v2_record_is_reported_like_a_v1_one() -> None:
    """v1 and v2 records parse; a bad v2 record is InvalidEvent naming the field, never its value; a repeated
    v2 eventId is a duplicate."""
    records = [
        RawRecord(1, as_body(event_doc(eventId="v1-a"))),
        RawRecord(2, as_body(acceptance_requested_doc(eventId="v2-a"))),
        RawRecord(3, as_body(acceptance_requested_doc(eventId="v2-bad", signatory=signatory(email="not-an-email")))),
        RawRecord(4, as_body(acceptance_requested_doc(eventId="v2-a"))),
    ]
    valid, known = validate_records(records)
    assert [(item.line, item.contract) for item in valid] == [(1, "v1"), (2, "v2")]
    assert enhanced_events(valid) == 1
    bad, duplicate = known
    assert (bad.line, bad.event_id, bad.status, bad.reason, bad.contract) == (
        3,
        "v2-bad",
        ResultStatus.FAILED,
        "InvalidEvent",
        "v2",
    )
    assert "signatory.email" in bad.detail
    assert "not-an-email" not in bad.detail
    assert (duplicate.line, duplicate.status, duplicate.contract) == (4, ResultStatus.DUPLICATE_IN_FILE, "v2")


async def test_first_run_waits_for_the_customer_and_a_later_run_creates_the_agreement() -> None:
    """Run 1: the attestation, its link to the notifier, awaiting_acceptance (not a failure). Run 2 after the
    customer accepted: the status is checked at once and the agreement created, once."""
    bulk = Bulk()
    first = await bulk.run(acceptance_requested_doc())
    [waiting] = first
    assert waiting.status is ResultStatus.AWAITING_ACCEPTANCE
    assert (waiting.contract, waiting.attestation_id, waiting.reason) == ("v2", "attestation-1", "")
    assert "attestation-1" in waiting.detail
    assert "f.jsonl" in waiting.detail
    assert "run again" in waiting.detail
    assert not failed(first)
    assert summarize(first)["awaiting_acceptance"] == 1
    assert bulk.notifier.kinds() == ["acceptance_link_issued"]

    bulk.api.status = StatusKind.ACCEPTED
    [done] = await bulk.run(acceptance_requested_doc())
    assert done.status is ResultStatus.ATTESTED
    assert done.user_id == "app-only"
    assert bulk.api.created == 1
    assert len(bulk.api.agreements) == 1
    assert bulk.notifier.kinds() == ["acceptance_link_issued", "agreement_created"]
    assert bulk.ledger.entry().flow_step == FlowStep.AGREEMENT_CREATED

    [again] = await bulk.run(acceptance_requested_doc())
    assert again.status is ResultStatus.ALREADY_ATTESTED
    assert len(bulk.api.agreements) == 1


async def test_a_run_before_the_customer_accepts_checks_now_and_waits_on() -> None:
    """A second run while the customer has not accepted reads the status at once (not at the scheduled time),
    reports awaiting_acceptance again and sends no second link."""
    bulk = Bulk()
    await bulk.run(acceptance_requested_doc())
    calls_before = list(bulk.api.calls)
    [still] = await bulk.run(acceptance_requested_doc())
    assert still.status is ResultStatus.AWAITING_ACCEPTANCE
    assert bulk.api.calls[len(calls_before) :] == ["status"]
    assert bulk.notifier.kinds() == ["acceptance_link_issued"]
    assert bulk.ledger.entry().checks == 1


async def test_transient_failure_of_a_v2_step_is_retried_within_the_budget() -> None:
    """A 503 on create waits (the retry delay) and tries again, then the flow goes on to wait for the customer."""
    bulk = Bulk()
    bulk.api.errors["create"] = pc.ServerError("busy", status=503)
    [result] = await bulk.run(acceptance_requested_doc())
    assert result.status is ResultStatus.AWAITING_ACCEPTANCE
    assert result.attempts == 2
    assert len(bulk.sleep.delays) == 1
    assert bulk.api.calls[:2] == ["create", "create"]


async def test_retries_exhausted_on_a_v2_event_are_recorded_and_told_to_the_crm() -> None:
    """Out of budget: failed with RetriesExhausted; ``settled`` dead-letters the ledger entry and tells the CRM."""
    bulk = Bulk()
    bulk.api.errors["create"] = pc.ServerError("busy", status=503)
    [result] = await bulk.run(acceptance_requested_doc(), budget=0)
    assert (result.status, result.reason) == (ResultStatus.FAILED, DeadLetterReason.RETRIES_EXHAUSTED.value)
    assert failed([result])
    entry = bulk.ledger.entry()
    assert (entry.state, entry.reason) == (LedgerState.DEAD_LETTERED, DeadLetterReason.RETRIES_EXHAUSTED.value)
    assert bulk.notifier.kinds() == ["dead_lettered"]


async def test_an_end_that_cannot_be_told_is_reported_not_raised() -> None:
    """When the notifier fails as retries run out, the line says the end is not recorded; the run goes on."""
    bulk = Bulk()
    bulk.api.errors["create"] = pc.ServerError("busy", status=503)
    bulk.notifier.fail = True
    [result, v1] = await bulk.run(acceptance_requested_doc(), event_doc(eventId="v1-next"), budget=0)
    assert (result.status, result.reason) == (ResultStatus.FAILED, DeadLetterReason.RETRIES_EXHAUSTED.value)
    assert "not recorded" in result.detail
    assert bulk.ledger.entry().state is not LedgerState.DEAD_LETTERED
    assert v1.status is ResultStatus.ATTESTED


async def test_v1_events_go_to_the_attestor_and_v2_events_to_the_flow() -> None:
    """In one file, v1 is attested as before (one POST) and v2 starts the enhanced attestation."""
    bulk = Bulk()
    results = await bulk.run(event_doc(eventId="v1-a"), acceptance_requested_doc(eventId="v2-a"))
    assert [(r.contract, r.status) for r in results] == [
        ("v1", ResultStatus.ATTESTED),
        ("v2", ResultStatus.AWAITING_ACCEPTANCE),
    ]
    assert [request.event.event_id for request in bulk.legacy.requests] == ["v1-a"]
    assert bulk.api.created == 1


async def test_dry_run_validates_v2_events_only() -> None:
    """A dry-run router answers Validated for v2: nothing created, nothing notified."""
    bulk = Bulk()
    dry = EventRouter(Attestor(bulk.legacy, FakeMetadata(), dry_run=True), None, dry_run=True)
    [result] = await bulk.run(acceptance_requested_doc(), router=dry)
    assert result.status is ResultStatus.VALIDATED
    assert "nothing created" in result.detail
    assert (bulk.api.calls, bulk.notifier.attempts) == ([], 0)


async def test_v2_event_without_the_enhanced_flow_fails_as_flow_not_enabled() -> None:
    """ATTESTATION_FLOWS without enhanced: the v2 line fails with FlowNotEnabled, the v1 line is attested."""
    bulk = Bulk()
    legacy_only = EventRouter(bulk.attestor, None)
    results = await bulk.run(acceptance_requested_doc(), event_doc(eventId="v1-a"), router=legacy_only)
    assert [(r.status, r.reason) for r in results] == [
        (ResultStatus.FAILED, DeadLetterReason.FLOW_NOT_ENABLED.value),
        (ResultStatus.ATTESTED, ""),
    ]


async def test_an_unexpected_error_in_the_flow_does_not_stop_the_run() -> None:
    """An exception nobody translated is retried (the router's final guard), then reported; other lines go on."""
    bulk = Bulk()
    bulk.api.errors["create"] = RuntimeError(f"boom for {EMAIL}")
    results = await bulk.run(acceptance_requested_doc(), event_doc(eventId="v1-a"), budget=0)
    assert [r.status for r in results] == [ResultStatus.FAILED, ResultStatus.ATTESTED]
    assert results[0].reason == DeadLetterReason.RETRIES_EXHAUSTED.value
    assert EMAIL not in results[0].detail


async def test_report_shows_v2_rows_without_personal_data_or_the_link(tmp_path: Path) -> None:
    """JSON and CSV reports carry the v2 rows (contract, status, attestation id) and no name, email, phone,
    company or acceptance link."""
    bulk = Bulk()
    results = await bulk.run(
        acceptance_requested_doc(),
        acceptance_requested_doc(eventId="v2-bad", country="XX"),
        event_doc(eventId="v1-a"),
    )
    for name in ("report.json", "report.csv"):
        path = tmp_path / name
        write_report(results, path)
        text = path.read_text(encoding="utf-8")
        assert "awaiting_acceptance" in text
        assert "attestation-1" in text
        for secret in (*PERSONAL, bulk.api.link, "secret-token"):
            assert secret not in text, (name, secret)
    rows = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [(row["contract"], row["status"]) for row in rows] == [
        ("v2", "awaiting_acceptance"),
        ("v2", "failed"),
        ("v1", "attested"),
    ]
    assert rows[0]["attestation_id"] == "attestation-1"
