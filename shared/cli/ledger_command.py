"""``mca-attest ledger show|list|export`` and ``mca-attest reconcile``: read the ledger, join it with the CRM and
Partner Center. Contact data is never printed: the ledger holds none (only a keyed hash, shown shortened).

``ledger list`` shows where the enhanced attestation's flow stands in one short column (``flow_summary``);
``ledger show`` prints the flow's fields for a contract v2 entry only; JSON (``--json``, ``export``) always
carries every field, so a script reads one shape whatever the contract.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from shared.attestation.contract import InvalidEventError, parse_event
from shared.attestation.errors import PartnerCenterError
from shared.attestation.ledger import Ledger, LedgerEntry, LedgerError, LedgerQuery, LedgerState
from shared.attestation.reconciliation import (
    NEEDS_ACTION,
    Expectation,
    Reconciled,
    counts,
    expectations_from_ledger,
    reconcile,
)
from shared.bootstrap import open_services
from shared.cli.console import progress_bar, stdout_console
from shared.cli.event_files import UnsupportedFileError, read_records
from shared.cli.options import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from shared.ledger import open_ledger
from shared.ledger.reports import render_report, write_report
from shared.settings import MissingSettingError, Settings

stderr = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings.from_environment()
    except MissingSettingError as exc:
        stderr.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)


def _with_ledger[T](work: Callable[[Ledger], Awaitable[T]]) -> T:
    async def run() -> T:
        async with open_ledger(_settings()) as ledger:
            return await work(ledger)

    try:
        return asyncio.run(run())
    except LedgerError as exc:
        stderr.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_SOME_FAILED)


def _entry_json(entry: LedgerEntry) -> dict[str, object]:
    return {**asdict(entry), "state": entry.state.value}


# The enhanced attestation's fields of ``LedgerEntry`` (contract v2); empty in a contract v1 entry.
_FLOW_FIELDS = (
    "contract",
    "flow_step",
    "attestation_id",
    "attestation_round",
    "link_expires_at",
    "awaiting_since",
    "next_check_at",
    "checks",
    "replay_count",
)
_WAITING_STEPS = frozenset({"link_issued", "awaiting_acceptance"})  # the customer has the link; checks are due


def _is_v2(entry: LedgerEntry) -> bool:
    return entry.contract == "v2"


def flow_summary(entry: LedgerEntry) -> str:
    """One short text: ``v1``, or ``v2 STEP (round, checks, next check, replays)`` with the set parts only.

    The round shows from the second on (a replay after expiry or rejection); the next check only while the
    customer holds the link (afterwards it is history), to the minute. ``show`` has every field in full."""
    if not _is_v2(entry):
        return "v1"
    waiting = entry.flow_step in _WAITING_STEPS
    parts = [
        f"round {entry.attestation_round}" if entry.attestation_round > 1 else "",
        f"check {entry.checks}" if entry.checks else "",
        f"next {_to_the_minute(entry.next_check_at)}" if waiting and entry.next_check_at else "",
        f"replays {entry.replay_count}" if entry.replay_count else "",
    ]
    details = ", ".join(part for part in parts if part)
    return " ".join(text for text in ("v2", entry.flow_step, f"({details})" if details else "") if text)


def _to_the_minute(timestamp: str) -> str:
    """``2026-12-02T10:15:00.000Z`` as ``2026-12-02T10:15Z``; any other text as it is."""
    if len(timestamp) > 16 and timestamp[10] == "T" and timestamp.endswith("Z"):
        return timestamp[:16] + "Z"
    return timestamp


def _entries_table(entries: list[LedgerEntry], title: str) -> Table:
    table = Table(title=title)
    for column in (
        "customer",
        "event id",
        "state",
        "flow",
        "reason",
        "attempt",
        "template",
        "MS-RequestId",
        "updated",
    ):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            e.customer_tenant_id,
            e.event_id,
            e.state.value,
            flow_summary(e),
            e.reason,
            str(e.attempt),
            e.template_id,
            e.request_id,
            e.updated_at,
        )
    return table


@click.group()
def ledger() -> None:
    """The attestation ledger: one entry per event, no personal data."""


@ledger.command()
@click.argument("event_id")
@click.option("--customer", help="The customer tenant id (faster; without it every customer is searched).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(event_id: str, customer: str | None, as_json: bool) -> None:
    """Show one event's entry. Exit 1 if the ledger has none."""

    async def find(store: Ledger) -> LedgerEntry | None:
        if customer:
            stored = await store.get(customer, event_id)
            return stored.entry if stored else None
        return next((e for e in await store.query(LedgerQuery()) if e.event_id == event_id), None)

    entry = _with_ledger(find)
    if entry is None:
        stderr.print(f"no ledger entry for event {event_id}")
        sys.exit(EXIT_SOME_FAILED)
    if as_json:
        click.echo(json.dumps(_entry_json(entry), indent=2))
        return
    table = Table(title=f"event {event_id}", show_header=False)
    for key, value in _entry_json(entry).items():
        if _is_v2(entry) or key not in _FLOW_FIELDS:
            table.add_row(key, str(value))
    stdout_console().print(table)


