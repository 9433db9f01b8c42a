"""The daily reconciliation job: the whole ledger against Partner Center's view, both reports in the report store
(a folder, or a Blob container on Azurite), the counts logged once and counted per standing."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulators.azurite import AzuriteBlob
from shared.attestation import errors as pc
from shared.attestation.ledger import LedgerEntry, LedgerState
from shared.ledger.daily_reconciliation import METRIC, ReconciliationRun, reconcile_ledger, report_stem
from shared.ledger.report_store import BlobReportStore, FileReportStore, ReportStoreError
from shared.metadata_cache import create_container_if_missing, open_container_client_from_connection_string
from shared.metrics import RecordingMetrics
from shared.partner_center.acceptance import PartnerCenterAcceptance
from tests.builders import EMAIL, FakeAcceptanceReads, FakeLedger
from tests.unit.test_reconciliation import ReportParser

RUN_AT = datetime(2026, 11, 21, 5, 0, 7, tzinfo=UTC)
ATTESTED, DIRECT, DEAD, LOST = "c-attested", "c-direct", "c-dead", "c-lost"


async def _world() -> tuple[FakeLedger, PartnerCenterAcceptance]:
    """Four customers: attested (Partner Center lists it), direct-signed (skipped by the pre-check), dead-lettered
    (Partner Center does not know the tenant), and one whose event is still in progress."""
    ledger, reads = FakeLedger(), FakeAcceptanceReads()
    for customer, event, state, reason in (
        (ATTESTED, "e-1", LedgerState.ATTESTED, ""),
        (DIRECT, "e-2", LedgerState.ALREADY_ACCEPTED, "direct_signed"),
        (DEAD, "e-3", LedgerState.DEAD_LETTERED, "UnknownCustomer"),
        (LOST, "e-4", LedgerState.RECEIVED, ""),
    ):
        await ledger.put(LedgerEntry(customer, event, state, reason=reason), if_match=None)
    reads.attested(ATTESTED)
    reads.direct_signed.add(DIRECT)
    reads.agreements[LOST] = []
    return ledger, PartnerCenterAcceptance(reads)


EXPECTED = {"accepted_attested": 1, "accepted_direct": 1, "dead_lettered": 1, "in_progress": 1}


def _nonzero(tally: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tally.items() if v}


async def _run_into(folder: Path, metrics: RecordingMetrics) -> ReconciliationRun:
    ledger, view = await _world()
    return await reconcile_ledger(ledger, view, FileReportStore(folder), metrics, concurrency=2, now=RUN_AT)


def test_a_run_writes_both_reports_to_the_folder_and_logs_the_counts_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every ledger customer gets one line; the HTML page's counts match its table and the run's counts; the JSON
    report holds the same; one reconcile.completed warning (something needs action) carries each count."""
    metrics = RecordingMetrics()
    with caplog.at_level(logging.INFO, logger="shared.ledger"):
        run = asyncio.run(_run_into(tmp_path, metrics))
    assert _nonzero(run.counts) == EXPECTED
    assert run.needs_action == 1
    assert run.reports == (
        str(tmp_path / "reconciliation-20261121T050007Z.html"),
        str(tmp_path / "reconciliation-20261121T050007Z.json"),
    )
    parser = ReportParser()
    parser.feed(Path(run.reports[0]).read_text(encoding="utf-8"))
    assert parser.counts == run.counts
    assert parser.counts == {standing: parser.rows.count(standing) for standing in parser.counts}
    document = json.loads(Path(run.reports[1]).read_text(encoding="utf-8"))
    assert document["counts"] == run.counts
    assert document["generatedAt"] == RUN_AT.isoformat()
    completed = [r for r in caplog.records if getattr(r, "event", "") == "reconcile.completed"]
    assert len(completed) == 1
    assert completed[0].levelno == logging.WARNING
    assert {k: completed[0].__dict__[k] for k in run.counts} == run.counts
    assert completed[0].__dict__["missing"] == 0
    assert completed[0].__dict__["reports"] == list(run.reports)
    counted = {dict(attrs)["standing"]: n for (name, attrs), n in metrics.counts.items() if name == METRIC}
    assert counted == run.counts
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(p).name for p in run.reports]  # nothing partial


