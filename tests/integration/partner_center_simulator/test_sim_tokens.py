"""The Entra token endpoint the simulator serves."""

from __future__ import annotations

import httpx
import pytest

from emulators.partner_center import (
    DEFAULT_CLIENT_ID,
    DEFAULT_REFRESH_TOKEN,
    SimulatorConfig,
    SimulatorServer,
)

from .helpers import client_credentials_grant, refresh_grant

pytestmark = pytest.mark.integration


def test_refresh_grant_returns_bearer_token_and_rotated_refresh_token(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    """grant_type=refresh_token answers Entra's token body with a new refresh token."""
    response = client.post(sim.token_url(), data=refresh_grant())
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["ext_expires_in"] == 3600
    assert body["scope"] == refresh_grant()["scope"]
    assert body["access_token"]
    assert body["refresh_token"] not in ("", DEFAULT_REFRESH_TOKEN)


def test_rotation_keeps_old_refresh_token_valid(sim: SimulatorServer, client: httpx.Client) -> None:
    """After a rotation both the old and the new refresh token can be redeemed."""
    rotated = client.post(sim.token_url(), data=refresh_grant()).json()["refresh_token"]
    assert client.post(sim.token_url(), data=refresh_grant()).status_code == 200
    assert client.post(sim.token_url(), data=refresh_grant(refresh_token=rotated)).status_code == 200


def test_client_credentials_grant_has_no_refresh_token(sim: SimulatorServer, client: httpx.Client) -> None:
    """grant_type=client_credentials answers an access token and no refresh token."""
    response = client.post(sim.token_url(), data=client_credentials_grant())
    assert response.status_code == 200
    assert response.json()["access_token"]
    assert "refresh_token" not in response.json()


@pytest.mark.parametrize("revoke", [False, True], ids=["unknown", "revoked"])
def test_unknown_or_revoked_refresh_token_is_invalid_grant(
    sim: SimulatorServer, client: httpx.Client, revoke: bool
) -> None:
    """An unknown or revoked refresh token gets 400 invalid_grant AADSTS700082."""
    if revoke:
        sim.state.revoke_refresh_tokens()
        data = refresh_grant()
    else:
        data = refresh_grant(refresh_token="never-issued")
    response = client.post(sim.token_url(), data=data)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert body["error_codes"] == [700082]
    assert body["error_description"].startswith("AADSTS700082: The refresh token has expired due to inactivity.")


def test_new_refresh_token_after_revocation_works(sim: SimulatorServer, client: httpx.Client) -> None:
    """A refresh token issued after a revocation (a redone consent) is valid."""
    sim.state.revoke_refresh_tokens()
    fresh = sim.state.issue_refresh_token()
    assert client.post(sim.token_url(), data=refresh_grant(refresh_token=fresh)).status_code == 200


def test_wrong_client_secret_is_invalid_client(sim: SimulatorServer, client: httpx.Client) -> None:
    """A wrong client secret gets 401 invalid_client."""
    response = client.post(sim.token_url(), data=refresh_grant(client_secret="wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unknown_client_is_unauthorized_client(sim: SimulatorServer, client: httpx.Client) -> None:
    """An unknown client id gets 400 unauthorized_client (AADSTS700016)."""
    response = client.post(sim.token_url(), data=client_credentials_grant(client_id="not-registered"))
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert response.json()["error_codes"] == [700016]


def test_missing_parameter_is_invalid_request(sim: SimulatorServer, client: httpx.Client) -> None:
    """A grant without its scope gets 400 invalid_request naming the parameter."""
    data = refresh_grant()
    del data["scope"]
    response = client.post(sim.token_url(), data=data)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "'scope'" in response.json()["error_description"]


def test_unsupported_grant_type(sim: SimulatorServer, client: httpx.Client) -> None:
    """An unknown grant type gets 400 unsupported_grant_type."""
    response = client.post(sim.token_url(), data=refresh_grant(grant_type="password"))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_token_requests_are_counted(sim: SimulatorServer, client: httpx.Client) -> None:
    """Every token request, good or bad, is counted."""
    client.post(sim.token_url(), data=refresh_grant())
    client.post(sim.token_url(), data=refresh_grant(client_secret="wrong"))
    assert sim.state.token_requests == 2


def test_token_lifetime_is_configurable(sim: SimulatorServer, client: httpx.Client) -> None:
    """expires_in follows the configured token lifetime."""
    sim.state.configure(token_lifetime_seconds=90)
    assert client.post(sim.token_url(), data=refresh_grant()).json()["expires_in"] == 90


def test_any_tenant_by_default_and_only_accepted_ones_when_configured() -> None:
    """The token endpoint answers any tenant unless accepted tenants are configured (then AADSTS90002)."""
    config = SimulatorConfig(accepted_tenants=frozenset({"11111111-1111-1111-1111-111111111111"}))
    with SimulatorServer(config=config) as sim, httpx.Client() as http:
        accepted = http.post(sim.token_url("11111111-1111-1111-1111-111111111111"), data=refresh_grant())
        other = http.post(sim.token_url("22222222-2222-2222-2222-222222222222"), data=refresh_grant())
    assert accepted.status_code == 200
    assert other.status_code == 400
    assert other.json()["error_codes"] == [90002]


def test_refresh_token_of_other_client_is_invalid_grant() -> None:
    """A refresh token redeemed by a different registered client gets invalid_grant."""
    config = SimulatorConfig(clients=((DEFAULT_CLIENT_ID, "s1"), ("other-client", "s2")))
    with SimulatorServer(config=config) as sim, httpx.Client() as http:
        response = http.post(sim.token_url(), data=refresh_grant(client_id="other-client", client_secret="s2"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
