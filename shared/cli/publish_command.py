"""``mca-attest publish FILE``: validate a JSONL/CSV file of events and publish them to the Service Bus queue.

For CRM integrators: the same messages a CRM integration should send (see ``shared.servicebus.publishing`` and
docs/publishing.md). Every record is validated first; invalid ones are reported with their field
errors and not sent; a repeated eventId in the file is sent once.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
from azure.servicebus.exceptions import ServiceBusError
from rich.console import Console
from rich.table import Table

from shared.cli.bulk import BulkResult, ResultStatus, validate_records
from shared.cli.console import progress_bar, stdout_console
from shared.cli.event_files import UnsupportedFileError, read_records
from shared.cli.options import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, queue_option
from shared.servicebus.connection import open_client_from_environment
from shared.servicebus.messages import AnyEvent
from shared.servicebus.publishing import DEFAULT_BATCH_SIZE, publish_events
from shared.settings import MissingSettingError


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and show what would be sent; send nothing.")
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, 4500),
    help="Most messages per batch (a batch is also closed when full in bytes).",
)
@queue_option("Queue to publish to")
def publish(file: Path, dry_run: bool, batch_size: int, queue: str) -> None:
    """Publish every valid event in FILE (JSONL or CSV) to the queue, one message per event.

    Either contract (v1 "customer signed MCA", v2 "MCA acceptance requested"). Message id =
    {eventId}/{digest of the body} (duplicate detection drops resends), subject = the contract's event type
    (mca.customer.signed.v1 or mca.acceptance.requested.v2), content type application/json. Connection: ServiceBusConnection__fullyQualifiedNamespace (managed
    identity) or ServiceBusConnection (local emulator). Exit 1 if any record was invalid, 2 on usage errors.
    """
    out = stdout_console()
    err = Console(stderr=True)
    try:
        records = read_records(file)
    except UnsupportedFileError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    valid, known = validate_records(records)
    invalid = [r for r in known if r.status is ResultStatus.FAILED]
    duplicates = [r for r in known if r.status is ResultStatus.DUPLICATE_IN_FILE]
    if invalid:
        out.print(_invalid_table(invalid))
    events = [item.event for item in valid]
    tally = _Tally()

    if dry_run:
        out.print(_dry_run_table([(item.line, item.event) for item in valid]))
    else:
        try:
            asyncio.run(_publish(events, queue, batch_size, err, tally))
        except MissingSettingError as exc:
            err.print(f"[red]error:[/] {exc}")
            sys.exit(EXIT_USAGE)
        except ServiceBusError as exc:
            err.print(f"[red]error:[/] sending failed after {tally.sent} of {len(events)} messages: {exc}")
            err.print("Publishing the same file again is safe: duplicate detection drops what was already sent.")
            sys.exit(EXIT_SOME_FAILED)

    verb = "would publish" if dry_run else "published"
    published = len(events) if dry_run else tally.sent
    out.print(f"{verb}={published} invalid={len(invalid)} duplicate_in_file={len(duplicates)}")
    sys.exit(EXIT_SOME_FAILED if invalid else EXIT_OK)


@dataclass(slots=True)
class _Tally:
    sent: int = 0  # messages the broker accepted so far


async def _publish(events: Sequence[AnyEvent], queue: str, batch_size: int, err: Console, tally: _Tally) -> None:
    if not events:
        return
    async with open_client_from_environment() as client, client.get_queue_sender(queue) as sender:
        with progress_bar(err) as progress:
            task = progress.add_task(f"publishing to {queue}", total=len(events))

            def advance(count: int) -> None:
                tally.sent += count
                progress.advance(task, count)

            await publish_events(sender, events, batch_size=batch_size, on_sent=advance)


def _invalid_table(invalid: list[BulkResult]) -> Table:
    table = Table(title="Invalid records (not sent)")
    for column in ("line", "event id", "field errors"):
        table.add_column(column, overflow="fold")
    for result in sorted(invalid, key=lambda r: r.line):
        table.add_row(str(result.line), result.event_id, "\n".join(result.detail.split("; ")))
    return table


def _dry_run_table(items: Sequence[tuple[int, AnyEvent]]) -> Table:
    table = Table(title="Would publish (dry run)")
    for column in ("line", "message id", "customer", "correlation id"):
        table.add_column(column, overflow="fold")
    for line, event in items:
        table.add_row(str(line), event.event_id, event.customer_tenant_id, event.correlation_id or "")
    return table
