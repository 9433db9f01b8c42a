"""Time to live that passes while a message is locked, and the time to live a receiver sees.

The emulator runs on a :class:`ShiftableClock`: a test moves the clock past the TTL (but not past the
lock) and waits for the emulator's sweep to have run, instead of sleeping through real minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage

from emulators.servicebus import QueueProperties, ServiceBusEmulator
from emulators.servicebus.testing import ShiftableClock, running_emulator, wait_for_sweeps

from .receiving import receive_exactly, wait_for

pytestmark = pytest.mark.integration

TTL = timedelta(minutes=1)
LOCK = timedelta(minutes=5)
QUEUES = {
    "to-dlq": QueueProperties(
        lock_duration=LOCK, default_message_time_to_live=TTL, dead_lettering_on_message_expiration=True
    ),
    "dropped": QueueProperties(lock_duration=LOCK, default_message_time_to_live=TTL),
}


@pytest.fixture(scope="module")
def clock() -> ShiftableClock:
    return ShiftableClock()


@pytest.fixture(scope="module")
def ttl_emulator(clock: ShiftableClock) -> Iterator[ServiceBusEmulator]:
    with running_emulator(queues=QUEUES, clock=clock) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client(ttl_emulator: ServiceBusEmulator) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(ttl_emulator.connection_string, retry_total=0) as client:
        yield client


@pytest.fixture
def emulator(ttl_emulator: ServiceBusEmulator) -> ServiceBusEmulator:
    ttl_emulator.reset()
    return ttl_emulator


def outlive_the_ttl(emulator: ServiceBusEmulator, clock: ShiftableClock) -> None:
    """Move past the message's TTL (its 5-minute lock still held) and let the sweep see it locked."""
    clock.advance(TTL + timedelta(seconds=30))
    wait_for_sweeps(emulator)


def test_abandoned_after_its_ttl_is_dead_lettered_not_redelivered(
    emulator: ServiceBusEmulator, clock: ShiftableClock, client: ServiceBusClient
) -> None:
    """A message whose TTL passes while locked and is then abandoned moves to the DLQ as TTLExpiredException."""
    with client.get_queue_sender("to-dlq") as sender, client.get_queue_receiver("to-dlq", max_wait_time=5) as receiver:
        sender.send_messages(ServiceBusMessage(b"slow", message_id="slow-1"))
        [message] = receive_exactly(receiver, 1)
        outlive_the_ttl(emulator, clock)

        receiver.abandon_message(message)

        depths = emulator.queue_depths("to-dlq")
        assert (depths.active, depths.dead_lettered) == (0, 1)
        [dead] = emulator.dead_letters("to-dlq")
        assert (dead.message_id, dead.dead_letter_reason) == ("slow-1", "TTLExpiredException")


def test_lock_expiring_after_its_ttl_dead_letters_instead_of_redelivering(
    emulator: ServiceBusEmulator, clock: ShiftableClock, client: ServiceBusClient
) -> None:
    """A message whose TTL passes while locked and whose lock then expires is dead-lettered, not delivered again."""
    with client.get_queue_sender("to-dlq") as sender, client.get_queue_receiver("to-dlq", max_wait_time=5) as receiver:
        sender.send_messages(ServiceBusMessage(b"stalled"))
        receive_exactly(receiver, 1)
        outlive_the_ttl(emulator, clock)

        emulator.expire_locks("to-dlq")
        wait_for(lambda: emulator.queue_depths("to-dlq").dead_lettered == 1, within=5, what="TTL dead-lettering")
        assert emulator.queue_depths("to-dlq").active == 0


def test_abandoned_after_its_ttl_is_dropped_without_dead_lettering(
    emulator: ServiceBusEmulator, clock: ShiftableClock, client: ServiceBusClient
) -> None:
    """Without DeadLetteringOnMessageExpiration, a message abandoned after its TTL passed is gone."""
    with (
        client.get_queue_sender("dropped") as sender,
        client.get_queue_receiver("dropped", max_wait_time=5) as receiver,
    ):
        sender.send_messages(ServiceBusMessage(b"slow"))
        [message] = receive_exactly(receiver, 1)
        outlive_the_ttl(emulator, clock)

        receiver.abandon_message(message)

        assert emulator.queue_depths("dropped").total == 0


def test_received_time_to_live_is_the_shorter_of_message_and_queue(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """A received message's time_to_live is the queue default when the message set none or a longer one."""
    sent = [
        ServiceBusMessage(b"none"),
        ServiceBusMessage(b"longer", time_to_live=timedelta(hours=1)),
        ServiceBusMessage(b"shorter", time_to_live=timedelta(seconds=10)),
    ]
    with (
        client.get_queue_sender("dropped") as sender,
        client.get_queue_receiver("dropped", max_wait_time=5) as receiver,
    ):
        sender.send_messages(sent)
        received: list[ServiceBusReceivedMessage] = receive_exactly(receiver, 3)
        for message in received:
            receiver.complete_message(message)

    assert [m.time_to_live for m in received] == [TTL, TTL, timedelta(seconds=10)]
