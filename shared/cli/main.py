"""``mca-attest``: the command line of the project. Each subcommand parses its input and hands it on."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from shared.attestation.router import ENHANCED
from shared.bootstrap import open_services
from shared.cli.bulk import (
    DEFAULT_LINK_DESTINATION,
    SUCCESSFUL,
    BulkResult,
    ResultStatus,
    attest_all,
    enhanced_events,
    failed,
    summarize,
    validate_records,
    write_report,
)
from shared.cli.console import progress_bar, stdout_console
from shared.cli.dlq_command import dlq
from shared.cli.event_files import UnsupportedFileError, read_records
from shared.cli.notification_file import FileNotifier
from shared.cli.options import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from shared.cli.probe_command import probe
from shared.cli.publish_command import publish
from shared.cli.queue_command import queue
from shared.observability import configure_logging
from shared.servicebus.connection import CONNECTION_STRING_SETTING, NAMESPACE_SETTING, connection_configured
from shared.servicebus.settlement import RedeliveryPolicy
from shared.settings import MissingSettingError, Settings

stderr = Console(stderr=True)


@click.group()
@click.option("--log-level", default="WARNING", show_default=True, help="Console log level.")
@click.option("--log-file", type=click.Path(path_type=Path), help="Also write INFO+ JSON logs to this file.")
def cli(log_level: str, log_file: Path | None) -> None:
    """Attest Microsoft Customer Agreement acceptance to Partner Center, once per event."""
    configure_logging(log_level, json_file=log_file)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write results (.json or .csv).")
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option("--dry-run", is_flag=True, help="Validate and resolve templates; post nothing.")
@click.option("--retry-budget", default=5, show_default=True, type=click.IntRange(0, 50))
@click.option("--retry-base-seconds", default=2.0, show_default=True, type=click.FloatRange(0.0, 600.0))
@click.option(
    "--notifications",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Contract v2: append each notification (acceptance links included) to this JSON-lines file, "
    "mode 0600, instead of sending it to the notifications queue.",
)
def attest(
    file: Path,
    report: Path | None,
    concurrency: int,
    dry_run: bool,
    retry_budget: int,
    retry_base_seconds: float,
    notifications: Path | None,
) -> None:
    """Attest every event in FILE (JSONL or CSV). Exit 1 if any event failed.

    Contract v2 events ("MCA acceptance requested") take one step per run: the first run creates the
    attestation and sends its acceptance link (to the notifications queue, or to --notifications), reported
    as awaiting_acceptance; run the same file again after the customer accepts to create the agreement.
    """
    try:
        records = read_records(file)
        settings = Settings.from_environment()
    except (UnsupportedFileError, MissingSettingError) as exc:
        stderr.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    valid, known = validate_records(records)
    v2 = enhanced_events(valid)
    of_v2 = f" ({v2} contract v2)" if v2 else ""
    stderr.print(f"{len(records)} records: {len(valid)} to attest{of_v2}, {len(known)} invalid or duplicate")
    policy = RedeliveryPolicy(budget=retry_budget, base_seconds=retry_base_seconds, max_seconds=60.0)
    file_notifier = _notification_file(notifications, v2 > 0 and not dry_run and ENHANCED in settings.attestation_flows)
    link_destination = str(notifications) if file_notifier is not None else DEFAULT_LINK_DESTINATION

    async def run() -> list[BulkResult]:
        async with open_services(settings, dry_run=dry_run, notifier=file_notifier) as services:
            with progress_bar(stderr) as progress:
                task = progress.add_task("attesting", total=len(valid))
                return await attest_all(
                    valid,
                    services.attestor,
                    router=services.router,
                    link_destination=link_destination,
                    concurrency=concurrency,
                    redelivery=policy,
                    on_result=lambda _: progress.advance(task),
                    rng=services.rng,
                )

    try:
        results = known + asyncio.run(run())
    except MissingSettingError as exc:  # raised while the services are built, before anything is posted
        stderr.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    finally:
        if file_notifier is not None:
            file_notifier.close()
    print_results(results)
    if report:
        write_report(results, report)
        stderr.print(f"report written to {report}")
    if file_notifier is not None:
        stderr.print(f"{file_notifier.written} notifications written to {notifications}")
    sys.exit(EXIT_SOME_FAILED if failed(results) else EXIT_OK)


def _notification_file(path: Path | None, needed: bool) -> FileNotifier | None:
    """The --notifications file, opened now (a path that cannot be written is a usage error, before anything is
    posted); None when no contract v2 event will notify, or the queue is to be used. Exits 2 when contract v2
    events have nowhere to send acceptance links."""
    if not needed:
        return None
    if path is None:
        if connection_configured():
            return None
        stderr.print(
            "[red]error:[/] contract v2 events send acceptance links to the CRM: pass --notifications FILE "
            f"(JSON lines, mode 0600), or set {NAMESPACE_SETTING} (Azure) or {CONNECTION_STRING_SETTING} "
            "(local emulator) to use the notifications queue"
        )
        sys.exit(EXIT_USAGE)
    notifier = FileNotifier(path)
    try:
        notifier.open_file()
    except OSError as exc:
        stderr.print(f"[red]error:[/] cannot open {path}: {exc.strerror or type(exc).__name__}; nothing was posted")
        sys.exit(EXIT_USAGE)
    return notifier


def print_results(results: list[BulkResult]) -> None:
    """A table of every result, then the totals."""
    console = stdout_console()
    table = Table(title="Attestation results")
    for column in ("line", "event id", "contract", "customer", "status", "reason", "detail"):
        table.add_column(column, overflow="fold")
    for r in sorted(results, key=lambda r: r.line):
        style = "green" if r.status in SUCCESSFUL else ("red" if r.status is ResultStatus.FAILED else "yellow")
        table.add_row(
            str(r.line),
            r.event_id,
            r.contract,
            r.customer_tenant_id,
            f"[{style}]{r.status.value}[/]",
            r.reason,
            r.detail,
        )
    console.print(table)
    totals = summarize(results)
    console.print("totals: " + ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))


def _register_subcommands() -> None:
    from shared.cli.ledger_command import ledger, reconcile_command
    from shared.cli.worker_command import worker

    cli.add_command(worker)
    cli.add_command(ledger)
    cli.add_command(reconcile_command)


_register_subcommands()


cli.add_command(publish)
cli.add_command(dlq)
cli.add_command(queue)
cli.add_command(probe)


def main() -> None:
    cli(prog_name="mca-attest")


if __name__ == "__main__":
    main()
