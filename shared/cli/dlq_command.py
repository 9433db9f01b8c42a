"""``mca-attest dlq``: the on-call operator's view of the events queue's dead-letter queue (DLQ).

``list`` and ``export`` peek (nothing is locked or changed), ``replay`` sends copies back to the queue and
then completes the originals, ``purge`` deletes only what it has just exported. The logic lives in
``shared.servicebus.dead_letters``; these commands parse options, open the client and print. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from azure.servicebus import ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver
from azure.servicebus.exceptions import ServiceBusError
from rich.console import Console
from rich.table import Table

from shared.attestation.outcomes import DeadLetterReason
from shared.cli.console import progress_bar, stdout_console
from shared.cli.options import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, queue_option
from shared.servicebus.connection import open_client_from_environment
from shared.servicebus.dead_letters.browse import DeadLetterFilter, find_matching, peek_one
from shared.servicebus.dead_letters.documents import full_document, summary_document, write_export
from shared.servicebus.dead_letters.edits import EditError, FieldEdit
from shared.servicebus.dead_letters.purge import delete_exported
from shared.servicebus.dead_letters.records import DeadLetterRecord
from shared.servicebus.dead_letters.replay import ReplayStatus, ReplaySummary, plan_replays, replay
from shared.settings import MissingSettingError

KNOWN_REASONS = ", ".join(reason.value for reason in DeadLetterReason)


def _iso_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use an ISO-8601 time such as 2026-11-20T09:30:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# How long one receive from the dead-letter queue waits; replay and purge stop after an empty one.
_max_wait_option = click.option(
    "--max-wait", default=5.0, show_default=True, type=click.FloatRange(0.1, 300.0), help="Seconds per receive."
)


def _selection_options(func: Callable[..., None]) -> Callable[..., None]:
    """The filter options every subcommand shares; the command receives them as one ``selection``."""

    @functools.wraps(func)
    def with_selection(
        *args: Any,
        reasons: tuple[str, ...],
        since: datetime | None,
        until: datetime | None,
        customer: str | None,
        event_id: str | None,
        **kwargs: Any,
    ) -> None:
        func(*args, selection=DeadLetterFilter(frozenset(reasons), since, until, customer, event_id), **kwargs)

    options = [
        click.option(
            "--reason",
            "reasons",
            multiple=True,
            help=f"Dead-letter reason (repeatable): {KNOWN_REASONS}, or a broker reason.",
        ),
        click.option("--since", callback=_iso_time, help="Enqueued at or after this ISO time (UTC if no offset)."),
        click.option("--until", callback=_iso_time, help="Enqueued at or before this ISO time (UTC if no offset)."),
        click.option("--customer", help="customerTenantId in the body."),
        click.option("--event-id", help="eventId in the body."),
        queue_option("Queue whose DLQ to use"),
    ]
    decorated: Callable[..., None] = with_selection
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def _run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one operation; connection settings missing → exit 2, a Service Bus failure → exit 1."""
    err = Console(stderr=True)
    try:
        return asyncio.run(coroutine)
    except MissingSettingError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    except ServiceBusError as exc:
        err.print(f"[red]error:[/] Service Bus: {exc}")
        sys.exit(EXIT_SOME_FAILED)


def _dead_letter_receiver(client: ServiceBusClient, queue: str) -> ServiceBusReceiver:
    """A peek-lock receiver of the DLQ: peeking with it locks nothing; receiving locks what it receives."""
    return client.get_queue_receiver(
        queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, receive_mode=ServiceBusReceiveMode.PEEK_LOCK
    )


async def _matching(queue: str, selection: DeadLetterFilter, limit: int | None = None) -> list[DeadLetterRecord]:
    async with open_client_from_environment() as client, _dead_letter_receiver(client, queue) as peeker:
        return await find_matching(peeker, selection, limit=limit)


def _when(record: DeadLetterRecord) -> str:
    return record.enqueued_time.isoformat(timespec="seconds") if record.enqueued_time else ""


@click.group()
def dlq() -> None:
    """Inspect, export, replay and purge dead-lettered events (the queue's DLQ).

    Connection: ServiceBusConnection__fullyQualifiedNamespace (managed identity / az login) or
    ServiceBusConnection (local emulator). Runbook: docs/operations.md.
    """


