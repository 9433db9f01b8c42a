"""Retry copies through the real SDK and the emulator with duplicate detection on (one day, as in production):
whatever the original's message id, no copy is dropped as a duplicate of the original or of another copy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage

from emulators.servicebus.config import QueueProperties
from emulators.servicebus.testing import running_emulator
from shared.servicebus.messages import copy_for_retry

pytestmark = pytest.mark.integration

QUEUE = "mca-events"
ADVERSARIAL_IDS = [
    "a" * 121,
    "b" * 125,
    "c" * 128,
    "crm-1/retry-1",
    "crm-2/retry-1/retry-2",
    "crm-3/replay-1",
    "crm-4/retry1-0123456789abcdef01234567",
    "é" * 120 + "/retry-",
    "客户-" * 40,
]
ATTEMPTS = 3


@pytest.fixture
def client() -> Iterator[ServiceBusClient]:
    properties = QueueProperties(
        requires_duplicate_detection=True, duplicate_detection_history_time_window=timedelta(days=1)
    )
    with (
        running_emulator(queues={QUEUE: properties}) as emulator,
        ServiceBusClient.from_connection_string(emulator.connection_string) as sb,
    ):
        yield sb


def receive_one(client: ServiceBusClient) -> ServiceBusReceivedMessage | None:
    with client.get_queue_receiver(QUEUE) as receiver:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for message in receiver.receive_messages(max_message_count=1, max_wait_time=1):
                receiver.complete_message(message)
                return message
    return None


@pytest.mark.parametrize("original_id", ADVERSARIAL_IDS, ids=[f"{len(i)}-{i[:12]!a}" for i in ADVERSARIAL_IDS])
def test_every_retry_copy_reaches_the_queue(client: ServiceBusClient, original_id: str) -> None:
    """Original → copy 1 → copy 2 → copy 3, each completed before the next is sent: all four are delivered."""
    with client.get_queue_sender(QUEUE) as sender:
        sender.send_messages(ServiceBusMessage(b'{"eventId": "x"}', message_id=original_id))
    received = receive_one(client)
    assert received is not None
    seen = [str(received.message_id)]
    for attempt in range(1, ATTEMPTS + 1):
        with client.get_queue_sender(QUEUE) as sender:
            sender.send_messages(copy_for_retry(received, attempt))
        received = receive_one(client)
        assert received is not None, f"copy {attempt} of {original_id!r} was dropped as a duplicate of {seen}"
        seen.append(str(received.message_id))
    assert len(set(seen)) == ATTEMPTS + 1
