"""Publish validated events to the Service Bus queue the attestation consumer reads, as a CRM would.

One event becomes one message:

==================  ===========================================================================
body                the event as canonical JSON (contract v1 or v2, aliases, no nulls), UTF-8
message_id          ``{eventId}/{digest of the body}`` (``shared.servicebus.messages``): the queue's duplicate
                    detection (one day in production) drops a resend of the same event, while a
                    correction — same event id, new content — has a new id and reaches the consumer
correlation_id      the event's ``correlationId``, when it has one
content_type        ``application/json``
subject             the contract's event type: ``mca.customer.signed.v1`` or ``mca.acceptance.requested.v2``
==================  ===========================================================================

Messages go out in batches from ``create_message_batch``: a batch is sent when it holds ``batch_size``
messages or the next message does not fit, and a new batch is started. Functions here take the sender
from outside (a ``ServiceBusSender``, or a test's recording fake); they open no connection themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch
from azure.servicebus.exceptions import MessageSizeExceededError

from shared.servicebus.messages import AnyEvent, event_message

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100


class BatchSender(Protocol):
    """The part of ``azure.servicebus.aio.ServiceBusSender`` publishing uses."""

    async def create_message_batch(self, max_size_in_bytes: int | None = None) -> ServiceBusMessageBatch: ...

    async def send_messages(self, message: ServiceBusMessageBatch) -> None: ...


async def publish_events(
    sender: BatchSender,
    events: Sequence[AnyEvent],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_sent: Callable[[int], None] = lambda _: None,
) -> int:
    """Send ``events`` in batches of at most ``batch_size``; ``on_sent(n)`` after each batch. Returns batches sent.

    A send failure propagates: the batches before it were sent, and sending the whole file again is safe
    (duplicate detection, then the idempotent consumer).
    """
    return await send_in_batches(sender, (event_message(e) for e in events), batch_size=batch_size, on_sent=on_sent)


async def send_in_batches(
    sender: BatchSender,
    messages: Iterable[ServiceBusMessage],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_sent: Callable[[int], None] = lambda _: None,
) -> int:
    """Send ``messages`` in as few transfers as fit (at most ``batch_size`` each). Returns batches sent.

    A message too large for an empty batch raises ``MessageSizeExceededError`` (a contract-valid event is
    far smaller than any Service Bus limit).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    batches = 0
    batch = await sender.create_message_batch()
    for message in messages:
        if len(batch) >= batch_size:
            batches += await _send(sender, batch, on_sent)
            batch = await sender.create_message_batch()
        try:
            batch.add_message(message)
        except MessageSizeExceededError:
            if len(batch) == 0:
                raise
            batches += await _send(sender, batch, on_sent)
            batch = await sender.create_message_batch()
            batch.add_message(message)
    if len(batch):
        batches += await _send(sender, batch, on_sent)
    return batches


async def _send(sender: BatchSender, batch: ServiceBusMessageBatch, on_sent: Callable[[int], None]) -> int:
    count = len(batch)
    await sender.send_messages(batch)
    log.info("batch of %d sent", count, extra={"event": "publish.batch_sent", "messages": count})
    on_sent(count)
    return 1
