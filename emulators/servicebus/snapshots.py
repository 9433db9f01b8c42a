"""Read-only views of the emulator's state, handed to tests by the inspection API (never over AMQP)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class MessageState(enum.IntEnum):
    """Values of the ``x-opt-message-state`` annotation (what the SDK reports as ``message.state``)."""

    ACTIVE = 0
    DEFERRED = 1
    SCHEDULED = 2


@dataclass(frozen=True, slots=True)
class QueueDepths:
    """Message counts of one queue, as Service Bus reports them (``active`` includes locked messages)."""

    active: int
    scheduled: int
    deferred: int
    dead_lettered: int
    locked: int

    @property
    def total(self) -> int:
        return self.active + self.scheduled + self.deferred + self.dead_lettered


@dataclass(frozen=True, slots=True)
class MessageSnapshot:
    """One stored message, decoded for assertions.

    ``body`` is the payload as the SDK would present it: ``bytes`` for a single ``data`` section, a list
    of ``bytes`` for several, or the decoded value of an ``amqp-value``/``amqp-sequence`` body.
    """

    queue: str
    in_dead_letter_queue: bool
    sequence_number: int
    message_id: Any
    correlation_id: Any
    content_type: str | None
    subject: str | None
    application_properties: Mapping[Any, Any]
    body: Any
    state: MessageState
    delivery_count: int
    enqueued_time_utc: datetime
    scheduled_enqueue_time_utc: datetime | None
    expires_at_utc: datetime | None
    locked: bool
    dead_letter_reason: str | None
    dead_letter_description: str | None
