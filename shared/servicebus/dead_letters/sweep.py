"""Sweeping the DLQ in peek-lock mode: what replay and purge share.

Messages a sweep receives but does not settle (not matching, over the limit, failed) keep their lock
until the sweep ends and are then abandoned, so each receive brings new messages; their sequence
numbers are remembered, and the sweep stops when a receive brings nothing new or nothing at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus.exceptions import MessageAlreadySettled, ServiceBusError

from shared.servicebus.dead_letters.records import DeadLetterRecord

RECEIVE_BATCH_SIZE = 50

log = logging.getLogger(__name__)


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


async def sweep(
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
                    "dead letter not abandoned (its lock lapses on its own): %s",
                    type(exc).__name__,
                    extra={
                        "event": "dlq.abandon_failed",
                        "sequence_number": message.sequence_number,
                        "error": type(exc).__name__,
                    },
                )
    return passed_over
