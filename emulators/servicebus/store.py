"""Queue state and its rules: the part of the emulator that knows what Service Bus *means*, with no sockets.

A :class:`Namespace` holds the queues (each with its dead-letter sub-queue) and every state change:
enqueue (duplicate detection, scheduling, time-to-live), lock acquisition, settlement, lock renewal,
lock expiry with redelivery, max-delivery-count and expiry dead-lettering. The AMQP layer
(:mod:`.broker`, :mod:`.management`) turns frames into calls here and results back into frames.

Thread safety: the proton reactor thread makes every change; the inspection API reads from test
threads. One re-entrant lock guards all state, taken by every public method.

Times are integer milliseconds since the epoch, the unit Service Bus puts on the wire.
"""

from __future__ import annotations

import heapq
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .amqp_message import (
    AMQP_SEQUENCE,
    AMQP_VALUE,
    APPLICATION_PROPERTIES,
    DATA,
    ENQUEUED_TIME,
    LOCKED_UNTIL,
    MESSAGE_STATE,
    SCHEDULED_ENQUEUE_TIME,
    SEQUENCE_NUMBER,
    ParsedMessage,
    PropertiesField,
    decode_section_value,
    encode_message,
    parse_message,
    timestamp_ms,
)
from .config import EmulatorConfig, QueueProperties
from .snapshots import MessageSnapshot, MessageState, QueueDepths

DEAD_LETTER_QUEUE_SUFFIX = "$DeadLetterQueue"
# Where Service Bus puts messages it failed to auto-forward. The emulator refuses auto-forwarding, so this
# sub-queue is always empty, but it exists on every queue, as in Azure, and can be received from and peeked.
TRANSFER_DEAD_LETTER_QUEUE_SUFFIX = "$Transfer/$DeadLetterQueue"

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
TTL_EXPIRED = "TTLExpiredException"
_TTL_EXPIRED_DESCRIPTION = "The message expired and was dead lettered."

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    """Milliseconds since the epoch: the default :data:`Clock`."""
    return time.time_ns() // 1_000_000


class UnknownEntityError(LookupError):
    """No queue (or dead-letter queue) with that name is configured."""


class MessageNotFoundError(LookupError):
    """A sequence number does not name a message in the state the operation needs."""


class LockLostError(LookupError):
    """The lock token is unknown, settled or expired."""

    def __init__(self, token: uuid.UUID) -> None:
        super().__init__(
            f"The lock {token} is invalid. Either the lock expired, or the message has already been removed "
            "from the queue."
        )


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    reason: str | None
    description: str | None


@dataclass(slots=True)
class MessageLock:
    token: uuid.UUID
    locked_until_ms: int


@dataclass(slots=True)
class StoredMessage:
    sequence_number: int
    message: ParsedMessage
    enqueued_ms: int
    expires_at_ms: int | None
    state: MessageState = MessageState.ACTIVE
    scheduled_ms: int | None = None
    delivery_count: int = 0
    lock: MessageLock | None = None
    dead_letter: DeadLetterInfo | None = None
    # The time to live in force (the shorter of the message's and the queue's), set once it is enqueued.
    time_to_live_ms: int | None = None

    def expired(self, now: int) -> bool:
        return self.expires_at_ms is not None and self.expires_at_ms <= now

    def encode(self) -> bytes:
        """The message as a receiver or peeker sees it now (lock annotation only while locked)."""
        annotations: dict[Any, Any] = {
            SEQUENCE_NUMBER: self.sequence_number,
            ENQUEUED_TIME: timestamp_ms(self.enqueued_ms),
        }
        if self.state is not MessageState.ACTIVE:
            annotations[MESSAGE_STATE] = int(self.state)
        if self.scheduled_ms is not None:
            annotations[SCHEDULED_ENQUEUE_TIME] = timestamp_ms(self.scheduled_ms)
        if self.lock is not None:
            annotations[LOCKED_UNTIL] = timestamp_ms(self.lock.locked_until_ms)
        extra: dict[str, str] = {}
        if self.dead_letter is not None:
            if self.dead_letter.reason is not None:
                extra["DeadLetterReason"] = self.dead_letter.reason
            if self.dead_letter.description is not None:
                extra["DeadLetterErrorDescription"] = self.dead_letter.description
        return encode_message(
            self.message,
            delivery_count=self.delivery_count,
            time_to_live_ms=self.time_to_live_ms,
            broker_annotations=annotations,
            extra_application_properties=extra,
        )


