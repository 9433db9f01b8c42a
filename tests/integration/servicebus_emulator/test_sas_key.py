"""The optional SAS key check: off by default (any key works), on it refuses a wrong key over AMQP and HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusAuthenticationError
from azure.servicebus.management import ServiceBusAdministrationClient

from emulators.servicebus import EmulatorConfig, ServiceBusEmulator
from shared.servicebus.administration import PlainHttpTransport

pytestmark = pytest.mark.integration

QUEUE = "q"


def with_wrong_key(connection_string: str) -> str:
    return connection_string.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=not-the-key")


@pytest.fixture(scope="module")
def checking_emulator() -> Iterator[ServiceBusEmulator]:
    with ServiceBusEmulator(EmulatorConfig.with_queues([QUEUE]), check_sas_key=True) as emulator:
        yield emulator


def test_wrong_key_is_accepted_by_default() -> None:
    """Without check_sas_key, as with Microsoft's emulator, a connection string with any key can send."""
    with (
        ServiceBusEmulator(EmulatorConfig.with_queues([QUEUE])) as emulator,
        ServiceBusClient.from_connection_string(with_wrong_key(emulator.connection_string), retry_total=0) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        sender.send_messages(ServiceBusMessage(b"any key"))
        assert emulator.queue_depths(QUEUE).active == 1


def test_right_key_sends_when_checked(checking_emulator: ServiceBusEmulator) -> None:
    """With check_sas_key, the documented key (SAS_KEY_VALUE) still sends."""
    with (
        ServiceBusClient.from_connection_string(checking_emulator.connection_string, retry_total=0) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        sender.send_messages(ServiceBusMessage(b"right key"))


def test_wrong_key_fails_authentication_when_checked(checking_emulator: ServiceBusEmulator) -> None:
    """With check_sas_key, a wrong key makes the SDK raise ServiceBusAuthenticationError and nothing is stored."""
    before = checking_emulator.queue_depths(QUEUE).active
    with (
        ServiceBusClient.from_connection_string(
            with_wrong_key(checking_emulator.connection_string), retry_total=0
        ) as client,
        pytest.raises(ServiceBusAuthenticationError),
        client.get_queue_sender(QUEUE) as sender,
    ):
        sender.send_messages(ServiceBusMessage(b"wrong key"))
    assert checking_emulator.queue_depths(QUEUE).active == before


def test_wrong_key_is_refused_by_the_management_port_when_checked(checking_emulator: ServiceBusEmulator) -> None:
    """With check_sas_key, the administration client gets 401 with a wrong key and answers with the right one."""
    right = ServiceBusAdministrationClient.from_connection_string(
        checking_emulator.management_connection_string, transport=PlainHttpTransport()
    )
    wrong = ServiceBusAdministrationClient.from_connection_string(
        with_wrong_key(checking_emulator.management_connection_string), transport=PlainHttpTransport()
    )
    with right, wrong:
        assert right.get_queue_runtime_properties(QUEUE).name == QUEUE
        with pytest.raises(ClientAuthenticationError):
            wrong.get_queue_runtime_properties(QUEUE)
