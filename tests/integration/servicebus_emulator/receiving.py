"""Bounded waits: a missing message or state change fails the test after a timeout instead of hanging it."""

from __future__ import annotations

import time
from collections.abc import Callable

from azure.servicebus import ServiceBusReceivedMessage, ServiceBusReceiver
from azure.servicebus.aio import ServiceBusReceiver as AsyncServiceBusReceiver


def receive_exactly(
    receiver: ServiceBusReceiver, count: int, *, within: float = 10.0
) -> list[ServiceBusReceivedMessage]:
    """Receive until ``count`` messages have arrived; fail (not hang) after ``within`` seconds."""
    received: list[ServiceBusReceivedMessage] = []
    deadline = time.monotonic() + within
    while len(received) < count and time.monotonic() < deadline:
        wait = max(0.1, min(2.0, deadline - time.monotonic()))
        received += receiver.receive_messages(max_message_count=count - len(received), max_wait_time=wait)
    assert len(received) == count, f"received {len(received)} of {count} messages within {within} s"
    return received


def receive_none(receiver: ServiceBusReceiver, *, wait: float = 0.5) -> None:
    """Assert that nothing is delivered within ``wait`` seconds."""
    unexpected = receiver.receive_messages(max_message_count=1, max_wait_time=wait)
    assert unexpected == [], f"unexpected delivery: {unexpected}"


async def receive_exactly_async(
    receiver: AsyncServiceBusReceiver, count: int, *, within: float = 10.0
) -> list[ServiceBusReceivedMessage]:
    """Async twin of :func:`receive_exactly`."""
    received: list[ServiceBusReceivedMessage] = []
    deadline = time.monotonic() + within
    while len(received) < count and time.monotonic() < deadline:
        wait = max(0.1, min(2.0, deadline - time.monotonic()))
        received += await receiver.receive_messages(max_message_count=count - len(received), max_wait_time=wait)
    assert len(received) == count, f"received {len(received)} of {count} messages within {within} s"
    return received


def wait_for(condition: Callable[[], bool], *, within: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` (e.g. an inspection-API check) until true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {within} s"
        time.sleep(0.05)


def sequence_number_of(message: ServiceBusReceivedMessage) -> int:
    """A received message's sequence number (the SDK types it optional; the broker always sets it)."""
    assert message.sequence_number is not None
    return message.sequence_number
