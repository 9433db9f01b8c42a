"""Bulk attestation: a file of events → Partner Center, with bounded concurrency and a results report.

What a partner migrating many customers runs. Every record is validated first, whichever contract it names
(so a typo on line 9,000 is reported before anything is posted); duplicate event ids in the file are attested
once; valid events are attested ``concurrency`` at a time; a transient failure waits (honouring Retry-After)
and tries again within the redelivery budget, without holding a concurrency slot while it waits.

Contract v1 events go to the ``Attestor``. Contract v2 events (the enhanced attestation) go to the
``EventRouter``'s ``advance_enhanced`` with ``check_now``: one pass per run. The first run creates the
attestation and hands the acceptance link to the notifier, and the event reports ``awaiting_acceptance`` (not a
failure); a later run checks the status at once and, once the customer accepted, creates the agreement. What the
queue hosts decide for a v2 ``RetryLater`` (retries exhausted: the end, told to the CRM) is recorded through
``EnhancedFlow.settled``, as ``shared.servicebus.processing`` does.
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from shared.attestation.contract import InvalidEventError, SignedAgreementEvent, identifiers_of
from shared.attestation.contract.envelopes import decode_body
from shared.attestation.contract.fields import FieldError
from shared.attestation.contract.v2 import AcceptanceRequestedEvent, contract_of, parse_any_event
from shared.attestation.flow_state import Delivery
from shared.attestation.ledger import LedgerError
from shared.attestation.notifications import NotificationError
from shared.attestation.outcomes import (
    AlreadyAccepted,
    AlreadyAttested,
    Attested,
    AwaitingAcceptance,
    Outcome,
    RetryLater,
    Validated,
    log_outcome,
)
from shared.attestation.router import EventRouter
from shared.attestation.use_case import Attestor
from shared.cli.event_files import RawRecord
from shared.servicebus.processing import record_settlement
from shared.servicebus.settlement import DeadLetterMessage, RedeliveryPolicy, ScheduleRetry, Settlement, decide


class ResultStatus(StrEnum):
    ATTESTED = "attested"
    ALREADY_ATTESTED = "already_attested"
    ALREADY_ACCEPTED = "already_accepted"  # the pre-check found the customer accepted; nothing posted
    VALIDATED = "validated"  # dry run
    AWAITING_ACCEPTANCE = "awaiting_acceptance"  # contract v2: the customer has the link; run again later
    DUPLICATE_IN_FILE = "duplicate_in_file"  # the same eventId appeared on an earlier line
    FAILED = "failed"


SUCCESSFUL = frozenset(
    {ResultStatus.ATTESTED, ResultStatus.ALREADY_ATTESTED, ResultStatus.ALREADY_ACCEPTED, ResultStatus.VALIDATED}
)

DEFAULT_LINK_DESTINATION = "the notifications queue"

_V1, _V2 = "v1", "v2"


@dataclass(frozen=True, slots=True)
class BulkResult:
    """One line of the report. No contact details and no acceptance link: the report may be shared."""

    line: int
    event_id: str
    customer_tenant_id: str
    status: ResultStatus
    reason: str = ""
    detail: str = ""
    ms_request_id: str = ""
    user_id: str = ""
    attempts: int = 1
    contract: str = ""  # v1, v2, or "" when the record names no contract this tool knows
    attestation_id: str = ""  # contract v2: the enhanced attestation, once created


@dataclass(frozen=True, slots=True)
class _ValidEvent:
    line: int
    event: SignedAgreementEvent | AcceptanceRequestedEvent

    @property
    def contract(self) -> str:
        return _V2 if isinstance(self.event, AcceptanceRequestedEvent) else _V1


def failed(results: Sequence[BulkResult]) -> bool:
    """Whether any record failed (the exit code): waiting for a customer and a duplicate line are not failures."""
    return any(result.status is ResultStatus.FAILED for result in results)


def enhanced_events(events: Sequence[_ValidEvent]) -> int:
    """How many of ``events`` are contract v2 (they need somewhere to send acceptance links)."""
    return sum(1 for item in events if item.contract == _V2)


def validate_records(records: Sequence[RawRecord]) -> tuple[list[_ValidEvent], list[BulkResult]]:
    """Parse every record, of either contract; return the events to attest and the results already known
    (invalid, duplicate)."""
    valid: list[_ValidEvent] = []
    known: list[BulkResult] = []
    seen: dict[str, int] = {}
    for record in records:
        try:
            event = parse_any_event(record.body)
        except InvalidEventError as exc:
            event_id, _ = identifiers_of(record.body)  # so the report line can be traced
            known.append(
                BulkResult(
                    record.line,
                    event_id[:128],
                    "",
                    ResultStatus.FAILED,
                    "InvalidEvent",
                    str(exc),
                    contract=_named_contract(record.body),
                )
            )
            continue
        item = _ValidEvent(record.line, event)
        if event.event_id in seen:
            known.append(
                BulkResult(
                    record.line,
                    event.event_id,
                    event.customer_tenant_id,
                    ResultStatus.DUPLICATE_IN_FILE,
                    detail=f"same eventId as line {seen[event.event_id]}; attested once",
                    contract=item.contract,
                )
            )
            continue
        seen[event.event_id] = record.line
        valid.append(item)
    return valid, known


def _named_contract(body: bytes | Mapping[str, Any]) -> str:
    """The contract an invalid record names, when it names one (for the report); never raises."""
    try:
        contract = contract_of(decode_body(body))
    except InvalidEventError:
        return ""
    return "" if isinstance(contract, FieldError) else contract


def _result(
    item: _ValidEvent,
    outcome: Outcome,
    settlement: Settlement,
    attempts: int,
    link_destination: str = DEFAULT_LINK_DESTINATION,
) -> BulkResult:
    base = BulkResult(
        item.line,
        item.event.event_id,
        item.event.customer_tenant_id,
        ResultStatus.FAILED,
        ms_request_id=outcome.request_id,
        attempts=attempts,
        contract=item.contract,
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
        detail = (
            f"templateId {outcome.template_id}" if outcome.template_id else "contract v2: validated; nothing created"
        )
        return replace(base, status=ResultStatus.VALIDATED, detail=detail)
    if isinstance(outcome, AwaitingAcceptance):
        detail = (
            f"attestation {outcome.attestation_id}: the acceptance link went to {link_destination}; "
            "run again after the customer accepts"
        )
        return replace(
            base, status=ResultStatus.AWAITING_ACCEPTANCE, detail=detail, attestation_id=outcome.attestation_id
        )
    raise TypeError(f"no report line for {type(outcome).__name__}")


async def attest_all(
    events: Sequence[_ValidEvent],
    attestor: Attestor,
    *,
    concurrency: int,
    redelivery: RedeliveryPolicy,
    router: EventRouter | None = None,
    link_destination: str = DEFAULT_LINK_DESTINATION,
    on_result: Callable[[BulkResult], None] = lambda _: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> list[BulkResult]:
    """Attest ``events``, at most ``concurrency`` in flight; retry transient failures per ``redelivery``.

    Contract v1 events go to ``attestor``, contract v2 events to ``router.advance_enhanced`` (without a router,
    or when the router has no enhanced flow, they fail as ``FlowNotEnabled``; in a dry run they are validated
    only). ``link_destination`` names where the notifier sends acceptance links, for the report."""
    rng = rng or random.Random()
    router = router or EventRouter(None, None)
    slots = asyncio.Semaphore(concurrency)

    async def attempt_once(item: _ValidEvent, attempt: int) -> Outcome:
        async with slots:
            if isinstance(item.event, AcceptanceRequestedEvent):
                return await router.advance_enhanced(item.event, Delivery(attempt=attempt, check_now=True))
            return await attestor.attest(item.event)

    async def one(item: _ValidEvent) -> BulkResult:
        attempt = 0
        started = time.perf_counter()
        while True:
            outcome = await attempt_once(item, attempt)
            settlement = decide(outcome, attempt, redelivery, rng)
            not_recorded = await _record(item, outcome, settlement, attempt, attestor, router)
            if isinstance(settlement, ScheduleRetry):
                await sleep(settlement.delay_seconds)  # outside the slot: others use it meanwhile
                attempt = settlement.attempt
                continue
            result = _result(item, outcome, settlement, attempt + 1, link_destination)
            if not_recorded:
                result = replace(result, detail=f"{result.detail} ({not_recorded})")
            reason = settlement.reason if isinstance(settlement, DeadLetterMessage) else ""
            log_outcome(outcome, started, reason=reason, line=item.line, attempts=attempt + 1, contract=item.contract)
            on_result(result)
            return result

    return list(await asyncio.gather(*(one(item) for item in events)))


async def _record(
    item: _ValidEvent, outcome: Outcome, settlement: Settlement, attempt: int, attestor: Attestor, router: EventRouter
) -> str:
    """Record what the command decided: v1 in the attestor's journal; for v2, only what the flow cannot know
    (a retry, or retries exhausted), through ``settled``. Returns "" or, when the end of a v2 request could not be
    recorded or told to the CRM, what the report should say about it."""
    if item.contract == _V1:
        if attestor.journal is not None:
            await record_settlement(attestor.journal, outcome, settlement, attempt=attempt + 1)
        return ""
    enhanced = router.enhanced
    if enhanced is None or not isinstance(outcome, RetryLater) or not enhanced.owns(outcome.event_id):
        return ""
    reason = settlement.reason if isinstance(settlement, DeadLetterMessage) else ""
    try:
        await enhanced.settled(outcome, dead_letter_reason=reason, attempt=attempt + 1, message_id="")
    except (NotificationError, LedgerError) as error:
        if not reason:
            return ""  # a retry follows; its outcome is what counts
        return f"this end is not recorded and the CRM may not have been told: {str(error)[:300]}; run again"
    return ""


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
