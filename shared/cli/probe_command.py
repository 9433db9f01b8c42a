"""``mca-attest probe enhanced``: check the enhanced-API configuration against a real endpoint (the sandbox).

The logic (the round trip, the verdicts, the masking) is ``shared.partner_center.enhanced_probe``; this
command reads its inputs, runs it once, prints the masked exchanges and the verdicts, and exits 0 (every
checked assumption confirmed), 1 (something missing, of another shape, or a call failed; with ``--strict``
also a key this kind of run reaches left unchecked) or 2 (usage).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from rich.console import Console

from shared.attestation.contract.fields import InvalidEventError
from shared.attestation.contract.v2 import parse_acceptance_requested
from shared.cli.options import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from shared.partner_center.enhanced_api import EnhancedApiConfigError, load_enhanced_api_settings
from shared.partner_center.enhanced_attestation import enhanced_request_for
from shared.partner_center.enhanced_probe import (
    ProbeReport,
    format_exchanges,
    format_verdicts,
    masker_for,
    open_probe_client,
    probe_enhanced,
)
from shared.settings import MissingSettingError, Settings

stderr = Console(stderr=True)


@click.group()
def probe() -> None:
    """Check assumptions about Partner Center's API against a real endpoint."""


@probe.command()
@click.argument("event_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The enhanced-API configuration (JSON) to check; default: the built-in defaults.",
)
@click.option("--base-url", default="", help="Partner Center root [default: PARTNER_CENTER_BASE_URL].")
@click.option("--attestation-id", default="", help="Re-read this attestation instead of creating one.")
@click.option(
    "--finalize",
    is_flag=True,
    help="Create the agreement with the attestation id, only if Partner Center reports the customer's acceptance.",
)
@click.option("--show-link", is_flag=True, help="Print the acceptance link unmasked (anyone holding it can accept).")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 unless every key this kind of run reaches is found ('not checked' fails, bar keys only another run reaches).",
)
def enhanced(
    event_file: Path,
    config_path: Path | None,
    base_url: str,
    attestation_id: str,
    finalize: bool,
    show_link: bool,
    strict: bool,
) -> None:
    """One enhanced-attestation round trip for the test customer of EVENT_FILE (a contract v2 event, JSON).

    App-only auth (client credentials) whatever PARTNER_CENTER_AUTH_MODE says. Prints every request and
    response masked, then a verdict per assumed field. Exit 0 when every checked assumption was confirmed
    (with --strict: and no key this run reaches was left unchecked).
    """
    try:
        settings = Settings.from_environment()
        api_settings = load_enhanced_api_settings(config_path)
        event = parse_acceptance_requested(event_file.read_bytes())
    except (MissingSettingError, EnhancedApiConfigError, InvalidEventError) as exc:
        stderr.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(EXIT_USAGE)
    request = enhanced_request_for(event)

    async def run() -> tuple[ProbeReport, list[str]]:
        async with open_probe_client(settings, base_url=base_url) as (client, recorder):
            report = await probe_enhanced(
                client,
                api_settings,
                request,
                recorder,
                event_id=event.event_id,
                attestation_id=attestation_id,
                finalize=finalize,
            )
            masker = masker_for(request, api_settings, [report.acceptance_link])
            verdicts = format_verdicts(report, masker, strict=strict)
            return report, format_exchanges(recorder.exchanges, masker) + verdicts

    try:
        report, lines = asyncio.run(run())
    except MissingSettingError as exc:
        stderr.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(EXIT_USAGE)
    for line in lines:
        click.echo(line)
    if report.acceptance_link and show_link:
        click.echo(f"acceptance link (give it to the test customer): {report.acceptance_link}")
    sys.exit(EXIT_OK if report.passed(strict=strict) else EXIT_SOME_FAILED)
