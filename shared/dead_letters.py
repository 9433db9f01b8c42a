"""Dead-letter queue operations for on-call: browse, export, replay and purge what the consumer gave up on.

Plain async code over the azure-servicebus receivers and senders it is handed (or a test's recording
fakes); it opens no connection itself. Everything reads messages as ``DeadLetterRecord`` values.

- **Browse** pages through the *whole* DLQ with ``peek_messages(sequence_number=next)``: peeking locks
  nothing and changes nothing.
- **Replay** receives in peek-lock mode and, for each message matching the filter, sends a copy to the
  queue *then* completes the dead-lettered original — a crash between the two can only duplicate the
  event (the consumer is idempotent), never lose it. The copy carries the same body and application
  properties plus replay metadata, ``mca-attempt`` reset to 0 (a fresh retry budget), and a fresh
  message id ``{eventId}/replay{n}-{digest}`` (``shared.message_ids``): unique per dead letter (its message
  id, sequence number and body) and replay, so duplicate detection never drops one replay for another.
  ``--set`` edits to the body are validated with ``parse_event`` *before* anything is sent.
- **Purge** completes exactly the messages an export has just written, nothing that arrived since.

Messages a sweep receives but does not settle (not matching, over the limit, failed) keep their lock
until the sweep ends and are then abandoned, so each receive brings new messages; their sequence
numbers are remembered, and the sweep stops when a receive brings nothing new or nothing at all.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus.exceptions import MessageAlreadySettled, ServiceBusError

from shared.contract import InvalidEventError, SignedAgreementEvent, identifiers_of, parse_event
from shared.envelopes import form_of, lenient_payload
from shared.message_ids import replay_message_id
from shared.queue_messages import body_bytes, text_properties
from shared.settlement import ATTEMPT_PROPERTY

log = logging.getLogger(__name__)

REPLAY_COUNT_PROPERTY = "mca-replay-count"
ORIGINAL_REASON_PROPERTY = "mca-original-reason"
ORIGINAL_SEQUENCE_PROPERTY = "mca-original-sequence-number"
# Set by the broker when it dead-letters; a replayed copy must not carry them back into the queue.
BROKER_DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})
PEEK_PAGE_SIZE = 100
RECEIVE_BATCH_SIZE = 50
EXPORT_FILE_MODE = 0o600  # exports hold whole bodies: contact names, emails and phones

_CONTRACT_FIELDS = frozenset(
    info.alias or name for name, info in SignedAgreementEvent.model_fields.items()
)  # eventId, customerTenantId, …: none is a CloudEvents attribute name


# --- what a dead-lettered message is -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One dead-lettered message: broker properties, the ids read from its body, and the body itself.

    ``body`` may hold personal data (contact names, emails, phones): tables and logs use the other fields.
    """

    sequence_number: int
    enqueued_time: datetime | None
    reason: str
    description: str
    event_id: str  # from the body JSON; "" when the body does not parse
    customer_id: str  # customerTenantId from the body JSON; "" when absent
    delivery_count: int
    message_id: str
    correlation_id: str
    content_type: str = ""
    subject: str = ""
    application_properties: Mapping[str, Any] = field(default_factory=dict)
    body: bytes = b""

    @property
    def body_text(self) -> str:
        """The body as text (undecodable bytes shown as U+FFFD; the export keeps the exact bytes)."""
        return self.body.decode("utf-8", errors="replace")

    @classmethod
    def from_message(cls, message: ServiceBusReceivedMessage) -> DeadLetterRecord:
        """Read a received or peeked message; never raises on a malformed body."""
        body = body_bytes(message)
        event_id, customer_id = identifiers_of(body)
        enqueued = message.enqueued_time_utc
        if enqueued is not None and enqueued.tzinfo is None:
            enqueued = enqueued.replace(tzinfo=UTC)
        return cls(
            sequence_number=int(message.sequence_number or 0),
            enqueued_time=enqueued,
            reason=message.dead_letter_reason or "",
            description=message.dead_letter_error_description or "",
            event_id=event_id,
            customer_id=customer_id,
            delivery_count=int(message.delivery_count or 0),
            message_id=_text(message.message_id),
            correlation_id=_text(message.correlation_id),
            content_type=_text(message.content_type),
            subject=_text(message.subject),
            application_properties=text_properties(message.application_properties),
            body=body,
        )


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or absurd: the caller treats it as opaque
        return None
    return doc if isinstance(doc, dict) else None


