"""`mca-attest attest` over the example file and over contract v2 events, against the simulator over TCP."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from shared.cli.main import cli
from tests.builders import acceptance_requested_doc, fresh_event_doc

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


def test_bulk_takes_a_v2_event_to_its_agreement_over_two_runs(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Run 1: the attestation is created, its link written to the --notifications file (0600), the line reports
    awaiting_acceptance (exit 0); the customer accepts (the simulator's control API); run 2: the agreement is
    created, once. A v1 event in the same file is attested in run 1 and already_attested in run 2."""
    v2_customer, v1_customer = str(uuid.uuid4()), str(uuid.uuid4())
    file = tmp_path / "events.jsonl"
    docs = [
        fresh_event_doc(eventId="bulk-v1", customerTenantId=v1_customer),
        acceptance_requested_doc(eventId="bulk-v2", customerTenantId=v2_customer),
    ]
    file.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    notes = tmp_path / "notifications.jsonl"
    env: dict[str, str | None] = {
        **simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache"),
        "ServiceBusConnection": None,
        "ServiceBusConnection__fullyQualifiedNamespace": None,
    }

    def run(report: Path) -> dict[str, dict[str, Any]]:
        args = ["attest", str(file), "--notifications", str(notes), "--report", str(report)]
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        text = report.read_text(encoding="utf-8")
        assert "acceptanceLink" not in text
        assert "/accept" not in text  # never the link itself
        return {row["event_id"]: row for row in json.loads(text)}

    first = run(tmp_path / "run1.json")
    waiting = first["bulk-v2"]
    assert (waiting["contract"], waiting["status"]) == ("v2", "awaiting_acceptance")
    assert first["bulk-v1"]["status"] == "attested"
    [attestation] = simulator.state.enhanced.all()
    assert waiting["attestation_id"] == attestation.attestation_id
    [link] = [json.loads(line) for line in notes.read_text(encoding="utf-8").splitlines()]
    assert (link["kind"], link["eventId"], link["attestationId"]) == (
        "acceptance_link_issued",
        "bulk-v2",
        attestation.attestation_id,
    )
    assert link["acceptanceLink"].endswith(attestation.attestation_id)
    assert stat.S_IMODE(notes.stat().st_mode) == 0o600
    assert simulator.state.attestation_count(v2_customer) == 0

    accepted = httpx.post(f"{simulator.control_url}/enhanced/{attestation.attestation_id}/accept", timeout=10)
    assert accepted.status_code == 200, accepted.text

    second = run(tmp_path / "run2.json")
    assert second["bulk-v2"]["status"] == "attested"
    assert second["bulk-v1"]["status"] == "already_attested"
    assert simulator.state.attestation_count(v2_customer) == 1
    assert simulator.state.attestation_count(v1_customer) == 1
    assert [(a.customer_id, a.agreement_created) for a in simulator.state.enhanced.all()] == [(v2_customer, True)]
    kinds = [json.loads(line)["kind"] for line in notes.read_text(encoding="utf-8").splitlines()]
    assert kinds == ["acceptance_link_issued", "agreement_created"]