@dataclass(frozen=True, slots=True)
class AcquiredMessage:
    """A message handed to a receiver link: the payload to transfer and, in peek-lock, its lock token."""

    sequence_number: int
    payload: bytes
    lock_token: uuid.UUID | None


@dataclass(eq=False)
class QueueEntity:
    """A queue or a dead-letter queue. Messages are kept in arrival order; delivery follows sequence order."""

    name: str
    properties: QueueProperties
    dead_letter_queue: QueueEntity | None = None  # None for the dead-letter queue itself
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    # Sequence numbers that may be deliverable; stale entries are skipped on pop (cheaper than removal).
    ready: list[int] = field(default_factory=list)
    expiries: list[tuple[int, int]] = field(default_factory=list)  # (expires_at_ms, sequence number)
    schedule: list[tuple[int, int]] = field(default_factory=list)  # (scheduled_ms, sequence number)
    seen_message_ids: dict[Any, int] = field(default_factory=dict)  # message id → forget-after ms
    last_sequence_number: int = 0

    @property
    def is_dead_letter_queue(self) -> bool:
        return self.dead_letter_queue is None

    def mark_ready(self, message: StoredMessage) -> None:
        heapq.heappush(self.ready, message.sequence_number)

    def clear(self) -> None:
        self.messages.clear()
        self.ready.clear()
        self.expiries.clear()
        self.schedule.clear()
        self.seen_message_ids.clear()


