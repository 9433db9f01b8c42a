"""Timer trigger: reconcile the whole ledger against Partner Center and leave the HTML and JSON reports in Blob."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import runtime

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("reconcile_ledger_daily")
@bp.timer_trigger(arg_name="timer", schedule="%RECONCILE_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def reconcile_ledger_daily(timer: func.TimerRequest) -> None:
    from shared.ledger.daily_reconciliation import reconcile_ledger
    from shared.ledger.report_store import open_report_store

    if timer.past_due:  # a missed day (app stopped or scaled to zero): a report now is exactly what is wanted
        log.warning("reconciliation is past due; running now", extra={"event": "reconcile.past_due"})
    services = await runtime.services()
    async with open_report_store(services.settings) as reports:
        await reconcile_ledger(
            services.journal.ledger,
            services.acceptance,
            reports,
            await runtime.metrics(),
            concurrency=services.settings.reconcile_concurrency,
        )
