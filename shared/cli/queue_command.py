"""``mca-attest queue status``: the message counts of the events queue, from the Service Bus management API.

Active, dead-lettered, scheduled, transfer and transfer-dead-letter counts, as a table or ``--json``.
The connection follows the Functions binding settings (``shared.servicebus_connection``):

- ``ServiceBusConnection__fullyQualifiedNamespace`` → Azure, with ``DefaultAzureCredential``;
- ``ServiceBusConnection`` → a connection string. With ``UseDevelopmentEmulator=true`` (the local
  emulator, ours or Microsoft's) the management API is plain HTTP on its own port (``--management-port``,
  default 5300, Microsoft's), so the endpoint's port is replaced and requests go out over ``http://``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

import click
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.core.pipeline.transport import HttpRequest, HttpResponse, RequestsTransport
from azure.servicebus.management import QueueRuntimeProperties, ServiceBusAdministrationClient
from rich.console import Console
from rich.table import Table

from shared.cli.console import stdout_console
from shared.servicebus_connection import CONNECTION_STRING_SETTING, NAMESPACE_SETTING
from shared.settings import MissingSettingError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_QUEUE = "mca-events"
EMULATOR_MANAGEMENT_PORT = 5300  # Microsoft's emulator serves its management API and /health here

_EMULATOR_FLAG = re.compile(r"(^|;)\s*UseDevelopmentEmulator=true\s*(;|$)")
_ENDPOINT_PORT = re.compile(r"(Endpoint=sb://[^;/:]+):\d+")


class PlainHttpTransport(RequestsTransport):  # type: ignore[misc]  # azure-core exports it untyped
    """The emulators' management port speaks HTTP; the SDK's administration client always builds https URLs."""

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        request.url = request.url.replace("https://", "http://", 1)
        response: HttpResponse = super().send(request, **kwargs)
        return response


def administration_client(env: Mapping[str, str], *, management_port: int) -> ServiceBusAdministrationClient:
    """A management client for Azure (managed identity) or a local emulator (connection string)."""
    connection_string = env.get(CONNECTION_STRING_SETTING)
    if connection_string:
        if not _EMULATOR_FLAG.search(connection_string):
            return ServiceBusAdministrationClient.from_connection_string(connection_string)
        emulator = _ENDPOINT_PORT.sub(rf"\g<1>:{management_port}", connection_string)
        return ServiceBusAdministrationClient.from_connection_string(emulator, transport=PlainHttpTransport())
    namespace = env.get(NAMESPACE_SETTING)
    if namespace:
        from azure.identity import DefaultAzureCredential

        return ServiceBusAdministrationClient(namespace, DefaultAzureCredential())
    raise MissingSettingError(
        f"set {NAMESPACE_SETTING} (Azure, managed identity) or {CONNECTION_STRING_SETTING} (local emulator)"
    )


def counts_document(properties: QueueRuntimeProperties) -> dict[str, int | str | None]:
    return {
        "queue": properties.name,
        "active": properties.active_message_count,
        "dead_lettered": properties.dead_letter_message_count,
        "scheduled": properties.scheduled_message_count,
        "transfer": properties.transfer_message_count,
        "transfer_dead_lettered": properties.transfer_dead_letter_message_count,
        "total": properties.total_message_count,
    }


@click.group()
def queue() -> None:
    """Look at the events queue through the Service Bus management API."""


@queue.command()
@click.option(
    "--queue",
    "queue_name",
    envvar="SERVICEBUS_QUEUE_NAME",
    default=DEFAULT_QUEUE,
    show_default=True,
    help="Queue to report on [env: SERVICEBUS_QUEUE_NAME].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--management-port",
    default=EMULATOR_MANAGEMENT_PORT,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="The emulator's HTTP management port (only with UseDevelopmentEmulator=true).",
)
def status(queue_name: str, as_json: bool, management_port: int) -> None:
    """Print the queue's active, dead-lettered, scheduled and transfer message counts."""
    err = Console(stderr=True)
    try:
        with administration_client(os.environ, management_port=management_port) as client:
            properties = client.get_queue_runtime_properties(queue_name)
    except MissingSettingError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    except ResourceNotFoundError:
        err.print(f"[red]error:[/] queue {queue_name!r} does not exist")
        sys.exit(EXIT_FAILED)
    except AzureError as exc:
        err.print(f"[red]error:[/] Service Bus management API: {exc}")
        sys.exit(EXIT_FAILED)
    document = counts_document(properties)
    if as_json:
        click.echo(json.dumps(document))
        return
    table = Table(title=f"Queue {queue_name}")
    table.add_column("messages")
    table.add_column("count", justify="right")
    for key, value in document.items():
        if key != "queue":
            table.add_row(key.replace("_", " "), str(value))
    stdout_console().print(table)
