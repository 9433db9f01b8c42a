"""Replay: send a copy of each matching dead letter back to the queue, then complete the original.

The sweep (``sweep.py``) receives in peek-lock mode; for each message the filter matches, the copy is sent
*then* the dead-lettered original completed — a crash between the two can only duplicate the event (the
consumer is idempotent), never lose it. The copy carries the same body and application properties plus
replay metadata, ``mca-attempt`` reset to 0 (a fresh retry budget), and a fresh message id
``{eventId}/replay{n}-{digest}`` (``shared.servicebus.messages``): unique per dead letter (its message id,
sequence number and body) and replay, so duplicate detection never drops one replay for another. ``--set``
edits to the body (``edits.py``) are validated with ``parse_any_event`` (the contract the body names)
*before* anything is sent.

Replay reads no contract: the body goes back as it was. What a replay means is the consumer's business: for
contract v1 another attempt at the same POST; for contract v2 the flow sees a ``mca-replay-count`` its ledger
entry has not seen and starts again (after an expired or declined link, with a new attestation and a new
link). ``mca-check`` is dropped from the copy: a replayed status-check copy is a replay, not check n.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus.exceptions import MessageAlreadySettled, ServiceBusError

from shared.attestation.contract import InvalidEventError
from shared.attestation.contract.v2 import parse_any_event
from shared.servicebus.dead_letters.browse import DeadLetterFilter
from shared.servicebus.dead_letters.edits import EditError, FieldEdit, apply_edits
from shared.servicebus.dead_letters.records import DeadLetterRecord
from shared.servicebus.dead_letters.sweep import RECEIVE_BATCH_SIZE, LockingReceiver, MessageSender, sweep
from shared.servicebus.messages import (
    ATTEMPT_PROPERTY,
    BROKER_DEAD_LETTER_PROPERTIES,
    CHECK_PROPERTY,
    ORIGINAL_REASON_PROPERTY,
    ORIGINAL_SEQUENCE_PROPERTY,
    REPLAY_COUNT_PROPERTY,
    replay_count_of,
    replay_message_id,
)

log = logging.getLogger(__name__)

_NOT_REPLAYED_PROPERTIES = BROKER_DEAD_LETTER_PROPERTIES | {CHECK_PROPERTY}


@dataclass(frozen=True, slots=True)
class ReplayMessage:
    """The copy a replay sends for one dead-lettered message."""

    original_sequence_number: int
    event_id: str
    message_id: str
    body: bytes
    application_properties: Mapping[str, Any]
    correlation_id: str | None
    content_type: str | None
    subject: str | None
    edited: bool

    def to_servicebus_message(self) -> ServiceBusMessage:
        properties: dict[str | bytes, Any] = {}
        properties.update(self.application_properties)
        return ServiceBusMessage(
            self.body,
            application_properties=properties,
            message_id=self.message_id,
            correlation_id=self.correlation_id,
            content_type=self.content_type,
            subject=self.subject,
        )


def build_replay(record: DeadLetterRecord, edits: Sequence[FieldEdit] = ()) -> ReplayMessage:
    """The copy to send for ``record``. With edits, raises ``EditError`` or ``InvalidEventError`` (not sent)."""
    body = record.body
    event_id = record.event_id
    if edits:
        body = apply_edits(body, edits)
        event_id = parse_any_event(body).event_id  # validate the edited event before anything is sent
    count = replay_count_of(record.application_properties) + 1
    properties = {
        key: value for key, value in record.application_properties.items() if key not in _NOT_REPLAYED_PROPERTIES
    }
    properties[ATTEMPT_PROPERTY] = 0  # a fresh retry budget, e.g. after RetriesExhausted
    properties[REPLAY_COUNT_PROPERTY] = count
    properties[ORIGINAL_REASON_PROPERTY] = record.reason
    properties[ORIGINAL_SEQUENCE_PROPERTY] = record.sequence_number
    message_id = replay_message_id(
        event_id or record.message_id or f"sequence-{record.sequence_number}",
        source_message_id=record.message_id,
        sequence_number=record.sequence_number,
        body=body,
        replay_count=count,
    )
    return ReplayMessage(
        original_sequence_number=record.sequence_number,
        event_id=event_id,
        message_id=message_id,
        body=body,
        application_properties=properties,
        correlation_id=record.correlation_id or None,
        content_type=record.content_type or None,
        subject=record.subject or None,
        edited=bool(edits),
    )


class ReplayStatus(StrEnum):
    REPLAYED = "replayed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What happened to one matching message. ``message_id`` is the copy's id (when one was built)."""

    sequence_number: int
    event_id: str
    status: ReplayStatus
    message_id: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    results: tuple[ReplayResult, ...]
    skipped: int  # received but not matching the filter, or beyond --limit; left in the DLQ

    @property
    def replayed(self) -> int:
        return sum(1 for r in self.results if r.status is ReplayStatus.REPLAYED)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.status is ReplayStatus.FAILED)


