"""The same semantics through the asynchronous SDK (``azure.servicebus.aio``), which the function app uses.

Handlers live for the whole module on one event loop (``loop_scope="module"``); each test is bounded by
``asyncio.timeout`` so a missing echo or delivery fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.exceptions import MessageLockLostError

from emulators.servicebus import ServiceBusEmulator

from .receiving import receive_exactly_async, sequence_number_of

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

QUEUE = "basic"
TEST_TIMEOUT_S = 30


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(servicebus_emulator_module: ServiceBusEmulator) -> AsyncIterator[ServiceBusClient]:
    async with ServiceBusClient.from_connection_string(
        servicebus_emulator_module.connection_string, retry_total=0
    ) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sender(client: ServiceBusClient) -> AsyncIterator[ServiceBusSender]:
    async with client.get_queue_sender(QUEUE) as sender:
        yield sender


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver(client: ServiceBusClient) -> AsyncIterator[ServiceBusReceiver]:
    async with client.get_queue_receiver(QUEUE, max_wait_time=5) as receiver:
        yield receiver


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dead_letter_receiver(client: ServiceBusClient) -> AsyncIterator[ServiceBusReceiver]:
    async with client.get_queue_receiver(QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as receiver:
        yield receiver


async def test_send_receive_complete(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """An async send, receive and complete round-trips the message and empties the queue."""
    async with asyncio.timeout(TEST_TIMEOUT_S):
        await sender.send_messages(
            ServiceBusMessage(b"hello", message_id="a-1", application_properties={"kind": "test"})
        )
        [message] = await receive_exactly_async(receiver, 1)
        await receiver.complete_message(message)
    assert message.message_id == "a-1"
    assert message.application_properties == {b"kind": b"test"}
    assert emulator.queue_depths(QUEUE).total == 0


async def test_batch_send_and_peek(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """An async batch is split into messages that peek returns in sequence order."""
    async with asyncio.timeout(TEST_TIMEOUT_S):
        batch = await sender.create_message_batch()
        for i in range(4):
            batch.add_message(ServiceBusMessage(f"b{i}".encode()))
        await sender.send_messages(batch)
        peeked = await receiver.peek_messages(max_message_count=10, timeout=5)
    assert [b"".join(m.body) for m in peeked] == [b"b0", b"b1", b"b2", b"b3"]
    assert emulator.queue_depths(QUEUE).active == 4


async def test_abandon_then_dead_letter(
    emulator: ServiceBusEmulator,
    sender: ServiceBusSender,
    receiver: ServiceBusReceiver,
    dead_letter_receiver: ServiceBusReceiver,
) -> None:
    """Abandon redelivers with count + 1; dead-letter then moves it to the DLQ with reason and description."""
    async with asyncio.timeout(TEST_TIMEOUT_S):
        await sender.send_messages(ServiceBusMessage(b"flaky"))
        [first] = await receive_exactly_async(receiver, 1)
        await receiver.abandon_message(first)
        [second] = await receive_exactly_async(receiver, 1)
        await receiver.dead_letter_message(second, reason="Permanent", error_description="HTTP 400 from upstream")
        [dead] = await receive_exactly_async(dead_letter_receiver, 1)
        await dead_letter_receiver.complete_message(dead)
    assert (first.delivery_count, second.delivery_count) == (0, 1)
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == ("Permanent", "HTTP 400 from upstream")


async def test_defer_and_receive_deferred(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """An async defer hides the message until it is received by sequence number."""
    async with asyncio.timeout(TEST_TIMEOUT_S):
        await sender.send_messages(ServiceBusMessage(b"deferred"))
        [message] = await receive_exactly_async(receiver, 1)
        await receiver.defer_message(message)
        assert await receiver.receive_messages(max_wait_time=0.5) == []
        [deferred] = await receiver.receive_deferred_messages([sequence_number_of(message)], timeout=5)
        await receiver.complete_message(deferred)
    assert emulator.queue_depths(QUEUE).total == 0


async def test_renew_lock_and_broker_side_lock_loss(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Renewing keeps the lock; once the broker drops it, settling raises MessageLockLostError."""
    async with asyncio.timeout(TEST_TIMEOUT_S):
        await sender.send_messages(ServiceBusMessage(b"locked"))
        [message] = await receive_exactly_async(receiver, 1)
        renewed = await receiver.renew_message_lock(message, timeout=5)
        emulator.expire_locks(QUEUE)
        [redelivered] = await receive_exactly_async(receiver, 1)
        with pytest.raises(MessageLockLostError):
            await receiver.complete_message(message)
        await receiver.complete_message(redelivered)
    assert renewed > datetime.now(UTC)
    assert redelivered.delivery_count == 1


async def test_schedule_and_cancel(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Async schedule_messages returns sequence numbers; the cancelled one never arrives."""
    async with asyncio.timeout(TEST_TIMEOUT_S):
        kept, cancelled = await sender.schedule_messages(
            [ServiceBusMessage(b"kept"), ServiceBusMessage(b"cancelled")],
            datetime.now(UTC) + timedelta(seconds=1),
            timeout=5,
        )
        await sender.cancel_scheduled_messages(cancelled, timeout=5)
        [message] = await receive_exactly_async(receiver, 1, within=15)
        await receiver.complete_message(message)
    assert message.sequence_number is not None
    assert message.sequence_number > max(kept, cancelled)  # activation numbers it anew
    assert emulator.queue_depths(QUEUE).total == 0


async def test_receive_and_delete(
    emulator: ServiceBusEmulator, client: ServiceBusClient, sender: ServiceBusSender
) -> None:
    """An async RECEIVE_AND_DELETE receiver takes messages off the queue as they are delivered."""
    async with asyncio.timeout(TEST_TIMEOUT_S):
        await sender.send_messages([ServiceBusMessage(b"x"), ServiceBusMessage(b"y")])
        async with client.get_queue_receiver(
            QUEUE, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE, max_wait_time=5
        ) as deleting_receiver:
            messages = await receive_exactly_async(deleting_receiver, 2)
    assert [b"".join(m.body) for m in messages] == [b"x", b"y"]
    assert emulator.queue_depths(QUEUE).total == 0