@ledger.command(name="list")
@click.option("--customer", default="", help="Only this customer tenant id.")
@click.option("--state", type=click.Choice([s.value for s in LedgerState]), help="Only entries in this state.")
@click.option("--reason", default="", help="Only this dead-letter reason (or how already accepted).")
@click.option("--since", default="", help="Only entries updated at or after this ISO-8601 UTC time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def list_entries(customer: str, state: str | None, reason: str, since: str, as_json: bool) -> None:
    """List entries, filtered; the flow column says where an enhanced attestation (contract v2) stands."""
    query = LedgerQuery(customer, LedgerState(state) if state else None, reason, since)
    entries = _with_ledger(lambda store: store.query(query))
    if as_json:
        for entry in entries:
            click.echo(json.dumps(_entry_json(entry)))
        return
    stdout_console().print(_entries_table(entries, f"ledger: {len(entries)} entries"))


@ledger.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default stdout).")
def export(output: Path | None) -> None:
    """Every entry as JSON lines."""
    entries = _with_ledger(lambda store: store.query(LedgerQuery()))
    text = "".join(json.dumps(_entry_json(e)) + "\n" for e in entries)
    if output:
        output.write_text(text, encoding="utf-8")
        stderr.print(f"{len(entries)} entries written to {output}")
    else:
        click.echo(text, nl=False)


def read_expectations(path: Path) -> tuple[list[Expectation], int]:
    """A CRM export: events (.jsonl/.csv) or customer ids, one per line (.txt). Returns the expectations and how
    many records could not be read."""
    if path.suffix.lower() == ".txt":
        ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [Expectation(customer.lower()) for customer in ids], 0
    expectations, unreadable = [], 0
    for record in read_records(path):
        try:
            event = parse_event(record.body)
        except InvalidEventError:
            unreadable += 1
            continue
        expectations.append(
            Expectation(
                event.customer_tenant_id,
                event.event_id,
                event.agreement_type,
                event.template_id or "",
                event.date_agreed,
            )
        )
    return expectations, unreadable


def print_reconciliation(results: list[Reconciled]) -> None:
    console = stdout_console()
    table = Table(title="Reconciliation")
    for column in ("customer", "standing", "event id", "ledger", "reason", "direct", "PC agreements", "detail"):
        table.add_column(column, overflow="fold")
    for r in sorted(results, key=lambda r: (r.standing not in NEEDS_ACTION, r.standing.value, r.customer_tenant_id)):
        style = "red" if r.standing in NEEDS_ACTION else "green"
        table.add_row(
            r.customer_tenant_id,
            f"[{style}]{r.standing.value}[/]",
            r.event_id,
            r.ledger_state,
            r.reason,
            "yes" if r.direct_signed else "",
            str(r.agreements),
            r.detail,
        )
    console.print(table)
    summary = Table(title="Summary")
    summary.add_column("standing")
    summary.add_column("customers", justify="right")
    for standing, count in counts(results).items():
        summary.add_row(standing, str(count))
    console.print(summary)


@click.command(name="reconcile")
@click.argument("crm_export", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write a .csv, .json or .html report.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64))
def reconcile_command(crm_export: Path | None, report: Path | None, concurrency: int) -> None:
    """Join the CRM's expectations (CRM_EXPORT: events .jsonl/.csv, or customer ids .txt; default: every customer
    in the ledger), the ledger and Partner Center. Exit 1 if anything is missing, dead-lettered or in conflict."""
    if report is not None:
        try:
            render_report([], report.suffix)
        except ValueError as exc:
            stderr.print(f"[red]error:[/] {exc}")
            sys.exit(EXIT_USAGE)
    expectations: list[Expectation] = []
    if crm_export is not None:
        try:
            expectations, unreadable = read_expectations(crm_export)
        except UnsupportedFileError as exc:
            stderr.print(f"[red]error:[/] {exc}")
            sys.exit(EXIT_USAGE)
        if unreadable:
            stderr.print(f"[yellow]{unreadable} records of {crm_export.name} are not valid events; left out[/]")
    settings = _settings()

    async def run() -> list[Reconciled]:
        async with open_services(settings) as services:
            store = services.journal.ledger
            wanted = expectations or await expectations_from_ledger(store)
            with progress_bar(stderr) as progress:
                task = progress.add_task("reconciling", total=len({e.customer_tenant_id for e in wanted}))
                return await reconcile(
                    wanted,
                    store,
                    services.acceptance,
                    concurrency=concurrency,
                    on_result=lambda _: progress.advance(task),
                )

    try:
        results = asyncio.run(run())
    except (LedgerError, PartnerCenterError) as exc:
        stderr.print(f"[red]error:[/] {type(exc).__name__}: {exc}")
        sys.exit(EXIT_SOME_FAILED)
    print_reconciliation(results)
    if report is not None:
        write_report(results, report)
        stderr.print(f"report written to {report}")
    sys.exit(EXIT_SOME_FAILED if any(r.standing in NEEDS_ACTION for r in results) else EXIT_OK)
