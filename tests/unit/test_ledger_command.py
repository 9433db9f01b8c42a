"""`mca-attest ledger show|list|export` over a SQLite ledger written directly: the enhanced attestation's flow
(contract v2) in the list's flow column, in `show`, and in every JSON output; the awaiting_acceptance filter."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from emulators.processes import simulator_app_settings
from shared.attestation.ledger import LedgerEntry, LedgerState
from shared.cli.ledger_command import flow_summary
from shared.cli.main import cli
from shared.ledger.sqlite_ledger import SqliteLedger

V1 = LedgerEntry(
    "c-1",
    "crm-v1",
    LedgerState.ATTESTED,
    agreement_type="MicrosoftCustomerAgreement",
    attempt=1,
    updated_at="2026-12-01T08:00:00.000Z",
)
WAITING = LedgerEntry(
    "c-2",
    "crm-v2-wait",
    LedgerState.AWAITING_ACCEPTANCE,
    attempt=1,
    updated_at="2026-12-02T09:00:00.000Z",
    contract="v2",
    flow_step="awaiting_acceptance",
    attestation_id="att-7",
    attestation_round=1,
    link_expires_at="2026-12-09T09:00:00.000Z",
    awaiting_since="2026-12-02T08:45:00.000Z",
    next_check_at="2026-12-02T10:15:00.000Z",
    checks=3,
)
DONE = LedgerEntry(
    "c-3",
    "crm-v2-done",
    LedgerState.ATTESTED,
    attempt=2,
    updated_at="2026-12-03T09:00:00.000Z",
    contract="v2",
    flow_step="agreement_created",
    attestation_id="att-8",
    attestation_round=2,
    awaiting_since="2026-12-02T08:45:00.000Z",
    next_check_at="2026-12-03T08:00:00.000Z",
    checks=5,
    replay_count=1,
)
FLOW_FIELDS = (
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


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """App settings whose ledger is a SQLite file holding V1, WAITING and DONE (nothing else is contacted)."""
    settings = simulator_app_settings("http://127.0.0.1:9", "http://127.0.0.1:9/token", tmp_path)
    settings["LEDGER_CONNECTION_STRING"] = ""

    async def write() -> None:
        ledger = SqliteLedger(settings["LEDGER_PATH"])
        try:
            for entry in (V1, WAITING, DONE):
                assert await ledger.put(entry, if_match=None)
        finally:
            ledger.close()

    asyncio.run(write())
    return settings


def ledger(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(cli, ["ledger", *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def cells(output: str) -> list[list[str]]:
    """The rows of a rich table as lists of cell texts; a cell wrapped onto more lines is joined again."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        if not line.startswith("│"):
            continue
        texts = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if rows and not texts[0]:  # a continuation line of the row above
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], texts, strict=True)]
        else:
            rows.append(texts)
    return rows


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        (V1, "v1"),
        (WAITING, "v2 awaiting_acceptance (check 3, next 2026-12-02T10:15Z)"),
        (DONE, "v2 agreement_created (round 2, check 5, replays 1)"),
        (replace(WAITING, flow_step="requested", checks=0, next_check_at=""), "v2 requested"),
        (replace(WAITING, flow_step="", checks=0), "v2"),
        (replace(WAITING, next_check_at="soon"), "v2 awaiting_acceptance (check 3, next soon)"),
    ],
)
def test_flow_summary_names_the_contract_step_and_only_the_parts_that_are_set(entry: LedgerEntry, text: str) -> None:
    """v1, or v2 with its step; round from the second, checks, next check only while waiting, replays."""
    assert flow_summary(entry) == text


def test_list_shows_each_entrys_flow(env: dict[str, str]) -> None:
    """The table's flow column: v1 for a contract v1 entry, the step and its counts for a v2 one."""
    rows = cells(ledger(env, "list").output)

    flows = {row[1]: row[3] for row in rows if row[1].startswith("crm-")}
    assert flows == {
        "crm-v1": "v1",
        "crm-v2-wait": "v2 awaiting_acceptance (check 3, next 2026-12-02T10:15Z)",
        "crm-v2-done": "v2 agreement_created (round 2, check 5, replays 1)",
    }


def test_list_filters_on_awaiting_acceptance(env: dict[str, str]) -> None:
    """--state awaiting_acceptance is a valid choice and lists only the entries waiting for the customer."""
    result = ledger(env, "list", "--state", "awaiting_acceptance", "--json")

    listed = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["event_id"], e["state"], e["flow_step"]) for e in listed] == [
        ("crm-v2-wait", "awaiting_acceptance", "awaiting_acceptance")
    ]


def test_show_prints_the_flow_fields_of_a_v2_entry_only(env: dict[str, str]) -> None:
    """`show` of a v2 entry has every flow field with its value; of a v1 entry none of them (they are empty)."""
    v2 = {row[0]: row[1] for row in cells(ledger(env, "show", "crm-v2-wait").output)}
    v1 = {row[0]: row[1] for row in cells(ledger(env, "show", "crm-v1", "--customer", "c-1").output)}

    assert {key: v2[key] for key in FLOW_FIELDS} == {
        "contract": "v2",
        "flow_step": "awaiting_acceptance",
        "attestation_id": "att-7",
        "attestation_round": "1",
        "link_expires_at": "2026-12-09T09:00:00.000Z",
        "awaiting_since": "2026-12-02T08:45:00.000Z",
        "next_check_at": "2026-12-02T10:15:00.000Z",
        "checks": "3",
        "replay_count": "0",
    }
    assert v2["state"] == "awaiting_acceptance"
    assert v1["state"] == "attested"
    assert not set(FLOW_FIELDS) & set(v1)


def test_json_outputs_carry_every_field_of_every_entry(env: dict[str, str], tmp_path: Path) -> None:
    """show --json, list --json and export (stdout and --output) give each entry's every field, v1 and v2 alike:
    the stored entry exactly, state as its value."""
    expected = {e.event_id: {**asdict(e), "state": e.state.value} for e in (V1, WAITING, DONE)}
    out = tmp_path / "export.jsonl"

    shown = json.loads(ledger(env, "show", "crm-v2-done", "--json").output)
    listed = [json.loads(line) for line in ledger(env, "list", "--json").output.splitlines()]
    exported = [json.loads(line) for line in ledger(env, "export").output.splitlines()]
    ledger(env, "export", "--output", str(out))
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]

    assert shown == expected["crm-v2-done"]
    for entries in (listed, exported, written):
        assert {e["event_id"]: e for e in entries} == expected
