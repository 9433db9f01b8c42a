"""`mca-attest reconcile` and `mca-attest ledger …` against the simulator over TCP, with the SQLite ledger."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from shared.cli.main import cli
from tests.builders import EMAIL, fresh_event_doc
from tests.unit.test_reconciliation import ReportParser

pytestmark = pytest.mark.integration

UNKNOWN_CUSTOMER = "00000404-8c2e-4d1a-9f6b-3e7a5c1d9b20"  # the simulator answers 404 for it


def write_jsonl(path: Path, docs: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    return path


def test_reconcile_classifies_every_customer_and_writes_the_html_report(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    """Attested, direct-signed, dead-lettered and missing customers each get their standing; the HTML report's
    counts match its table; exit 1 because something is missing or dead-lettered; no contact in any output."""
    env = simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache")
    attested, direct, missing = fresh_event_doc(), fresh_event_doc(), fresh_event_doc()
    dead = fresh_event_doc(customerTenantId=UNKNOWN_CUSTOMER, eventId=f"crm-{uuid.uuid4().hex[:8]}")
    simulator.state.set_direct_signed(str(direct["customerTenantId"]))
    runner = CliRunner()
    attest = runner.invoke(cli, ["attest", str(write_jsonl(tmp_path / "batch.jsonl", [attested, dead]))], env=env)
    assert attest.exit_code == 1, attest.output  # the unknown customer failed
    crm = write_jsonl(tmp_path / "crm.jsonl", [attested, direct, dead, missing])
    report = tmp_path / "report.html"
    result = runner.invoke(cli, ["reconcile", str(crm), "--report", str(report)], env=env)
    assert result.exit_code == 1, result.output
    parser = ReportParser()
    parser.feed(report.read_text(encoding="utf-8"))
    assert {k: v for k, v in parser.counts.items() if v} == {
        "accepted_attested": 1,
        "accepted_direct": 1,
        "dead_lettered": 1,
        "missing": 1,
    }
    assert parser.counts == {standing: parser.rows.count(standing) for standing in parser.counts}
    assert EMAIL not in result.output
    assert EMAIL not in report.read_text(encoding="utf-8")


def test_ledger_list_show_and_export(simulator: SimulatorServer, tmp_path: Path) -> None:
    """After a bulk run the ledger lists, shows and exports the events as JSON, with no contact data."""
    env = simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache")
    env["LEDGER_CONTACT_HASH_KEY"] = "test-key"
    doc = fresh_event_doc()
    runner = CliRunner()
    assert runner.invoke(cli, ["attest", str(write_jsonl(tmp_path / "b.jsonl", [doc]))], env=env).exit_code == 0
    listed = runner.invoke(cli, ["ledger", "list", "--state", "attested", "--json"], env=env)
    shown = runner.invoke(cli, ["ledger", "show", str(doc["eventId"]), "--json"], env=env)
    exported = runner.invoke(cli, ["ledger", "export"], env=env)
    missing = runner.invoke(cli, ["ledger", "show", "crm-never-seen"], env=env)
    assert [json.loads(line)["event_id"] for line in listed.output.splitlines()] == [doc["eventId"]]
    entry = json.loads(shown.output)
    assert entry["state"] == "attested"
    assert len(entry["contact_fingerprint"]) == 64
    assert len(exported.output.splitlines()) == 1
    assert missing.exit_code == 1
    for output in (listed.output, shown.output, exported.output):
        assert EMAIL not in output
