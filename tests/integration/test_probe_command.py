"""`mca-attest probe enhanced` against the simulator over TCP: verdicts, exit codes, and nothing personal printed."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from emulators.partner_center.conventions import DEFAULT_CLIENT_SECRET
from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from shared.cli.main import cli
from shared.partner_center.enhanced_probe import ASSUMED_KEYS
from tests.builders import COMPANY, EMAIL, FIRST, LAST, PHONE, acceptance_requested_doc, signatory

pytestmark = pytest.mark.integration

_VERDICT = re.compile(r"^  (\w+)\s+(found|missing|different shape|not checked)\s", re.MULTILINE)
_ATTESTATION = re.compile(r"; attestation ([0-9a-f-]{36})")
_TOKEN = re.compile(r"\b(at|rt)\.[\w-]{16,}")


class Probe:
    """Runs the command against one simulator with app settings in the environment and one test customer."""

    def __init__(self, simulator: SimulatorServer, tmp_path: Path) -> None:
        self.simulator = simulator
        self.tmp_path = tmp_path
        self.env = simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache")
        self.event = self._write("event.json", acceptance_requested_doc(customerTenantId=str(uuid.uuid4())))

    def _write(self, name: str, doc: dict[str, Any]) -> Path:
        path = self.tmp_path / name
        path.write_text(json.dumps(doc), encoding="utf-8")
        return path

    def run(self, *args: str, config: dict[str, Any] | None = None, event: Path | None = None) -> Result:
        extra = ["--config", str(self._write("config.json", config))] if config is not None else []
        argv = ["probe", "enhanced", str(event or self.event), *extra, *args]
        result = CliRunner().invoke(cli, argv, env=self.env)
        assert_nothing_secret(result.output)
        return result


def verdicts(output: str) -> dict[str, str]:
    return dict(_VERDICT.findall(output))


def attestation_of(output: str) -> str:
    match = _ATTESTATION.search(output)
    assert match, output
    return match.group(1)


def assert_nothing_secret(output: str) -> None:
    for value in (FIRST, LAST, EMAIL, PHONE, COMPANY, DEFAULT_CLIENT_SECRET):
        assert value.casefold() not in output.casefold(), value
    assert not _TOKEN.search(output), _TOKEN.search(output)
    assert "mca-acceptance.simulator.invalid/accept/" not in output  # the link lets anyone accept


@pytest.fixture
def probe(simulator: SimulatorServer, tmp_path: Path) -> Probe:
    return Probe(simulator, tmp_path)


def test_a_round_trip_confirms_every_assumed_field(probe: Probe) -> None:
    """Create + status (pending), then — after the simulated customer accepted — finalize; an expired and a
    declined attestation re-read: every assumed field is found in some run, each run exits 0."""
    created = probe.run()
    attestation = attestation_of(created.output)
    probe.simulator.state.enhanced.accept(attestation)
    finalized = probe.run("--attestation-id", attestation, "--finalize")
    others = {}
    for kind in ("expire", "reject"):
        other = probe.run(
            event=probe._write(f"{kind}.json", acceptance_requested_doc(customerTenantId=str(uuid.uuid4())))
        )
        other_id = attestation_of(other.output)
        getattr(probe.simulator.state.enhanced, kind)(other_id)
        others[kind] = probe.run("--attestation-id", other_id)

    runs = [created, finalized, *others.values()]
    assert [run.exit_code for run in runs] == [0, 0, 0, 0], [run.output for run in runs]
    assert "result: confirmed" in created.output
    first = verdicts(created.output)
    assert set(first) == set(ASSUMED_KEYS)
    assert {key for key, verdict in first.items() if verdict == "found"} == {
        "apiVersion",
        "emailField",
        "phoneField",
        "customerIdField",
        "responseIdField",
        "responseLinkField",
        "responseLinkExpiryField",
        "statusPath",
        "statusField",
        "statusPending",
    }
    found = {key for run in runs for key, verdict in verdicts(run.output).items() if verdict == "found"}
    assert found == set(ASSUMED_KEYS)
    assert not any(v in ("missing", "different shape") for run in runs for v in verdicts(run.output).values())
    assert "agreement created" in finalized.output
    assert [a.agreement_created for a in probe.simulator.state.enhanced.all() if a.attestation_id == attestation] == [
        True
    ]
    assert "Bearer ***" in created.output
    assert "client_secret=***" in created.output
    assert re.search(r"^=== \d+\. POST .*/v1/attestations/enhanced$", created.output, re.MULTILINE)
    assert re.search(r"^< HTTP 201$", created.output, re.MULTILINE)
    assert re.search(r"^< MS-CV: ", created.output, re.MULTILINE)


_LEFT_FOR_OTHER_RUNS = re.compile(
    r"^strict: every key this run reaches was found(; left for other runs: (.*))?$", re.MULTILINE
)
_GAPS = re.compile(r"^strict: not found in this run: (.*)$", re.MULTILINE)


def left_for_other_runs(output: str) -> set[str]:
    match = _LEFT_FOR_OTHER_RUNS.search(output)
    assert match, output
    return set(match.group(2).split(", ")) if match.group(2) else set()


def gaps(output: str) -> list[str]:
    match = _GAPS.search(output)
    assert match, output
    return match.group(1).split(", ")


def test_strict_passes_each_kind_of_run_that_finds_every_key_it_reaches(probe: Probe) -> None:
    """--strict on a create, a finalize and an expired re-read: each finds every key it reaches (exit 0), and the
    keys only another kind of run reaches are named, not failed; together they cover every assumed key."""
    created = probe.run("--strict")
    attestation = attestation_of(created.output)
    probe.simulator.state.enhanced.accept(attestation)
    finalized = probe.run("--attestation-id", attestation, "--finalize", "--strict")
    other = probe.run(event=probe._write("expire.json", acceptance_requested_doc(customerTenantId=str(uuid.uuid4()))))
    other_id = attestation_of(other.output)
    probe.simulator.state.enhanced.expire(other_id)
    expired = probe.run("--attestation-id", other_id, "--strict")

    runs = [created, finalized, expired]
    assert [run.exit_code for run in runs] == [0, 0, 0], [run.output for run in runs]
    assert all("result: confirmed" in run.output for run in runs)
    assert left_for_other_runs(created.output) == {
        "responseAcceptedAtField",
        "statusAccepted",
        "statusExpired",
        "statusRejected",
        "attestationIdLocation",
        "attestationIdName",
    }
    assert left_for_other_runs(finalized.output) == set(ASSUMED_KEYS) - {
        "statusPath",
        "statusField",
        "statusAccepted",
        "responseAcceptedAtField",
        "attestationIdLocation",
        "attestationIdName",
    }
    for run in runs:
        found = {key for key, verdict in verdicts(run.output).items() if verdict == "found"}
        assert found == set(ASSUMED_KEYS) - left_for_other_runs(run.output), run.output


@pytest.mark.parametrize(
    ("config", "doc", "gap"),
    [
        ({"responseLinkExpiryField": ""}, acceptance_requested_doc(), "responseLinkExpiryField"),
        (None, acceptance_requested_doc(signatory=signatory(phoneNumber=...)), "phoneField"),
    ],
)
def test_strict_fails_a_run_that_left_a_key_it_reaches_unchecked(
    probe: Probe, config: dict[str, Any] | None, doc: dict[str, Any], gap: str
) -> None:
    """An empty configuration field, or a test customer without a phone: 'not checked' passes a plain run (exit 0)
    and fails a strict one (exit 1), whose summary names the key."""
    event = probe._write("event.json", {**doc, "customerTenantId": str(uuid.uuid4())})
    plain = probe.run(config=config, event=event)
    strict = probe.run("--strict", config=config, event=event)

    assert plain.exit_code == 0, plain.output
    assert "strict:" not in plain.output
    assert verdicts(strict.output)[gap] == "not checked"
    assert strict.exit_code == 1, strict.output
    assert gaps(strict.output) == [gap]
    assert "result: NOT confirmed" in strict.output


def test_strict_names_every_key_a_failed_call_left_unchecked(probe: Probe) -> None:
    """A create answered 404 (wrong apiVersion): the strict summary names the missing key and every key the failed
    call kept this run from reaching."""
    result = probe.run("--strict", config={"apiVersion": "v2"})

    assert result.exit_code == 1, result.output
    assert verdicts(result.output)["apiVersion"] == "missing"
    assert gaps(result.output) == list(ASSUMED_KEYS)


@pytest.mark.parametrize(
    ("config", "key", "verdict"),
    [
        ({"emailField": "mail"}, "emailField", "different shape"),  # the simulator's 400 names signatoryEmail
        ({"responseIdField": "id"}, "responseIdField", "missing"),
        ({"responseLinkField": "link"}, "responseLinkField", "missing"),
        ({"statusField": "state"}, "statusField", "missing"),
        ({"statusPending": ["Pending"]}, "statusPending", "different shape"),
        ({"apiVersion": "v2"}, "apiVersion", "missing"),
        ({"statusPath": "/{apiVersion}/attestations/{attestationId}"}, "statusPath", "missing"),
    ],
)
def test_a_wrong_configuration_field_is_named(probe: Probe, config: dict[str, Any], key: str, verdict: str) -> None:
    """A deliberately wrong field in the override file: its verdict says so, and the command exits 1."""
    result = probe.run(config=config)

    assert result.exit_code == 1, result.output
    assert verdicts(result.output)[key] == verdict
    assert "result: NOT confirmed" in result.output


def test_finalize_before_the_customer_accepted_creates_nothing(probe: Probe) -> None:
    """--finalize on a pending attestation does not create the agreement (the tool never accepts): exit 1."""
    attestation = attestation_of(probe.run().output)

    result = probe.run("--attestation-id", attestation, "--finalize")

    assert result.exit_code == 1, result.output
    assert "not finalized" in result.output
    assert "/agreements" not in result.output
    assert [a.agreement_created for a in probe.simulator.state.enhanced.all()] == [False]


def test_show_link_prints_the_link_only_when_asked(probe: Probe) -> None:
    result = CliRunner().invoke(cli, ["probe", "enhanced", str(probe.event), "--show-link"], env=probe.env)

    assert result.exit_code == 0, result.output
    assert "acceptance link (give it to the test customer): https://mca-acceptance.simulator.invalid/accept/" in (
        result.output
    )


@pytest.mark.parametrize(
    ("doc", "config", "message"),
    [
        (acceptance_requested_doc(country="Germany"), None, "country"),
        (acceptance_requested_doc(), {"responseIdFeld": "id"}, "responseIdFeld"),
        (acceptance_requested_doc(), {"statusPending": "Pending"}, "statusPending"),
    ],
)
def test_usage_errors_exit_2(probe: Probe, doc: dict[str, Any], config: dict[str, Any] | None, message: str) -> None:
    """A bad event or a bad configuration file: exit 2 naming the field, before any call."""
    result = probe.run(config=config, event=probe._write("bad.json", doc))

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert probe.simulator.state.enhanced.all() == []
