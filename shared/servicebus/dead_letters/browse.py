"""Browsing and selecting dead letters: peeking pages through the whole DLQ, locking and changing nothing.

``peek_all`` pages with ``peek_messages(sequence_number=next)``; ``DeadLetterFilter`` selects by reason,
enqueue time, customer and event id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from azure.servicebus import ServiceBusReceivedMessage

from shared.servicebus.dead_letters.records import DeadLetterRecord

PEEK_PAGE_SIZE = 100


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
