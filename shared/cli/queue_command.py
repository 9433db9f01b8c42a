"""``mca-attest queue status``: the message counts of the events queue, from the Service Bus management API.

Active, dead-lettered, scheduled, transfer and transfer-dead-letter counts, as a table or ``--json``. The
connection (Azure, or a local emulator's management port) is ``shared.servicebus.administration``'s.
"""

from __future__ import annotations

import json
import os
import sys

import click
from azure.core.exceptions import AzureError, ResourceNotFoundError
from rich.console import Console
from rich.table import Table

from shared.cli.console import stdout_console
from shared.cli.options import EXIT_SOME_FAILED, EXIT_USAGE, queue_option
from shared.servicebus.administration import EMULATOR_MANAGEMENT_PORT, administration_client, counts_document
from shared.settings import MissingSettingError


@click.group()
def queue() -> None:
    """Look at the events queue through the Service Bus management API."""


@queue.command()
@queue_option("Queue to report on")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--management-port",
    default=EMULATOR_MANAGEMENT_PORT,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="The emulator's HTTP management port (only with UseDevelopmentEmulator=true).",
)
def status(queue: str, as_json: bool, management_port: int) -> None:
    """Print the queue's active, dead-lettered, scheduled and transfer message counts."""
    err = Console(stderr=True)
    try:
        with administration_client(os.environ, management_port=management_port) as client:
            properties = client.get_queue_runtime_properties(queue)
    except MissingSettingError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    except ResourceNotFoundError:
        err.print(f"[red]error:[/] queue {queue!r} does not exist")
        sys.exit(EXIT_SOME_FAILED)
    except AzureError as exc:
        err.print(f"[red]error:[/] Service Bus management API: {exc}")
        sys.exit(EXIT_SOME_FAILED)
    document = counts_document(properties)
    if as_json:
        click.echo(json.dumps(document))
        return
    table = Table(title=f"Queue {queue}")
    table.add_column("messages")
    table.add_column("count", justify="right")
    for key, value in document.items():
        if key != "queue":
            table.add_row(key.replace("_", " "), str(value))
    stdout_console().print(table)
