"""The daily reconciliation timer's job: the whole ledger against Partner Center, the HTML and JSON reports to the
report store, the counts per standing logged once (``reconcile.completed``) and counted as metrics.

The log line carries one field per standing (``missing``, ``dead_lettered`` …), ``customers`` and
``needs_action``; the alert in ``infra/modules/alerts.bicep`` reads ``missing`` from it. It is a warning when
anything needs an operator (missing, dead-lettered or in conflict), else info.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.attestation.ledger import Ledger
from shared.attestation.ports import AcceptanceView
from shared.attestation.reconciliation import NEEDS_ACTION, Reconciled, counts, expectations_from_ledger, reconcile
from shared.ledger.report_store import ReportStore
from shared.ledger.reports import render_html, render_json
from shared.metrics import Metrics

log = logging.getLogger(__name__)

METRIC = "reconcile.customers"  # one count per standing per run, attribute ``standing``


@dataclass(frozen=True, slots=True)
class ReconciliationRun:
    """What one run found and where its reports are."""

    started_at: datetime
    results: Sequence[Reconciled]
    counts: dict[str, int]
    reports: tuple[str, ...]

    @property
    def needs_action(self) -> int:
        return sum(self.counts[standing.value] for standing in NEEDS_ACTION)


def report_stem(started_at: datetime) -> str:
    """The reports' name without suffix: ``reconciliation-20250102T050000Z`` (sorts by time, never reused)."""
    return f"reconciliation-{started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


async def reconcile_ledger(
    ledger: Ledger,
    view: AcceptanceView,
    store: ReportStore,
    metrics: Metrics,
    *,
    concurrency: int,
    now: datetime | None = None,
) -> ReconciliationRun:
    """Reconcile every customer in the ledger, at most ``concurrency`` at a time, write both reports, log and
    count. A customer Partner Center does not answer for is classified on the ledger alone (its line says so);
    an unreadable ledger (``LedgerError``) or an unwritable store (``ReportStoreError``) raises."""
    started = (now or datetime.now(UTC)).astimezone(UTC)
    results = await reconcile(await expectations_from_ledger(ledger), ledger, view, concurrency=concurrency)
    tally = counts(results)
    stem = report_stem(started)
    reports = (
        await store.put(f"{stem}.html", render_html(results, generated_at=started), "text/html; charset=utf-8"),
        await store.put(f"{stem}.json", render_json(results, generated_at=started), "application/json"),
    )
    run = ReconciliationRun(started, results, tally, reports)
    for standing, count in tally.items():
        metrics.count(METRIC, count, standing=standing)
    log.log(
        logging.WARNING if run.needs_action else logging.INFO,
        "reconciliation completed: %d customers, %d need action",
        len(results),
        run.needs_action,
        extra={
            "event": "reconcile.completed",
            "customers": len(results),
            "needs_action": run.needs_action,
            **tally,
            "reports": list(reports),
        },
    )
    return run