class Namespace:
    """All queues of the emulator and the rules that move messages between states."""

    def __init__(self, config: EmulatorConfig, clock: Clock = wall_clock_ms) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self.name = config.namespace
        self._queues: dict[str, QueueEntity] = {}
        self._transfer_dead_letter_queues: dict[str, QueueEntity] = {}
        for name, properties in config.queues.items():
            dead_letter_queue = QueueEntity(f"{name}/{DEAD_LETTER_QUEUE_SUFFIX}", properties)
            self._queues[name.lower()] = QueueEntity(name, properties, dead_letter_queue)
            transfer = QueueEntity(f"{name}/{TRANSFER_DEAD_LETTER_QUEUE_SUFFIX}", properties)
            self._transfer_dead_letter_queues[name.lower()] = transfer
        self._locks: dict[uuid.UUID, tuple[QueueEntity, StoredMessage]] = {}
        self.sweeps = 0  # how many times advance() has run: tests wait for one after moving the clock

    # ----------------------------------------------------------------- addressing
    def resolve(self, path: str) -> QueueEntity:
        """The queue or sub-queue at ``path`` (``name``, ``name/$DeadLetterQueue`` or the transfer DLQ, any case)."""
        with self._lock:
            name, _, sub_queue = path.strip("/").partition("/")
            queue = self._queues.get(name.lower())
            if queue is not None and sub_queue.lower() == TRANSFER_DEAD_LETTER_QUEUE_SUFFIX.lower():
                return self._transfer_dead_letter_queues[name.lower()]
            if queue is None or sub_queue.lower() not in ("", DEAD_LETTER_QUEUE_SUFFIX.lower()):
                raise UnknownEntityError(f"The messaging entity '{path}' could not be found.")
            if sub_queue and queue.dead_letter_queue is not None:
                return queue.dead_letter_queue
            return queue

    @property
    def queue_names(self) -> list[str]:
        with self._lock:
            return [queue.name for queue in self._queues.values()]

    # ----------------------------------------------------------------- sending
    def enqueue(self, entity: QueueEntity, encoded_messages: Iterable[bytes]) -> list[int | None]:
        """Store messages sent to ``entity``; returns each sequence number, or None for a dropped duplicate."""
        with self._lock:
            return [self._enqueue_one(entity, parse_message(raw), scheduled_ms=None) for raw in encoded_messages]

    def schedule(self, entity: QueueEntity, encoded_messages: Iterable[bytes]) -> list[int]:
        """Store messages for later; the time is each message's ``x-opt-scheduled-enqueue-time``.

        Returns one sequence number per message, as Service Bus does even for a message that duplicate
        detection drops (that number names nothing: cancelling it fails like any unknown number).
        """
        with self._lock:
            sequence_numbers = []
            for raw in encoded_messages:
                parsed = parse_message(raw)
                when = parsed.annotations.get(SCHEDULED_ENQUEUE_TIME)
                scheduled_ms = int(when) if when is not None else self._clock()
                sequence_number = self._enqueue_one(entity, parsed, scheduled_ms=scheduled_ms)
                if sequence_number is None:
                    entity.last_sequence_number += 1
                    sequence_number = entity.last_sequence_number
                sequence_numbers.append(sequence_number)
            return sequence_numbers

    def cancel_scheduled(self, entity: QueueEntity, sequence_numbers: Iterable[int]) -> None:
        """Remove scheduled messages; if any number is not scheduled (activated, cancelled, unknown), none is."""
        with self._lock:
            wanted = list(sequence_numbers)
            missing = [
                n
                for n in wanted
                if (message := entity.messages.get(n)) is None or message.state is not MessageState.SCHEDULED
            ]
            if missing:
                raise MessageNotFoundError(
                    f"Messages not found. Missing sequence numbers: {', '.join(map(str, missing))}"
                )
            for sequence_number in wanted:
                del entity.messages[sequence_number]

    def _enqueue_one(self, entity: QueueEntity, parsed: ParsedMessage, *, scheduled_ms: int | None) -> int | None:
        now = self._clock()
        properties = entity.properties
        if properties.requires_duplicate_detection and parsed.message_id is not None:
            key = _message_id_key(parsed.message_id)
            forget_after = entity.seen_message_ids.get(key)
            if forget_after is not None and forget_after > now:
                return None
            entity.seen_message_ids.pop(key, None)  # re-insert so the dict stays in forget-after order
            window_ms = _ms(properties.duplicate_detection_history_time_window.total_seconds())
            entity.seen_message_ids[key] = now + window_ms
        if scheduled_ms is None:
            annotated = parsed.annotations.get(SCHEDULED_ENQUEUE_TIME)
            if annotated is not None and int(annotated) > now:
                scheduled_ms = int(annotated)
        entity.last_sequence_number += 1
        message = StoredMessage(
            sequence_number=entity.last_sequence_number,
            message=parsed,
            enqueued_ms=now,
            expires_at_ms=None,
        )
        entity.messages[message.sequence_number] = message
        if scheduled_ms is not None and scheduled_ms > now:
            message.state = MessageState.SCHEDULED
            message.scheduled_ms = scheduled_ms
            heapq.heappush(entity.schedule, (scheduled_ms, message.sequence_number))
        else:
            self._activate(entity, message, now)
        return message.sequence_number

    def _activate_scheduled(self, entity: QueueEntity, message: StoredMessage, now: int) -> None:
        """Enqueue a scheduled message as if sent now: a new sequence number, after everything enqueued before."""
        del entity.messages[message.sequence_number]
        entity.last_sequence_number += 1
        message.sequence_number = entity.last_sequence_number
        entity.messages[message.sequence_number] = message
        self._activate(entity, message, now)

    def _activate(self, entity: QueueEntity, message: StoredMessage, now: int) -> None:
        """Make a message visible to receivers; its time-to-live counts from this moment."""
        message.state = MessageState.ACTIVE
        message.enqueued_ms = now
        ttl_ms = _ms(entity.properties.default_message_time_to_live.total_seconds())
        if message.message.header.ttl_ms is not None:
            ttl_ms = min(ttl_ms, message.message.header.ttl_ms)
        message.time_to_live_ms = ttl_ms
        message.expires_at_ms = now + ttl_ms
        heapq.heappush(entity.expiries, (message.expires_at_ms, message.sequence_number))
        entity.mark_ready(message)

    # ----------------------------------------------------------------- receiving
    def acquire_next(self, entity: QueueEntity, *, peek_lock: bool) -> AcquiredMessage | None:
        """Take the lowest-sequence available message: lock it (peek-lock) or remove it (receive-and-delete)."""
        with self._lock:
            now = self._clock()
            while entity.ready:
                sequence_number = heapq.heappop(entity.ready)
                message = entity.messages.get(sequence_number)
                if message is None or message.state is not MessageState.ACTIVE or message.lock is not None:
                    continue  # stale entry: settled, deferred or already locked since it was marked
                if message.expired(now):
                    self._expire(entity, message)
                    continue
                if peek_lock:
                    token = self._lock_message(entity, message, now)
                    return AcquiredMessage(sequence_number, message.encode(), token)
                del entity.messages[sequence_number]
                return AcquiredMessage(sequence_number, message.encode(), None)
            return None

    def _lock_message(self, entity: QueueEntity, message: StoredMessage, now: int) -> uuid.UUID:
        token = uuid.uuid4()
        message.lock = MessageLock(token, now + _ms(entity.properties.lock_duration.total_seconds()))
        self._locks[token] = (entity, message)
        return token

    def peek(self, entity: QueueEntity, from_sequence_number: int, count: int) -> list[bytes]:
        """Encoded messages from ``from_sequence_number`` on, in any state, without locking them."""
        with self._lock:
            chosen = sorted(s for s in entity.messages if s >= from_sequence_number)[: max(count, 0)]
            return [entity.messages[s].encode() for s in chosen]

    def receive_deferred(
        self, entity: QueueEntity, sequence_numbers: Iterable[int], *, peek_lock: bool
    ) -> list[tuple[bytes, uuid.UUID | None]]:
        """Deferred messages by sequence number; all must exist and be deferred, or nothing changes."""
        with self._lock:
            wanted = list(sequence_numbers)
            for sequence_number in wanted:
                message = entity.messages.get(sequence_number)
                if message is None or message.state is not MessageState.DEFERRED:
                    raise MessageNotFoundError(
                        f"Failed to retrieve the deferred message with sequence number {sequence_number}."
                    )
            now = self._clock()
            results: list[tuple[bytes, uuid.UUID | None]] = []
            for sequence_number in wanted:
                message = entity.messages[sequence_number]
                if peek_lock:
                    token = self._lock_message(entity, message, now)
                    results.append((message.encode(), token))
                else:
                    del entity.messages[sequence_number]
                    results.append((message.encode(), None))
            return results

    # ----------------------------------------------------------------- settlement
    def holds_lock(self, token: uuid.UUID) -> bool:
        """True while ``token`` is a live lock (not settled, not expired)."""
        with self._lock:
            held = self._locks.get(token)
            return held is not None and held[1].lock is not None and held[1].lock.locked_until_ms > self._clock()

    def complete(self, token: uuid.UUID) -> QueueEntity:
        with self._lock:
            entity, message = self._take_lock(token)
            del entity.messages[message.sequence_number]
            return entity

    def abandon(self, token: uuid.UUID) -> QueueEntity:
        """Unlock and count a failed delivery; past the queue's max delivery count, dead-letter."""
        with self._lock:
            entity, message = self._take_lock(token)
            self._count_failed_delivery(entity, message)
            return entity

    def release(self, token: uuid.UUID) -> QueueEntity:
        """Unlock without counting a delivery (the client never handed the message to the application)."""
        with self._lock:
            entity, message = self._take_lock(token)
            if message.expired(self._clock()):
                self._expire(entity, message)
            elif message.state is MessageState.ACTIVE:
                entity.mark_ready(message)
            return entity

    def defer(self, token: uuid.UUID) -> QueueEntity:
        with self._lock:
            entity, message = self._take_lock(token)
            message.state = MessageState.DEFERRED
            return entity

    def dead_letter(self, token: uuid.UUID, reason: str | None, description: str | None) -> QueueEntity:
        with self._lock:
            entity, message = self._take_lock(token)
            self._move_to_dead_letter_queue(entity, message, DeadLetterInfo(reason, description))
            return entity

    def renew_lock(self, token: uuid.UUID) -> int:
        """Extend a live lock by the queue's lock duration; returns the new locked-until time."""
        with self._lock:
            if not self.holds_lock(token):
                raise LockLostError(token)
            entity, message = self._locks[token]
            locked_until = self._clock() + _ms(entity.properties.lock_duration.total_seconds())
            message.lock = MessageLock(token, locked_until)
            return locked_until

    def _take_lock(self, token: uuid.UUID) -> tuple[QueueEntity, StoredMessage]:
        if not self.holds_lock(token):
            raise LockLostError(token)
        entity, message = self._locks.pop(token)
        message.lock = None
        return entity, message

    def _count_failed_delivery(self, entity: QueueEntity, message: StoredMessage) -> None:
        message.delivery_count += 1
        max_count = entity.properties.max_delivery_count
        if message.expired(self._clock()):
            # Its time to live passed while it was locked: never delivered again (Service Bus does the same).
            self._expire(entity, message)
        elif not entity.is_dead_letter_queue and message.delivery_count >= max_count:
            info = DeadLetterInfo(
                MAX_DELIVERY_COUNT_EXCEEDED,
                f"Message could not be consumed after {max_count} delivery attempts.",
            )
            self._move_to_dead_letter_queue(entity, message, info)
        elif message.state is MessageState.ACTIVE:
            entity.mark_ready(message)

    def _move_to_dead_letter_queue(self, entity: QueueEntity, message: StoredMessage, info: DeadLetterInfo) -> None:
        message.dead_letter = info
        message.state = MessageState.ACTIVE
        message.expires_at_ms = None  # dead-lettered messages do not expire
        target = entity.dead_letter_queue or entity  # dead-lettering inside the DLQ keeps it there
        if target is not entity:
            del entity.messages[message.sequence_number]
            target.messages[message.sequence_number] = message
        target.mark_ready(message)

    def _expire(self, entity: QueueEntity, message: StoredMessage) -> None:
        if entity.properties.dead_lettering_on_message_expiration:
            self._move_to_dead_letter_queue(entity, message, DeadLetterInfo(TTL_EXPIRED, _TTL_EXPIRED_DESCRIPTION))
        else:
            del entity.messages[message.sequence_number]

    # ----------------------------------------------------------------- time passing
    def advance(self) -> set[QueueEntity]:
        """Apply everything due by now: lock expiry, scheduled enqueue, time-to-live, duplicate history.

        Returns the entities that may have newly deliverable messages (the broker offers them to receivers).
        """
        with self._lock:
            self.sweeps += 1
            now = self._clock()
            changed: set[QueueEntity] = set()
            for token, (entity, message) in list(self._locks.items()):
                if message.lock is not None and message.lock.locked_until_ms <= now:
                    del self._locks[token]
                    message.lock = None
                    self._count_failed_delivery(entity, message)
                    changed.add(entity)
                    if entity.dead_letter_queue is not None:
                        changed.add(entity.dead_letter_queue)
            for entity in self._all_entities():
                if self._advance_entity(entity, now):
                    changed.add(entity)
                    if entity.dead_letter_queue is not None:
                        changed.add(entity.dead_letter_queue)
            return changed

    def _advance_entity(self, entity: QueueEntity, now: int) -> bool:
        changed = False
        while entity.schedule and entity.schedule[0][0] <= now:
            scheduled_ms, sequence_number = heapq.heappop(entity.schedule)
            message = entity.messages.get(sequence_number)
            if message is not None and message.state is MessageState.SCHEDULED:  # else cancelled
                self._activate_scheduled(entity, message, scheduled_ms)
                changed = True
        while entity.expiries and entity.expiries[0][0] <= now:
            _, sequence_number = heapq.heappop(entity.expiries)
            message = entity.messages.get(sequence_number)
            if message is None or not message.expired(now):
                continue  # settled, dead-lettered, or renumbered/re-activated with its own later entry
            if message.lock is not None:
                # A locked message is left to its holder; once the lock ends (settled, abandoned or
                # expired) it is expired instead of delivered again. Look again when the lock ends.
                heapq.heappush(entity.expiries, (max(message.lock.locked_until_ms, now + 1), sequence_number))
                continue
            self._expire(entity, message)
            changed = True
        for key, forget_after in list(entity.seen_message_ids.items()):
            if forget_after > now:
                break
            del entity.seen_message_ids[key]
        return changed

    def _all_entities(self) -> Iterator[QueueEntity]:
        for queue in self._queues.values():
            yield queue
            if queue.dead_letter_queue is not None:
                yield queue.dead_letter_queue

    # ----------------------------------------------------------------- inspection (thread-safe)
    def depths(self, queue: str) -> QueueDepths:
        with self._lock:
            entity = self.resolve(queue)
            counts = dict.fromkeys(MessageState, 0)
            for message in entity.messages.values():
                counts[message.state] += 1
            dead_letter_queue = entity.dead_letter_queue
            return QueueDepths(
                active=counts[MessageState.ACTIVE],
                scheduled=counts[MessageState.SCHEDULED],
                deferred=counts[MessageState.DEFERRED],
                dead_lettered=len(dead_letter_queue.messages) if dead_letter_queue is not None else 0,
                locked=sum(1 for message in entity.messages.values() if message.lock is not None),
            )

    def snapshots(self, path: str) -> list[MessageSnapshot]:
        """Every message of a queue or dead-letter queue, in sequence order."""
        with self._lock:
            entity = self.resolve(path)
            return [_snapshot(entity, entity.messages[s]) for s in sorted(entity.messages)]

    def find(self, queue: str, *, message_id: Any = None, sequence_number: int | None = None) -> MessageSnapshot | None:
        """A message of ``queue`` or its dead-letter queue, by message id or sequence number."""
        with self._lock:
            entity = self.resolve(queue)
            candidates = [entity, *([entity.dead_letter_queue] if entity.dead_letter_queue else [])]
            for candidate in candidates:
                for message in candidate.messages.values():
                    if sequence_number is not None and message.sequence_number != sequence_number:
                        continue
                    if message_id is not None and message.message.message_id != message_id:
                        continue
                    return _snapshot(candidate, message)
            return None

    def expire_locks(self, queue: str | None = None) -> int:
        """Make held locks (of one queue, or all) expire now; the next :meth:`advance` redelivers them."""
        with self._lock:
            now = self._clock()
            expired = 0
            for entity, message in self._locks.values():
                if message.lock is not None and (queue is None or _same_queue(entity, queue)):
                    message.lock.locked_until_ms = now
                    expired += 1
            return expired

    def reset(self) -> None:
        """Forget every message, lock and duplicate-detection entry (sequence numbers keep counting up)."""
        with self._lock:
            for entity in self._all_entities():
                entity.clear()
            self._locks.clear()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _message_id_key(message_id: Any) -> tuple[str, Any]:
    """Duplicate detection compares ids by type and value (a string '1' is not the number 1)."""
    return (type(message_id).__name__, message_id)