@dlq.command("list")
@_selection_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
def list_command(
    selection: DeadLetterFilter,
    queue: str,
    as_json: bool,
) -> None:
    """List dead-lettered messages (the whole DLQ, paged). Shows ids and reasons, never contact details."""
    records = _run(_matching(queue, selection))
    if as_json:
        document = {"queue": queue, "count": len(records), "messages": [summary_document(r) for r in records]}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    out = stdout_console()
    table = Table(title=f"Dead-lettered messages of {queue}")
    for column in ("seq", "enqueued (UTC)", "reason", "description", "event id", "contract", "customer", "deliveries"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            str(r.sequence_number),
            _when(r),
            r.reason,
            r.description,
            r.event_id,
            r.contract,
            r.customer_id,
            str(r.delivery_count),
        )
    out.print(table)
    by_reason = Counter(r.reason or "(none)" for r in records)
    out.print(f"{len(records)} messages" + "".join(f", {k}={v}" for k, v in sorted(by_reason.items())))


@dlq.command()
@click.argument("sequence_number", type=click.IntRange(min=1))
@queue_option("Queue whose DLQ to use")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def show(sequence_number: int, queue: str, as_json: bool) -> None:
    """Show one dead-lettered message in full: every property AND the body.

    The body holds personal data (contact name, email, phone): use this only when you need it, and do
    not paste its output into tickets or chats.
    """

    async def fetch() -> DeadLetterRecord | None:
        async with open_client_from_environment() as client, _dead_letter_receiver(client, queue) as peeker:
            return await peek_one(peeker, sequence_number)

    record = _run(fetch())
    if record is None:
        Console(stderr=True).print(f"[red]error:[/] no message with sequence number {sequence_number} in the DLQ")
        sys.exit(EXIT_SOME_FAILED)
    document = full_document(record)
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    out = stdout_console()
    table = Table(title=f"Dead-lettered message {sequence_number}", show_header=False)
    table.add_column("property", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in document.items():
        if key not in {"body", "bodyBase64", "applicationProperties"}:
            table.add_row(key, "" if value is None else str(value))
    for key, value in document["applicationProperties"].items():
        table.add_row(f"property {key}", str(value))
    out.print(table)
    out.print("body:")
    try:
        out.print_json(record.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        out.print(document.get("body", document.get("bodyBase64", "")), markup=False, highlight=False)


@dlq.command()
@_selection_options
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSONL file.")
def export(
    selection: DeadLetterFilter,
    queue: str,
    out_file: Path,
) -> None:
    """Write every matching message, all properties and body, to a JSONL file (a backup; holds personal data)."""
    records = _run(_matching(queue, selection))
    count = _export_or_exit(records, out_file)
    stdout_console().print(f"exported {count} messages to {out_file}")


def _export_or_exit(records: list[DeadLetterRecord], path: Path) -> int:
    """``write_export`` (mode 0600: the file holds personal data); a path that cannot be written → one line, exit 1."""
    try:
        return write_export(records, path)
    except OSError as exc:
        Console(stderr=True).print(
            f"[red]error:[/] cannot write {path}: {exc.strerror or type(exc).__name__}; nothing was changed",
            markup=True,
            highlight=False,
        )
        sys.exit(EXIT_SOME_FAILED)


def _edits(sets: tuple[str, ...], unsets: tuple[str, ...]) -> list[FieldEdit]:
    try:
        return [FieldEdit.parse_set(s) for s in sets] + [FieldEdit.parse_unset(u) for u in unsets]
    except EditError as exc:
        raise click.UsageError(str(exc)) from None


@dlq.command("replay")
@_selection_options
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Edit the body before replaying (repeatable), e.g. primaryContact.email=new@example.com (contract v1), "
    "signatory.email=new@example.com (contract v2). "
    "The edited event must pass validation or the message stays in the DLQ.",
)
@click.option("--unset", "unsets", multiple=True, metavar="FIELD", help="Remove a body field, e.g. templateId.")
@click.option("--dry-run", is_flag=True, help="Peek and show what would be replayed; change nothing.")
@click.option("--limit", type=click.IntRange(min=1), help="Replay at most this many messages.")
@_max_wait_option
def replay_command(
    selection: DeadLetterFilter,
    queue: str,
    sets: tuple[str, ...],
    unsets: tuple[str, ...],
    dry_run: bool,
    limit: int | None,
    max_wait: float,
) -> None:
    """Send matching messages back to the queue, then remove them from the DLQ. Exit 1 if any failed.

    Each copy keeps the body (with --set/--unset edits) and properties, gets mca-attempt=0 (a fresh retry
    budget), mca-replay-count, mca-original-reason, mca-original-sequence-number, and the message id
    {eventId}/replay{count}-{digest}, unique per dead letter (shared/servicebus/messages.py). The copy is sent before the original is completed: a crash can duplicate
    an event (harmless: attestation is idempotent), never lose one. Either contract: a replayed contract v2
    request starts again (after an expired or declined link, with a new attestation and link).
    """
    edits = _edits(sets, unsets)
    out = stdout_console()
    if dry_run:
        plans = plan_replays(_run(_matching(queue, selection, limit)), edits)
        table = Table(title="Would replay (dry run)")
        for column in ("seq", "reason", "event id", "new message id", "status"):
            table.add_column(column, overflow="fold")
        for record, copy, problem in plans:
            status = "[green]would replay[/]" if copy else f"[red]would fail:[/] {problem}"
            table.add_row(
                str(record.sequence_number), record.reason, record.event_id, copy.message_id if copy else "", status
            )
        out.print(table)
        failing = sum(1 for _, copy, _ in plans if copy is None)
        out.print(f"would replay={len(plans) - failing} would fail={failing}")
        sys.exit(EXIT_SOME_FAILED if failing else EXIT_OK)

    err = Console(stderr=True)

    async def run() -> ReplaySummary:
        async with open_client_from_environment() as client, _dead_letter_receiver(client, queue) as receiver:
            expected = len(await find_matching(receiver, selection, limit=limit))  # peeking locks nothing
            if not expected:
                return ReplaySummary((), 0)
            async with client.get_queue_sender(queue) as sender:
                with progress_bar(err) as progress:
                    task = progress.add_task(f"replaying to {queue}", total=expected)
                    return await replay(
                        receiver,
                        sender,
                        selection=selection,
                        edits=edits,
                        limit=limit,
                        max_wait_time=max_wait,
                        on_result=lambda _: progress.advance(task),
                    )

    summary = _run(run())
    if summary.results:
        table = Table(title="Replay results")
        for column in ("seq", "event id", "status", "new message id", "detail"):
            table.add_column(column, overflow="fold")
        for r in summary.results:
            style = "green" if r.status is ReplayStatus.REPLAYED else "red"
            table.add_row(str(r.sequence_number), r.event_id, f"[{style}]{r.status.value}[/]", r.message_id, r.detail)
        out.print(table)
    out.print(f"replayed={summary.replayed} skipped={summary.skipped} failed={summary.failed}")
    sys.exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)