def test_a_customer_partner_center_refuses_is_reported_on_the_ledger_alone(tmp_path: Path) -> None:
    """Partner Center failing for every customer still produces both reports: each line says it did not answer."""

    async def run_failing() -> ReconciliationRun:
        ledger, _ = await _world()
        failing = PartnerCenterAcceptance(FakeAcceptanceReads(error=pc.ServerError("HTTP 503", status=503)))
        store = FileReportStore(tmp_path)
        return await reconcile_ledger(ledger, failing, store, RecordingMetrics(), concurrency=4, now=RUN_AT)

    run = asyncio.run(run_failing())
    assert len(run.results) == 4
    assert all("Partner Center did not answer" in r.detail for r in run.results)
    assert all(Path(p).is_file() for p in run.reports)


async def test_nothing_to_act_on_is_logged_at_info(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A ledger where every customer is accepted: the one reconcile.completed line is info, needs_action 0."""
    ledger, reads = FakeLedger(), FakeAcceptanceReads()
    await ledger.put(LedgerEntry(ATTESTED, "e-1", LedgerState.ATTESTED), if_match=None)
    reads.attested(ATTESTED)
    with caplog.at_level(logging.INFO, logger="shared.ledger"):
        run = await reconcile_ledger(
            ledger, PartnerCenterAcceptance(reads), FileReportStore(tmp_path), RecordingMetrics(), concurrency=1
        )
    completed = [r for r in caplog.records if getattr(r, "event", "") == "reconcile.completed"]
    assert run.needs_action == 0
    assert [(r.levelno, r.__dict__["needs_action"]) for r in completed] == [(logging.INFO, 0)]


async def test_an_unwritable_folder_is_a_report_store_error(tmp_path: Path) -> None:
    """A report folder that cannot be created fails the run with ReportStoreError naming the path."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    ledger, view = await _world()
    with pytest.raises(ReportStoreError, match="not-a-folder"):
        await reconcile_ledger(ledger, view, FileReportStore(blocker / "reports"), RecordingMetrics(), concurrency=1)


@pytest.mark.integration
async def test_a_run_writes_both_reports_to_a_blob_container(azurite: AzuriteBlob) -> None:
    """On a Blob container (Azurite) the reports are two blobs with their content types; no contact in either."""
    ledger, view = await _world()
    name = f"reports-{uuid.uuid4().hex[:12]}"
    async with open_container_client_from_connection_string(azurite.connection_string, name) as container:
        await create_container_if_missing(container)
        run = await reconcile_ledger(
            ledger, view, BlobReportStore(container), RecordingMetrics(), concurrency=2, now=RUN_AT
        )
        stem = report_stem(RUN_AT)
        assert run.reports == tuple(f"{azurite.blob_endpoint}/{name}/{stem}.{suffix}" for suffix in ("html", "json"))
        blobs = {blob.name: blob.content_settings.content_type async for blob in container.list_blobs()}
        assert blobs == {f"{stem}.html": "text/html; charset=utf-8", f"{stem}.json": "application/json"}
        page = (await (await container.download_blob(f"{stem}.html")).readall()).decode()
        document = json.loads(await (await container.download_blob(f"{stem}.json")).readall())
        await container.delete_container()
    parser = ReportParser()
    parser.feed(page)
    assert parser.counts == run.counts == document["counts"]
    assert EMAIL not in page


@pytest.mark.integration
async def test_a_missing_container_is_a_report_store_error(azurite: AzuriteBlob) -> None:
    """Without its container (the infrastructure creates it in Azure) the run fails with ReportStoreError."""
    ledger, view = await _world()
    async with open_container_client_from_connection_string(azurite.connection_string, "no-such-reports") as container:
        with pytest.raises(ReportStoreError, match="no-such-reports"):
            await reconcile_ledger(ledger, view, BlobReportStore(container), RecordingMetrics(), concurrency=1)