# --- selecting -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead-lettered messages an operation touches. Empty = all. Reasons and ids ignore case."""

    reasons: frozenset[str] = frozenset()
    since: datetime | None = None  # enqueued at or after
    until: datetime | None = None  # enqueued at or before
    customer_id: str | None = None
    event_id: str | None = None

    def matches(self, record: DeadLetterRecord) -> bool:
        if self.reasons and record.reason.casefold() not in {r.casefold() for r in self.reasons}:
            return False
        if self.since is not None or self.until is not None:
            if record.enqueued_time is None:
                return False
            if self.since is not None and record.enqueued_time < _aware(self.since):
                return False
            if self.until is not None and record.enqueued_time > _aware(self.until):
                return False
        if self.customer_id and record.customer_id.casefold() != self.customer_id.strip().casefold():
            return False
        return not (self.event_id and record.event_id.casefold() != self.event_id.strip().casefold())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- browsing ------------------------------------------------------------------------------------------------


class MessagePeeker(Protocol):
    """The browsing part of ``azure.servicebus.aio.ServiceBusReceiver``."""

    async def peek_messages(
        self, max_message_count: int = 1, *, sequence_number: int = 0
    ) -> list[ServiceBusReceivedMessage]: ...


async def peek_all(peeker: MessagePeeker, *, page_size: int = PEEK_PAGE_SIZE) -> AsyncIterator[DeadLetterRecord]:
    """Every message in the queue peeked by ``peeker``, page by page from sequence number 1."""
    next_sequence = 1  # 0 would mean "after the last one this receiver saw"
    while True:
        page = await peeker.peek_messages(max_message_count=page_size, sequence_number=next_sequence)
        if not page:
            return
        for message in page:
            yield DeadLetterRecord.from_message(message)
        last = max(int(m.sequence_number or 0) for m in page)
        if last < next_sequence:  # a broker ignoring sequence_number would otherwise loop forever
            return
        next_sequence = last + 1


async def find_matching(
    peeker: MessagePeeker, selection: DeadLetterFilter, *, limit: int | None = None
) -> list[DeadLetterRecord]:
    """The peeked messages ``selection`` matches, in sequence order, at most ``limit``."""
    found: list[DeadLetterRecord] = []
    async for record in peek_all(peeker):
        if selection.matches(record):
            found.append(record)
            if limit is not None and len(found) >= limit:
                break
    return found


async def peek_one(peeker: MessagePeeker, sequence_number: int) -> DeadLetterRecord | None:
    """The message with exactly ``sequence_number``, or None."""
    page = await peeker.peek_messages(max_message_count=1, sequence_number=sequence_number)
    for message in page:
        if message.sequence_number == sequence_number:
            return DeadLetterRecord.from_message(message)
    return None


# --- documents: the table, --json and the export -------------------------------------------------------------


def summary_document(record: DeadLetterRecord) -> dict[str, Any]:
    """What ``list`` shows: no body, so no contact details."""
    return {
        "sequenceNumber": record.sequence_number,
        "enqueuedTime": record.enqueued_time.isoformat() if record.enqueued_time else None,
        "reason": record.reason,
        "description": record.description,
        "eventId": record.event_id,
        "customerTenantId": record.customer_id,
        "deliveryCount": record.delivery_count,
        "messageId": record.message_id,
        "correlationId": record.correlation_id,
    }


def full_document(record: DeadLetterRecord) -> dict[str, Any]:
    """Every property and the body: the body as text when it is UTF-8, else as ``bodyBase64``."""
    doc = summary_document(record)
    doc["contentType"] = record.content_type
    doc["subject"] = record.subject
    doc["applicationProperties"] = _jsonable(record.application_properties)
    try:
        doc["body"] = record.body.decode("utf-8")
    except UnicodeDecodeError:
        doc["bodyBase64"] = base64.b64encode(record.body).decode("ascii")
    return doc


