"""Purge: complete (delete) exactly the dead letters an export has just written, nothing that arrived since."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.exceptions import MessageAlreadySettled, ServiceBusError

from shared.servicebus.dead_letters.records import DeadLetterRecord
from shared.servicebus.dead_letters.sweep import RECEIVE_BATCH_SIZE, LockingReceiver, sweep

log = logging.getLogger(__name__)


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
            log.warning(
                "dead letter not purged: %s",
                type(exc).__name__,
                extra={"event": "dlq.purge_failed", "sequence_number": record.sequence_number, "error": str(exc)},
            )
            return False
        remaining.discard(record.sequence_number)
        on_deleted(record)
        log.info(
            "dead letter purged",
            extra={"event": "dlq.purged", "sequence_number": record.sequence_number, "event_id": record.event_id},
        )
        return True

    await sweep(
        receiver,
        wanted=lambda record: record.sequence_number in remaining,
        act=act,
        finished=lambda: not remaining,
        batch_size=batch_size,
        max_wait_time=max_wait_time,
    )
    return total - len(remaining)
