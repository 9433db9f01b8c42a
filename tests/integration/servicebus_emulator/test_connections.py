"""How many connections the emulator serves: no select() ceiling, and a clear refusal past the cap."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusError

from emulators.servicebus import EmulatorConfig, ServiceBusEmulator

from .receiving import receive_exactly

pytestmark = pytest.mark.integration

# Past FD_SETSIZE (1,024): the descriptor numbers select() cannot watch.
IDLE_SOCKETS = 1_100


@contextmanager
def idle_sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` TCP connections to the emulator that never speak AMQP (a client leaking sockets)."""
    with ExitStack() as stack:
        yield [stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10)) for _ in range(count)]


def test_serves_the_sdk_with_more_than_1024_sockets_open() -> None:
    """With over 1,024 sockets open, the emulator still serves a send → receive → complete round trip."""
    with (
        ServiceBusEmulator(EmulatorConfig.with_queues(["q"])) as emulator,
        idle_sockets(emulator.port, IDLE_SOCKETS),
        ServiceBusClient.from_connection_string(emulator.connection_string, retry_total=0) as client,
        client.get_queue_sender("q") as sender,
        client.get_queue_receiver("q", max_wait_time=5) as receiver,
    ):
        sender.send_messages(ServiceBusMessage(b"past the ceiling"))
        [message] = receive_exactly(receiver, 1)
        receiver.complete_message(message)
        assert emulator.queue_depths("q").total == 0


def test_connections_past_the_cap_are_refused_with_the_reason() -> None:
    """Past max_connections a new connection is closed with amqp:resource-limit-exceeded naming the cap."""
    with ServiceBusEmulator(EmulatorConfig.with_queues(["q"]), max_connections=1) as emulator:
        with (
            ServiceBusClient.from_connection_string(emulator.connection_string, retry_total=0) as first,
            first.get_queue_sender("q") as sender,
        ):
            sender.send_messages(ServiceBusMessage(b"within the cap"))
            assert emulator.connection_count == 1
            with (
                ServiceBusClient.from_connection_string(emulator.connection_string, retry_total=0) as second,
                pytest.raises(ServiceBusError, match="at most 1 connection"),
                second.get_queue_sender("q") as refused,
            ):
                refused.send_messages(ServiceBusMessage(b"over the cap"))
        assert emulator.queue_depths("q").active == 1
