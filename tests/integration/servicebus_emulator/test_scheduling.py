"""Scheduled messages as Azure treats them: enqueued as if sent at their time, numbers that name nothing fail.

The emulator runs on a :class:`ShiftableClock`: a test schedules an hour ahead, moves the clock past that
hour and waits (bounded) for the emulator's sweep to activate the message, instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.exceptions import MessageNotFoundError

from emulators.servicebus import QueueProperties, ServiceBusEmulator
from emulators.servicebus.testing import ShiftableClock, running_emulator

from .receiving import receive_exactly, sequence_number_of, wait_for

pytestmark = pytest.mark.integration

QUEUE = "scheduled"
QUEUES = {QUEUE: QueueProperties(requires_duplicate_detection=True, default_message_time_to_live=timedelta(days=1))}


@pytest.fixture(scope="module")
def clock() -> ShiftableClock:
    return ShiftableClock()


@pytest.fixture(scope="module")
def scheduling_emulator(clock: ShiftableClock) -> Iterator[ServiceBusEmulator]:
    with running_emulator(queues=QUEUES, clock=clock) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client(scheduling_emulator: ServiceBusEmulator) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(scheduling_emulator.connection_string, retry_total=0) as client:
        yield client


@pytest.fixture(scope="module")
def sender(client: ServiceBusClient) -> Iterator[ServiceBusSender]:
    with client.get_queue_sender(QUEUE) as sender:
        yield sender


@pytest.fixture(scope="module")
def receiver(client: ServiceBusClient) -> Iterator[ServiceBusReceiver]:
    with client.get_queue_receiver(QUEUE, max_wait_time=5) as receiver:
        yield receiver


@pytest.fixture
def emulator(scheduling_emulator: ServiceBusEmulator) -> ServiceBusEmulator:
    scheduling_emulator.reset()
    return scheduling_emulator


def an_hour_ahead(clock: ShiftableClock) -> datetime:
    return datetime.fromtimestamp(clock() / 1000, tz=UTC) + timedelta(hours=1)


def activate_scheduled(emulator: ServiceBusEmulator, clock: ShiftableClock) -> None:
    """Move the clock past the schedule and wait for the sweep to enqueue every scheduled message."""
    clock.advance(timedelta(hours=1, minutes=1))
    wait_for(lambda: emulator.queue_depths(QUEUE).scheduled == 0, what="scheduled activation")


def test_activated_message_gets_a_new_number_after_earlier_messages(
    emulator: ServiceBusEmulator,
    clock: ShiftableClock,
    sender: ServiceBusSender,
    receiver: ServiceBusReceiver,
) -> None:
    """On activation a scheduled message gets a new sequence number and is delivered after messages sent earlier."""
    [scheduled_number] = sender.schedule_messages(ServiceBusMessage(b"scheduled"), an_hour_ahead(clock), timeout=5)
    sender.send_messages([ServiceBusMessage(b"first"), ServiceBusMessage(b"second")])

    activate_scheduled(emulator, clock)
    received = receive_exactly(receiver, 3)
    for message in received:
        receiver.complete_message(message)

    assert [b"".join(m.body) for m in received] == [b"first", b"second", b"scheduled"]
    numbers = [sequence_number_of(m) for m in received]
    assert numbers == sorted(numbers)
    assert numbers[2] > max(numbers[:2], default=0) > scheduled_number


def test_scheduling_a_duplicate_still_returns_a_sequence_number(
    emulator: ServiceBusEmulator, clock: ShiftableClock, sender: ServiceBusSender
) -> None:
    """Scheduling a message whose id duplicate detection drops returns a fresh sequence number, storing nothing."""
    sender.send_messages(ServiceBusMessage(b"original", message_id="same-id"))
    [original] = emulator.messages(QUEUE)

    [number] = sender.schedule_messages(
        ServiceBusMessage(b"duplicate", message_id="same-id"), an_hour_ahead(clock), timeout=5
    )

    assert number > original.sequence_number
    assert emulator.queue_depths(QUEUE).scheduled == 0
    with pytest.raises(MessageNotFoundError):
        sender.cancel_scheduled_messages(number, timeout=5)


def test_cancelling_an_activated_message_fails(
    emulator: ServiceBusEmulator, clock: ShiftableClock, sender: ServiceBusSender
) -> None:
    """cancel_scheduled_messages for a number already activated raises MessageNotFoundError and changes nothing."""
    [number] = sender.schedule_messages(ServiceBusMessage(b"soon active"), an_hour_ahead(clock), timeout=5)
    activate_scheduled(emulator, clock)

    with pytest.raises(MessageNotFoundError, match=f"Missing sequence numbers: {number}"):
        sender.cancel_scheduled_messages(number, timeout=5)
    assert emulator.queue_depths(QUEUE).active == 1


def test_cancelling_an_unknown_number_fails_and_cancels_nothing(
    emulator: ServiceBusEmulator, clock: ShiftableClock, sender: ServiceBusSender
) -> None:
    """Cancelling a known and an unknown number together fails as a whole: the known one stays scheduled."""
    [number] = sender.schedule_messages(ServiceBusMessage(b"kept"), an_hour_ahead(clock), timeout=5)

    with pytest.raises(MessageNotFoundError):
        sender.cancel_scheduled_messages([number, number + 1000], timeout=5)
    assert emulator.queue_depths(QUEUE).scheduled == 1
