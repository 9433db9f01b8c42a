"""``mca-attest attest`` refuses, before anything is posted, to run contract v2 events with nowhere to send their
acceptance links, or with a --notifications file it cannot open. No server is contacted: the command stops first."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from emulators.processes import simulator_app_settings
from shared.cli.main import cli
from shared.cli.options import EXIT_USAGE
from tests.builders import acceptance_requested_doc, event_doc

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing here may call Partner Center


def run_bulk(tmp_path: Path, docs: list[dict[str, object]], *args: str, **env: str | None) -> Result:
    file = tmp_path / "events.jsonl"
    file.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    settings: dict[str, str | None] = {
        **simulator_app_settings(UNREACHABLE, UNREACHABLE + "/token", tmp_path / "cache"),
        "ServiceBusConnection": None,
        "ServiceBusConnection__fullyQualifiedNamespace": None,
        **env,
    }
    return CliRunner().invoke(cli, ["attest", str(file), *args], env=settings)


def test_v2_events_without_notifications_file_or_queue_connection_are_a_usage_error(tmp_path: Path) -> None:
    """Exit 2 naming both ways (--notifications, the Service Bus settings); the ledger is not even opened."""
    result = run_bulk(tmp_path, [event_doc(eventId="v1-1"), acceptance_requested_doc(eventId="v2-1")])
    assert result.exit_code == EXIT_USAGE, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "--notifications FILE" in said
    assert "ServiceBusConnection__fullyQualifiedNamespace (Azure)" in said
    assert "ServiceBusConnection (local emulator)" in said
    assert not (tmp_path / "cache" / "ledger.sqlite3").exists()


def test_a_notifications_file_that_cannot_be_opened_is_a_usage_error(tmp_path: Path) -> None:
    """--notifications in a folder that does not exist: exit 2, nothing posted."""
    missing = tmp_path / "no-such-folder" / "links.jsonl"
    result = run_bulk(tmp_path, [acceptance_requested_doc()], "--notifications", str(missing))
    assert result.exit_code == EXIT_USAGE, result.output
    assert "cannot open" in result.output
    assert "nothing was posted" in result.output


def test_v2_events_need_no_notifier_when_the_enhanced_flow_is_off(tmp_path: Path) -> None:
    """ATTESTATION_FLOWS=legacy: v2 events fail as FlowNotEnabled, so no notifier is asked for (exit 1, not 2)."""
    result = run_bulk(
        tmp_path, [acceptance_requested_doc()], "--report", str(tmp_path / "r.json"), ATTESTATION_FLOWS="legacy"
    )
    assert result.exit_code == 1, result.output
    [row] = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (row["contract"], row["status"], row["reason"]) == ("v2", "failed", "FlowNotEnabled")


def test_dry_run_with_v2_events_needs_no_notifier(tmp_path: Path) -> None:
    """--dry-run validates v2 events only: no notifier is needed and nothing is created (exit 0)."""
    result = run_bulk(tmp_path, [acceptance_requested_doc()], "--dry-run", "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    [row] = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (row["contract"], row["status"]) == ("v2", "validated")
