"""`mca-attest attest` over the example file, against the simulator over TCP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from shared.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["events.jsonl", "events.csv"])
def test_bulk_attest_reports_every_line_and_exits_1_on_failures(
    simulator: SimulatorServer, tmp_path: Path, name: str
) -> None:
    """Valid events are attested once; invalid, unknown and foreign ones are reported with a reason; the
    duplicate line is attested once; exit code 1 says something failed."""
    env = simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache")
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["attest", str(EXAMPLES / name), "--report", str(report)], env=env)
    assert result.exit_code == 1, result.output
    rows = json.loads(report.read_text())
    statuses = {row["event_id"]: (row["status"], row["reason"]) for row in rows if row["event_id"]}
    assert statuses["crm-2026-0007"] == ("failed", "UnknownCustomer")
    assert statuses["crm-2026-0008"] == ("failed", "NoRelationship")
    assert statuses["crm-2026-0009"] == ("failed", "InvalidEvent")
    assert [r["status"] for r in rows].count("duplicate_in_file") == 1
    assert [r["status"] for r in rows].count("attested") == 10
    assert simulator.state.attestation_count() == 10


def test_bulk_attest_dry_run_posts_nothing(simulator: SimulatorServer, tmp_path: Path) -> None:
    """--dry-run validates and resolves the template but posts no attestation."""
    env = simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache")
    result = CliRunner().invoke(cli, ["attest", str(EXAMPLES / "events.jsonl"), "--dry-run"], env=env)
    assert "validated" in result.output
    assert simulator.state.attestation_count() == 0
