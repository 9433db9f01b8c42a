"""Bulk attestation: a file of events → Partner Center, with bounded concurrency and a results report.

What a partner migrating many customers runs. Every record is validated first (so a typo on line 9,000
is reported before anything is posted); duplicate event ids in the file are attested once; valid events
are attested ``concurrency`` at a time; a transient failure waits (honouring Retry-After) and tries again
within the redelivery budget, without holding a concurrency slot while it waits.
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

from shared.attestation.contract import InvalidEventError, SignedAgreementEvent, identifiers_of, parse_event
from shared.attestation.outcomes import AlreadyAccepted, AlreadyAttested, Attested, Outcome, Validated, log_outcome
from shared.attestation.use_case import Attestor
from shared.cli.event_files import RawRecord
from shared.servicebus.processing import record_settlement
from shared.servicebus.settlement import DeadLetterMessage, RedeliveryPolicy, ScheduleRetry, Settlement, decide


class ResultStatus(StrEnum):
    ATTESTED = "attested"
    ALREADY_ATTESTED = "already_attested"
    ALREADY_ACCEPTED = "already_accepted"  # the pre-check found the customer accepted; nothing posted
    VALIDATED = "validated"  # dry run
    DUPLICATE_IN_FILE = "duplicate_in_file"  # the same eventId appeared on an earlier line
    FAILED = "failed"


SUCCESSFUL = frozenset(
    {ResultStatus.ATTESTED, ResultStatus.ALREADY_ATTESTED, ResultStatus.ALREADY_ACCEPTED, ResultStatus.VALIDATED}
)


@dataclass(frozen=True, slots=True)
class BulkResult:
    """One line of the report. No contact details: the report may be shared."""

    line: int
    event_id: str
    customer_tenant_id: str
    status: ResultStatus
    reason: str = ""
    detail: str = ""
    ms_request_id: str = ""
    user_id: str = ""
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class _ValidEvent:
    line: int
    event: SignedAgreementEvent


def validate_records(records: Sequence[RawRecord]) -> tuple[list[_ValidEvent], list[BulkResult]]:
    """Parse every record; return the events to attest and the results already known (invalid, duplicate)."""
    valid: list[_ValidEvent] = []
    known: list[BulkResult] = []
    seen: dict[str, int] = {}
    for record in records:
        try:
            event = parse_event(record.body)
        except InvalidEventError as exc:
            event_id, _ = identifiers_of(record.body)  # so the report line can be traced
            known.append(BulkResult(record.line, event_id[:128], "", ResultStatus.FAILED, "InvalidEvent", str(exc)))
            continue
        if event.event_id in seen:
            known.append(
                BulkResult(
                    record.line,
                    event.event_id,
                    event.customer_tenant_id,
                    ResultStatus.DUPLICATE_IN_FILE,
                    detail=f"same eventId as line {seen[event.event_id]}; attested once",
                )
            )
            continue
        seen[event.event_id] = record.line
        valid.append(_ValidEvent(record.line, event))
    return valid, known


def _result(item: _ValidEvent, outcome: Outcome, settlement: Settlement, attempts: int) -> BulkResult:
    base = BulkResult(
        item.line,
        item.event.event_id,
        item.event.customer_tenant_id,
        ResultStatus.FAILED,
        ms_request_id=outcome.request_id,
        attempts=attempts,
    )
    if isinstance(settlement, DeadLetterMessage):  # a permanent failure, or RetriesExhausted
        return replace(base, reason=settlement.reason, detail=settlement.description)
    if isinstance(outcome, Attested):
        return replace(base, status=ResultStatus.ATTESTED, user_id=outcome.user_id)
    if isinstance(outcome, AlreadyAttested):
        return replace(base, status=ResultStatus.ALREADY_ATTESTED)
    if isinstance(outcome, AlreadyAccepted):
        return replace(base, status=ResultStatus.ALREADY_ACCEPTED, detail=outcome.via)
    if isinstance(outcome, Validated):
        return replace(base, status=ResultStatus.VALIDATED, detail=f"templateId {outcome.template_id}")
    raise TypeError(f"no report line for {type(outcome).__name__}")


async def attest_all(
    events: Sequence[_ValidEvent],
    attestor: Attestor,
    *,
    concurrency: int,
    redelivery: RedeliveryPolicy,
    on_result: Callable[[BulkResult], None] = lambda _: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> list[BulkResult]:
    """Attest ``events``, at most ``concurrency`` in flight; retry transient failures per ``redelivery``."""
    rng = rng or random.Random()
    slots = asyncio.Semaphore(concurrency)

    async def one(item: _ValidEvent) -> BulkResult:
        attempt = 0
        started = time.perf_counter()
        while True:
            async with slots:
                outcome = await attestor.attest(item.event)
            settlement = decide(outcome, attempt, redelivery, rng)
            if attestor.journal is not None:
                await record_settlement(attestor.journal, outcome, settlement, attempt=attempt + 1)
            if isinstance(settlement, ScheduleRetry):
                await sleep(settlement.delay_seconds)  # outside the slot: others use it meanwhile
                attempt = settlement.attempt
                continue
            result = _result(item, outcome, settlement, attempt + 1)
            reason = settlement.reason if isinstance(settlement, DeadLetterMessage) else ""
            log_outcome(outcome, started, reason=reason, line=item.line, attempts=attempt + 1)
            on_result(result)
            return result

    return list(await asyncio.gather(*(one(item) for item in events)))


def summarize(results: Sequence[BulkResult]) -> Counter[str]:
    """Counts by status, and failures by reason (``failed:Reason``)."""
    counts: Counter[str] = Counter()
    for result in results:
        counts[result.status.value] += 1
        if result.status is ResultStatus.FAILED:
            counts[f"failed:{result.reason}"] += 1
    return counts


def write_report(results: Sequence[BulkResult], path: Path) -> None:
    """JSON (a list of objects) or CSV, chosen by the file's extension."""
    ordered = sorted(results, key=lambda r: r.line)
    rows = [{**asdict(r), "status": r.status.value} for r in ordered]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["line"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