def _same_queue(entity: QueueEntity, queue: str) -> bool:
    return entity.name.lower().split("/")[0] == queue.lower().strip("/").split("/")[0]


def _utc(milliseconds: int | None) -> datetime | None:
    return None if milliseconds is None else datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def _snapshot(entity: QueueEntity, message: StoredMessage) -> MessageSnapshot:
    properties = list(message.message.properties) + [None] * PropertiesField.COUNT
    application_properties: Mapping[Any, Any] = {}
    body_parts: list[tuple[int, Any]] = []
    for code, section in message.message.bare_sections_raw:
        if code == APPLICATION_PROPERTIES:
            application_properties = dict(decode_section_value(section) or {})
        elif code in (DATA, AMQP_SEQUENCE, AMQP_VALUE):
            body_parts.append((code, decode_section_value(section)))
    body: Any = body_parts[0][1] if len(body_parts) == 1 else [value for _, value in body_parts]
    return MessageSnapshot(
        queue=entity.name,
        in_dead_letter_queue=entity.is_dead_letter_queue,
        sequence_number=message.sequence_number,
        message_id=properties[PropertiesField.MESSAGE_ID],
        correlation_id=properties[PropertiesField.CORRELATION_ID],
        content_type=_text_or_none(properties[PropertiesField.CONTENT_TYPE]),
        subject=_text_or_none(properties[PropertiesField.SUBJECT]),
        application_properties=application_properties,
        body=body,
        state=message.state,
        delivery_count=message.delivery_count,
        enqueued_time_utc=datetime.fromtimestamp(message.enqueued_ms / 1000, tz=UTC),
        scheduled_enqueue_time_utc=_utc(message.scheduled_ms),
        expires_at_utc=_utc(message.expires_at_ms),
        locked=message.lock is not None,
        dead_letter_reason=message.dead_letter.reason if message.dead_letter else None,
        dead_letter_description=message.dead_letter.description if message.dead_letter else None,
    )


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