def plan_replays(
    records: Iterable[DeadLetterRecord], edits: Sequence[FieldEdit] = ()
) -> list[tuple[DeadLetterRecord, ReplayMessage | None, str]]:
    """Dry run: each record with its copy, or None and why it would fail."""
    plans: list[tuple[DeadLetterRecord, ReplayMessage | None, str]] = []
    for record in records:
        try:
            plans.append((record, build_replay(record, edits), ""))
        except (EditError, InvalidEventError) as exc:
            plans.append((record, None, str(exc)))
    return plans


async def replay(
    receiver: LockingReceiver,
    sender: MessageSender,
    *,
    selection: DeadLetterFilter,
    edits: Sequence[FieldEdit] = (),
    limit: int | None = None,
    batch_size: int = RECEIVE_BATCH_SIZE,
    max_wait_time: float = 5.0,
    on_result: Callable[[ReplayResult], None] = lambda _: None,
) -> ReplaySummary:
    """Send a copy of each matching dead-lettered message to the queue, then complete the original."""
    results: list[ReplayResult] = []

    def record_result(result: ReplayResult) -> bool:
        results.append(result)
        on_result(result)
        log.info(
            "dead letter %s",
            result.status.value,
            extra={
                "event": "dlq.replay",
                "sequence_number": result.sequence_number,
                "event_id": result.event_id,
                "outcome": result.status.value,
                "message_id": result.message_id,
            },
        )
        return result.status is ReplayStatus.REPLAYED

    async def act(message: ServiceBusReceivedMessage, record: DeadLetterRecord) -> bool:
        try:
            copy = build_replay(record, edits)
        except (EditError, InvalidEventError) as exc:
            record_result(ReplayResult(record.sequence_number, record.event_id, ReplayStatus.FAILED, detail=str(exc)))
            return False
        try:
            await sender.send_messages(copy.to_servicebus_message())
        except ServiceBusError as exc:
            detail = f"send failed, left in the DLQ: {exc}"
            record_result(
                ReplayResult(record.sequence_number, copy.event_id, ReplayStatus.FAILED, copy.message_id, detail)
            )
            return False
        try:
            await receiver.complete_message(message)
        except (ServiceBusError, MessageAlreadySettled) as exc:
            detail = f"sent, but the original could not be completed and is still in the DLQ: {exc}"
            record_result(
                ReplayResult(record.sequence_number, copy.event_id, ReplayStatus.FAILED, copy.message_id, detail)
            )
            return False
        return record_result(
            ReplayResult(record.sequence_number, copy.event_id, ReplayStatus.REPLAYED, copy.message_id)
        )

    skipped = await sweep(
        receiver,
        wanted=selection.matches,
        act=act,
        finished=lambda: limit is not None and len(results) >= limit,
        batch_size=batch_size,
        max_wait_time=max_wait_time,
    )
    return ReplaySummary(tuple(results), skipped)