def _jsonable(properties: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in properties.items():
        if value is None or isinstance(value, bool | int | float | str):
            result[key] = value
        elif isinstance(value, bytes):
            result[key] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, datetime):
            result[key] = value.isoformat()
        else:  # uuid, timedelta, …: kept readable rather than dropped
            result[key] = str(value)
    return result


def write_export(records: Iterable[DeadLetterRecord], path: Path) -> int:
    """Write one ``full_document`` per line to ``path`` (replaced atomically, flushed to disk). Returns the count.

    The file holds personal data, so only its owner may read it (mode 0600, set at creation, before any byte
    is written). Raises ``OSError`` when the path cannot be written; nothing is deleted before that.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, EXPORT_FILE_MODE)
    try:
        os.fchmod(descriptor, EXPORT_FILE_MODE)  # os.open's mode is masked by the umask; an old file keeps its own
        with open(descriptor, "w", encoding="utf-8", newline="\n", closefd=True) as handle:
            for record in records:
                handle.write(json.dumps(full_document(record), ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)  # no half-written copy of personal data is left behind
        raise
    return count


# --- editing a body ------------------------------------------------------------------------------------------


class EditError(ValueError):
    """A ``--set``/``--unset`` cannot be applied to this body (not JSON, or the path crosses a non-object)."""


@dataclass(frozen=True, slots=True)
class FieldEdit:
    """Set (or, with ``value=None``, remove) the field at a dotted path such as ``primaryContact.email``."""

    path: tuple[str, ...]
    value: str | None

    @classmethod
    def parse_set(cls, text: str) -> FieldEdit:
        """``primaryContact.email=new@example.com`` → an edit; the value is taken as a string."""
        name, sep, value = text.partition("=")
        if not sep:
            raise EditError(f"{text!r}: expected field=value, e.g. primaryContact.email=new@example.com")
        return cls(_path(name), value)

    @classmethod
    def parse_unset(cls, text: str) -> FieldEdit:
        return cls(_path(text), None)

    def __str__(self) -> str:
        shown = ".".join(self.path)
        return f"unset {shown}" if self.value is None else f"set {shown}"  # values may be personal data


def _path(name: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in name.strip().split("."))
    if not parts or any(not part for part in parts):
        raise EditError(f"{name!r}: expected a dotted field path such as primaryContact.email")
    return parts


def apply_edits(body: bytes, edits: Sequence[FieldEdit]) -> bytes:
    """The body with ``edits`` applied, as compact JSON.

    Paths name contract fields; in an envelope (CloudEvents or Event Grid) a path starting with a contract
    field (``primaryContact.email``) is applied inside ``data``. A CloudEvent carrying its event as
    ``data_base64`` gets it decoded into ``data`` first (an equivalent CloudEvent). Missing intermediate
    objects are created.
    """
    doc = _json_object(body)
    if doc is None:
        raise EditError("the body is not a JSON object, so it cannot be edited")
    in_envelope = form_of(doc) in ("cloudevents", "eventgrid")
    for edit in edits:
        path = edit.path
        if in_envelope and path[0] in _CONTRACT_FIELDS:
            if "data_base64" in doc:
                payload, _ = lenient_payload(doc)
                if not payload:
                    raise EditError("data_base64 does not hold a JSON object, so its fields cannot be edited")
                doc["data"] = dict(payload)
                del doc["data_base64"]
            path = ("data", *path)
        node: dict[str, Any] = doc
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise EditError(f"{'.'.join(path[: depth + 1])} is not an object, so {'.'.join(path)} cannot be set")
            node = child
        if edit.value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = edit.value
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- building a replay ---------------------------------------------------------------------------------------


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


def replay_count_of(properties: Mapping[str, Any]) -> int:
    """How many times this message was already replayed (0 when never, or unreadable)."""
    raw = properties.get(REPLAY_COUNT_PROPERTY)
    text = _text(raw).strip()
    return int(text) if text.isdigit() else 0


def build_replay(record: DeadLetterRecord, edits: Sequence[FieldEdit] = ()) -> ReplayMessage:
    """The copy to send for ``record``. With edits, raises ``EditError`` or ``InvalidEventError`` (not sent)."""
    body = record.body
    event_id = record.event_id
    if edits:
        body = apply_edits(body, edits)
        event_id = parse_event(body).event_id  # validate the edited event before anything is sent
    count = replay_count_of(record.application_properties) + 1
    properties = {
        key: value for key, value in record.application_properties.items() if key not in BROKER_DEAD_LETTER_PROPERTIES
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


# --- sweeping the DLQ in peek-lock mode ----------------------------------------------------------------------


class LockingReceiver(Protocol):
    """The peek-lock part of ``azure.servicebus.aio.ServiceBusReceiver``."""

    async def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[ServiceBusReceivedMessage]: ...

    async def complete_message(self, message: ServiceBusReceivedMessage) -> None: ...

    async def abandon_message(self, message: ServiceBusReceivedMessage) -> None: ...


class MessageSender(Protocol):
    """The sending part of ``azure.servicebus.aio.ServiceBusSender``."""

    async def send_messages(self, message: ServiceBusMessage) -> None: ...


async def _sweep(
    receiver: LockingReceiver,
    *,
    wanted: Callable[[DeadLetterRecord], bool],
    act: Callable[[ServiceBusReceivedMessage, DeadLetterRecord], Awaitable[bool]],
    finished: Callable[[], bool],
    batch_size: int,
    max_wait_time: float,
) -> int:
    """Receive until nothing new arrives; ``act`` on wanted messages (True = it settled the message).

    Messages not settled are held locked until the end, then abandoned. Returns how many were not wanted
    (or arrived after ``finished()``).
    """
    seen: set[int] = set()
    held: list[ServiceBusReceivedMessage] = []
    passed_over = 0
    try:
        while not finished():
            batch = await receiver.receive_messages(max_message_count=batch_size, max_wait_time=max_wait_time)
            fresh = [m for m in batch if int(m.sequence_number or 0) not in seen]
            held.extend(m for m in batch if int(m.sequence_number or 0) in seen)  # a lock expired; seen already
            if not fresh:
                break
            for message in fresh:
                seen.add(int(message.sequence_number or 0))
                record = DeadLetterRecord.from_message(message)
                if finished() or not wanted(record):
                    passed_over += 1
                    held.append(message)
                elif not await act(message, record):
                    held.append(message)
    finally:
        for message in held:
            try:
                await receiver.abandon_message(message)
            except (ServiceBusError, MessageAlreadySettled) as exc:  # the lock lapses on its own; nothing is lost
                log.warning(
                    "dlq.abandon_failed",
                    extra={"sequence_number": message.sequence_number, "error": type(exc).__name__},
                )
    return passed_over


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
            "dlq.replay",
            extra={
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

    skipped = await _sweep(
        receiver,
        wanted=selection.matches,
        act=act,
        finished=lambda: limit is not None and len(results) >= limit,
        batch_size=batch_size,
        max_wait_time=max_wait_time,
    )
    return ReplaySummary(tuple(results), skipped)


async def delete_exported(
    receiver: LockingReceiver,
    sequence_numbers: Collection[int],
    *,
    batch_size: int = RECEIVE_BATCH_SIZE,
    max_wait_time: float = 5.0,
    on_deleted: Callable[[DeadLetterRecord], None] = lambda _: None,
) -> int:
    """Complete (delete) exactly the dead-lettered messages with these sequence numbers. Returns how many."""
    remaining = set(sequence_numbers)
    total = len(remaining)

    async def act(message: ServiceBusReceivedMessage, record: DeadLetterRecord) -> bool:
        try:
            await receiver.complete_message(message)
        except (ServiceBusError, MessageAlreadySettled) as exc:
            log.warning("dlq.purge_failed", extra={"sequence_number": record.sequence_number, "error": str(exc)})
            return False
        remaining.discard(record.sequence_number)
        on_deleted(record)
        log.info("dlq.purged", extra={"sequence_number": record.sequence_number, "event_id": record.event_id})
        return True

    await _sweep(
        receiver,
        wanted=lambda record: record.sequence_number in remaining,
        act=act,
        finished=lambda: not remaining,
        batch_size=batch_size,
        max_wait_time=max_wait_time,
    )
    return total - len(remaining)
