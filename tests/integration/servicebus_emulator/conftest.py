"""Shared set-up for the emulator's own suite: the queues it serves, a hang guard, per-test clean state.

Every module shares one emulator (``servicebus_emulator_module``) and keeps its SDK handlers open for
the whole module, because opening a sender or receiver costs the SDK about half a second. Each test
asks for the ``emulator`` fixture, which empties the queues first.
"""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusReceiver, ServiceBusSender, ServiceBusSubQueue

from emulators.servicebus import EmulatorConfig, QueueProperties, ServiceBusEmulator
from emulators.servicebus import testing as servicebus_testing

# The package's fixtures, made visible to this folder (pytest finds fixtures by name in the conftest).
servicebus_emulator = servicebus_testing.servicebus_emulator
servicebus_emulator_module = servicebus_testing.servicebus_emulator_module

# A test that has not finished after this long is hung (every SDK call below has its own, shorter
# timeout). faulthandler then prints every thread's stack and ends the run, instead of letting the
# suite sit until CI kills it with no clue where it stuck.
HANG_GUARD_SECONDS = 120

QUEUES = {
    "basic": QueueProperties(lock_duration=timedelta(seconds=30), max_delivery_count=3),
    "short-lock": QueueProperties(lock_duration=timedelta(seconds=2), max_delivery_count=5),
    "dedupe": QueueProperties(
        requires_duplicate_detection=True, duplicate_detection_history_time_window=timedelta(seconds=2)
    ),
    "expiring-to-dlq": QueueProperties(
        default_message_time_to_live=timedelta(seconds=1), dead_lettering_on_message_expiration=True
    ),
    "expiring-dropped": QueueProperties(
        default_message_time_to_live=timedelta(seconds=1), dead_lettering_on_message_expiration=False
    ),
}


@pytest.fixture(scope="module")
def servicebus_emulator_config() -> EmulatorConfig:
    """The queues this suite's tests use (overrides the package's default config fixture)."""
    return EmulatorConfig.with_queues(QUEUES)


@pytest.fixture(autouse=True)
def _hang_guard() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_GUARD_SECONDS, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


# Handlers on the "basic" queue, opened once per module (each costs the SDK ~0.5 s to open).
BASIC_QUEUE = "basic"


@pytest.fixture(scope="module")
def client(servicebus_emulator_module: ServiceBusEmulator) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(servicebus_emulator_module.connection_string, retry_total=0) as client:
        yield client


@pytest.fixture(scope="module")
def sender(client: ServiceBusClient) -> Iterator[ServiceBusSender]:
    with client.get_queue_sender(BASIC_QUEUE) as sender:
        yield sender


@pytest.fixture(scope="module")
def receiver(client: ServiceBusClient) -> Iterator[ServiceBusReceiver]:
    with client.get_queue_receiver(BASIC_QUEUE, max_wait_time=5) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def dead_letter_receiver(client: ServiceBusClient) -> Iterator[ServiceBusReceiver]:
    with client.get_queue_receiver(BASIC_QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as receiver:
        yield receiver


@pytest.fixture
def emulator(servicebus_emulator_module: ServiceBusEmulator) -> ServiceBusEmulator:
    """The module's emulator, emptied for this test."""
    servicebus_emulator_module.reset()
    return servicebus_emulator_module
