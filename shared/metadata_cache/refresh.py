"""The timer's job: refresh each configured agreement type's metadata and say what changed or failed."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from shared.metadata_cache import CachedMetadataSource, RefreshResult
from shared.metrics import Metrics

log = logging.getLogger(__name__)


async def refresh_agreement_metadata(
    source: CachedMetadataSource, agreement_types: Iterable[str], metrics: Metrics
) -> list[RefreshResult]:
    """Refresh every type. A failure keeps the last good value; it is logged and counted, never raised."""
    results = []
    for agreement_type in agreement_types:
        result = await source.refresh(agreement_type)
        results.append(result)
        base = {"agreement_type": agreement_type, "template_id": result.current_template_id or ""}
        if result.error is not None:
            metrics.count("metadata.refresh_failed", agreement_type=agreement_type)
            log.error(
                "agreement metadata refresh failed; keeping the last good value",
                extra={"event": "metadata.refresh_failed", "error": str(result.error), **base},
            )
            continue
        metrics.count("metadata.refreshed", agreement_type=agreement_type)
        if result.changed:
            metrics.count("metadata.template_changed", agreement_type=agreement_type)
            log.warning(
                "current template changed",
                extra={
                    "event": "metadata.template_changed",
                    "previous_template_id": result.previous_template_id or "",
                    **base,
                },
            )
        else:
            log.info("agreement metadata refreshed", extra={"event": "metadata.refreshed", **base})
    return results
