"""The HTTP management port: ServiceBusAdministrationClient reads queue runtime properties and lists queues."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.servicebus import ServiceBusMessage, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.management import ServiceBusAdministrationClient
from click.testing import CliRunner

from emulators.servicebus import ServiceBusEmulator
from shared.cli.main import cli
from shared.servicebus.administration import PlainHttpTransport

from .conftest import QUEUES
from .receiving import receive_exactly

pytestmark = pytest.mark.integration

QUEUE = "basic"


@pytest.fixture(scope="module")
def admin(servicebus_emulator_module: ServiceBusEmulator) -> Iterator[ServiceBusAdministrationClient]:
    connection_string = servicebus_emulator_module.management_connection_string
    with ServiceBusAdministrationClient.from_connection_string(
        connection_string,
        transport=PlainHttpTransport(),  # the documented recipe
    ) as client:
        yield client


def test_health_endpoint_answers(emulator: ServiceBusEmulator) -> None:
    """GET /health on the management port answers 200, as Microsoft's emulator does on port 5300."""
    with urllib.request.urlopen(f"http://localhost:{emulator.management_port}/health", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "Healthy"}


def test_runtime_properties_count_each_state(
    emulator: ServiceBusEmulator,
    admin: ServiceBusAdministrationClient,
    sender: ServiceBusSender,
    receiver: ServiceBusReceiver,
) -> None:
    """get_queue_runtime_properties reports active, dead-lettered, scheduled and transfer counts."""
    sender.send_messages([ServiceBusMessage(b"1"), ServiceBusMessage(b"2")])
    sender.schedule_messages(ServiceBusMessage(b"later"), datetime.now(UTC) + timedelta(hours=1), timeout=5)
    [to_dead_letter] = receive_exactly(receiver, 1)
    receiver.dead_letter_message(to_dead_letter, reason="Test")

    properties = admin.get_queue_runtime_properties(QUEUE)

    assert properties.name == QUEUE
    assert (
        properties.active_message_count,
        properties.dead_letter_message_count,
        properties.scheduled_message_count,
        properties.transfer_message_count,
        properties.transfer_dead_letter_message_count,
        properties.total_message_count,
    ) == (1, 1, 1, 0, 0, 3)


def test_queue_properties_come_from_the_config(
    emulator: ServiceBusEmulator, admin: ServiceBusAdministrationClient
) -> None:
    """get_queue reports the configured lock duration, delivery count and TTL."""
    queue = admin.get_queue("short-lock")
    configured = QUEUES["short-lock"]
    assert (queue.lock_duration, queue.max_delivery_count, queue.default_message_time_to_live) == (
        configured.lock_duration,
        configured.max_delivery_count,
        configured.default_message_time_to_live,
    )


def test_listing_pages_through_every_queue(emulator: ServiceBusEmulator, admin: ServiceBusAdministrationClient) -> None:
    """list_queues and list_queues_runtime_properties return every configured queue, across pages."""
    assert [q.name for q in admin.list_queues(max_page_size=2)] == list(QUEUES)
    assert [q.name for q in admin.list_queues_runtime_properties()] == list(QUEUES)


def test_unknown_queue_is_not_found_and_changes_are_refused(
    emulator: ServiceBusEmulator, admin: ServiceBusAdministrationClient
) -> None:
    """An unknown queue raises ResourceNotFoundError; creating one is refused (entities come from the config)."""
    with pytest.raises(ResourceNotFoundError):
        admin.get_queue_runtime_properties("absent")
    with pytest.raises(HttpResponseError) as refused:
        admin.create_queue("new-queue")
    assert refused.value.status_code == 405


def test_queue_status_command_prints_the_counts_as_json(emulator: ServiceBusEmulator, sender: ServiceBusSender) -> None:
    """`mca-attest queue status --json` prints the queue's counts read over the management port."""
    sender.send_messages([ServiceBusMessage(b"1"), ServiceBusMessage(b"2")])
    env = {"ServiceBusConnection": emulator.connection_string, "ServiceBusConnection__fullyQualifiedNamespace": None}
    arguments = ["queue", "status", "--queue", QUEUE, "--json", "--management-port", str(emulator.management_port)]

    result = CliRunner().invoke(cli, arguments, env=env, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "queue": QUEUE,
        "active": 2,
        "dead_lettered": 0,
        "scheduled": 0,
        "transfer": 0,
        "transfer_dead_lettered": 0,
        "total": 2,
    }
