"""Timer trigger: keep every instance's agreement templates fresh in the shared metadata cache."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import runtime

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("refresh_agreement_metadata")
@bp.timer_trigger(arg_name="timer", schedule="%METADATA_REFRESH_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def refresh_agreement_metadata(timer: func.TimerRequest) -> None:
    from shared.metadata_cache.refresh import refresh_agreement_metadata as refresh

    if timer.past_due:
        # A missed schedule (app stopped or scaled to zero): refreshing now is exactly what is wanted.
        log.warning("metadata refresh is past due; running now", extra={"event": "metadata.refresh_past_due"})
    services = await runtime.services()
    await refresh(services.metadata, services.settings.agreement_types, await runtime.metrics())
