"""Partner Center's bearer-token check and response headers."""

from __future__ import annotations

import httpx
import pytest

from emulators.partner_center import DEFAULT_CLIENT_ID, SimulatorServer

from .helpers import CUSTOMERS_PATH, access_token, attestation, client_credentials_grant, new_customer

pytestmark = pytest.mark.integration


def _code(response: httpx.Response) -> int:
    return int(response.json()["code"])


def test_missing_bearer_is_800001(client: httpx.Client) -> None:
    """A call without a bearer token gets 401 code 800001 "Partner Token missing" (classic shape)."""
    response = client.get("/v1/agreements", params={"agreementType": "*"})
    assert response.status_code == 401
    assert response.json() == {
        "code": 800001,
        "description": "Partner Token missing",
        "data": [],
        "source": "PartnerFD",
    }


def test_unknown_token_is_1002(client: httpx.Client) -> None:
    """An unknown bearer token gets 401 code 1002 "Authorization Failed"."""
    response = client.get("/v1/agreements", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert _code(response) == 1002
    assert response.json()["description"] == "Authorization Failed"


def test_expired_token_is_1002(sim: SimulatorServer, api: httpx.Client) -> None:
    """After the access tokens are expired, a call with one gets 401 code 1002."""
    assert sim.state.expire_access_tokens() == 1
    response = api.get("/v1/agreements")
    assert response.status_code == 401
    assert _code(response) == 1002


def test_new_token_after_expiry_works(sim: SimulatorServer, client: httpx.Client) -> None:
    """A token issued after an expiry is accepted."""
    sim.state.expire_access_tokens()
    token = access_token(sim)
    assert client.get("/v1/agreements", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_wrong_audience_is_900420(sim: SimulatorServer, client: httpx.Client) -> None:
    """A token for another resource gets 401 code 900420 "Invalid Token"."""
    token = access_token(sim, scope="https://graph.microsoft.com/.default")
    response = client.get("/v1/agreements", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert _code(response) == 900420
    assert response.json()["description"] == "Invalid Token"


def test_app_only_token_is_accepted_and_user_id_is_the_app(sim: SimulatorServer, client: httpx.Client) -> None:
    """An app-only token may attest; the attestation's userId is the app's id."""
    token = client.post(sim.token_url(), data=client_credentials_grant()).json()["access_token"]
    response = client.post(
        CUSTOMERS_PATH.format(new_customer()), json=attestation(), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    assert response.json()["userId"] == DEFAULT_CLIENT_ID


def test_responses_carry_ms_cv_and_echo_request_ids(api: httpx.Client, client: httpx.Client) -> None:
    """Every /v1 response has MS-CV and echoes MS-RequestId and MS-CorrelationId."""
    headers = {"MS-RequestId": "5b0b7c8e-aaaa-4bbb-8ccc-000000000001", "MS-CorrelationId": "corr-1"}
    ok = api.get("/v1/agreements", headers=headers)
    denied = client.get("/v1/agreements", headers=headers)
    for response in (ok, denied):
        assert response.headers["MS-CV"]
        assert response.headers["MS-RequestId"] == headers["MS-RequestId"]
        assert response.headers["MS-CorrelationId"] == "corr-1"


def test_request_ids_not_sent_are_not_echoed(api: httpx.Client) -> None:
    """Without MS-RequestId or MS-CorrelationId the response still has MS-CV and no echo."""
    response = api.get("/v1/agreements")
    assert response.headers["MS-CV"]
    assert "MS-RequestId" not in response.headers
    assert "MS-CorrelationId" not in response.headers