@dlq.command()
@_selection_options
@click.option(
    "--export-to",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="New JSONL file: every message to delete is written here first.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required when stdin is not a terminal).")
@_max_wait_option
def purge(
    selection: DeadLetterFilter,
    queue: str,
    export_to: Path,
    yes: bool,
    max_wait: float,
) -> None:
    """Delete matching messages from the DLQ, after exporting exactly those messages to --export-to.

    Messages that arrive after the export are never deleted. Exit 1 if not every exported message could
    be deleted (someone else may have removed it meanwhile), 2 without confirmation.
    """
    out = stdout_console()
    err = Console(stderr=True)
    if export_to.exists():
        err.print(f"[red]error:[/] {export_to} exists; choose a new file so no earlier backup is overwritten")
        sys.exit(EXIT_USAGE)
    records = _run(_matching(queue, selection))
    if not records:
        out.print("no matching messages; nothing deleted")
        sys.exit(EXIT_OK)
    if not yes:
        if not sys.stdin.isatty():
            err.print("[red]error:[/] refusing to purge without --yes (stdin is not a terminal)")
            sys.exit(EXIT_USAGE)
        click.confirm(
            f"Delete {len(records)} dead-lettered messages of {queue} (after exporting them to {export_to})?",
            abort=True,
        )
    exported = _export_or_exit(records, export_to)
    out.print(f"exported {exported} messages to {export_to}")

    async def run() -> int:
        async with open_client_from_environment() as client, _dead_letter_receiver(client, queue) as receiver:
            with progress_bar(err) as progress:
                task = progress.add_task("deleting", total=len(records))
                return await delete_exported(
                    receiver,
                    [r.sequence_number for r in records],
                    max_wait_time=max_wait,
                    on_deleted=lambda _: progress.advance(task),
                )

    deleted = _run(run())
    out.print(f"deleted={deleted} of exported={exported}")
    sys.exit(EXIT_OK if deleted == exported else EXIT_SOME_FAILED)
