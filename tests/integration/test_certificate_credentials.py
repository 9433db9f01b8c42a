"""Certificate credentials end to end: the real token flow and client against the simulator over TCP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.partner_center.certificates import ThrowawayCertificate, self_signed_certificate
from emulators.partner_center.conventions import DEFAULT_CLIENT_ID
from emulators.partner_center.server import SimulatorServer
from emulators.partner_center.state import SimulatorConfig
from emulators.processes import simulator_app_settings
from shared.attestation.outcomes import Attested, DeadLetter, DeadLetterReason
from shared.bootstrap import open_services
from shared.settings import Settings
from tests.builders import fresh_event_doc

REGISTERED = self_signed_certificate("registered app certificate")


@pytest.fixture(scope="module")
def simulator_with_certificate() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(client_certificates=((DEFAULT_CLIENT_ID, REGISTERED.certificate_pem),))
    with SimulatorServer(config=config) as server:
        yield server


def _settings(sim: SimulatorServer, tmp_path: Path, certificate: ThrowawayCertificate, mode: str) -> Settings:
    pem = tmp_path / "app.pem"
    pem.write_text(certificate.credential_pem)
    env = simulator_app_settings(sim.base_url, sim.token_url(), tmp_path / "cache")
    env.update(
        {
            "PARTNER_CENTER_AUTH_MODE": mode,
            "PARTNER_CENTER_CLIENT_CREDENTIAL_TYPE": "certificate",
            "PARTNER_CENTER_CLIENT_CERTIFICATE_PATH": str(pem),
            "PARTNER_CENTER_CLIENT_SECRET": "",
        }
    )
    return Settings.from_environment(env)


@pytest.mark.parametrize(("mode", "caller"), [("app_only", DEFAULT_CLIENT_ID), ("app_user", None)])
async def test_certificate_credential_attests(
    simulator_with_certificate: SimulatorServer, tmp_path: Path, mode: str, caller: str | None
) -> None:
    """With the registered certificate, both grants get tokens and the attestation is made (app-only: the
    app is the caller; app + user: the consenting user)."""
    async with open_services(_settings(simulator_with_certificate, tmp_path, REGISTERED, mode)) as services:
        outcome = await services.attestor.attest_body(json.dumps(fresh_event_doc()).encode())
    assert isinstance(outcome, Attested)
    if caller is not None:
        assert outcome.user_id == caller
    else:
        assert outcome.user_id != DEFAULT_CLIENT_ID


async def test_unregistered_certificate_dead_letters_as_authentication_failed(
    simulator_with_certificate: SimulatorServer, tmp_path: Path
) -> None:
    """A certificate Entra does not know is refused: AuthenticationFailed, with Entra's reason."""
    stranger = self_signed_certificate("not registered")
    async with open_services(_settings(simulator_with_certificate, tmp_path, stranger, "app_only")) as services:
        outcome = await services.attestor.attest_body(json.dumps(fresh_event_doc()).encode())
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.AUTHENTICATION_FAILED
    assert "invalid_client" in outcome.description
