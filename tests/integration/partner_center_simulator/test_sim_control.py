"""The control and inspection API over HTTP (``/_simulator``)."""

from __future__ import annotations

import httpx
import pytest

from emulators.partner_center import MCA, MCA_TEMPLATE_ID, SimulatorServer

from .helpers import CUSTOMERS_PATH, attestation, new_customer, refresh_grant

pytestmark = pytest.mark.integration


def test_attestations_and_stats(sim: SimulatorServer, api: httpx.Client, client: httpx.Client) -> None:
    """GET attestations (all or by customerId) and stats show what was recorded and counted."""
    first, second = new_customer(), new_customer()
    api.post(CUSTOMERS_PATH.format(first), json=attestation(), headers={"MS-RequestId": "r1"})
    api.post(CUSTOMERS_PATH.format(first), json=attestation(), headers={"MS-RequestId": "r1"})
    api.post(CUSTOMERS_PATH.format(second), json=attestation())
    everything = client.get("/_simulator/attestations").json()
    assert everything["count"] == 2
    mine = client.get("/_simulator/attestations", params={"customerId": first}).json()
    assert mine["count"] == 1
    assert mine["items"][0]["customerId"] == first
    assert mine["items"][0]["requestId"] == "r1"
    stats = client.get("/_simulator/stats").json()
    assert stats["attestations"] == 2
    assert stats["replays"] == 1
    assert stats["tokenRequests"] == 1
    assert stats["requests"]["POST /v1/customers/{customer_id}/agreements"] == {"201": 3}


def test_reset(sim: SimulatorServer, api: httpx.Client, client: httpx.Client) -> None:
    """POST reset forgets attestations and counters; keepTokens keeps issued tokens valid."""
    api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation())
    assert client.post("/_simulator/reset", params={"keepTokens": "true"}).status_code == 200
    assert sim.state.attestation_count() == 0
    assert sim.state.requests == {}
    assert api.get("/v1/agreements").status_code == 200
    client.post("/_simulator/reset")
    assert api.get("/v1/agreements").status_code == 401


def test_faults_put_patch_and_bad_input(sim: SimulatorServer, api: httpx.Client, client: httpx.Client) -> None:
    """PUT replaces the fault config, PATCH merges into it, a bad option answers 400."""
    put = client.put("/_simulator/faults", json={"throttleRate": 1.0, "retryAfterSeconds": 3})
    assert put.status_code == 200
    assert api.get("/v1/agreements").headers["Retry-After"] == "3"
    patched = client.patch("/_simulator/faults", json={"latencyMs": 5}).json()
    assert (patched["throttleRate"], patched["latencyMs"]) == (1.0, 5)
    assert client.put("/_simulator/faults", json={"latencyMs": 5}).json()["throttleRate"] == 0.0
    assert client.put("/_simulator/faults", json={"noSuchOption": 1}).status_code == 400
    assert client.put("/_simulator/faults", json={"dropRate": 2}).status_code == 400
    assert sim.state.faults.latency_ms == 5


def test_config_patch(sim: SimulatorServer, client: httpx.Client) -> None:
    """PATCH config changes run-time options and refuses others."""
    body = client.patch("/_simulator/config", json={"tokenLifetimeSeconds": 60, "unknownCustomerResponse": "404/1000"})
    assert body.json()["tokenLifetimeSeconds"] == 60
    assert sim.state.config.unknown_customer_response == "404/1000"
    assert client.patch("/_simulator/config", json={"clients": []}).status_code == 400


def test_token_controls(sim: SimulatorServer, api: httpx.Client, client: httpx.Client) -> None:
    """expire ends access tokens, revoke ends refresh tokens, refresh issues a new valid one."""
    assert client.post("/_simulator/tokens/expire").json() == {"expired": 1}
    assert api.get("/v1/agreements").json()["code"] == 1002
    client.post("/_simulator/tokens/revoke")
    assert client.post(sim.token_url(), data=refresh_grant()).json()["error"] == "invalid_grant"
    fresh = client.post("/_simulator/tokens/refresh").json()["refreshToken"]
    assert client.post(sim.token_url(), data=refresh_grant(refresh_token=fresh)).status_code == 200


def test_customer_controls(api: httpx.Client, client: httpx.Client) -> None:
    """Customers can be made unknown, foreign or direct-signed over HTTP."""
    unknown, foreign, signed = new_customer(), new_customer(), new_customer()
    client.post(f"/_simulator/customers/{unknown}/unknown")
    client.post(f"/_simulator/customers/{foreign}/foreign")
    client.put(f"/_simulator/customers/{signed}/direct-signed", json={"isSigned": True})
    assert api.post(CUSTOMERS_PATH.format(unknown), json=attestation()).status_code == 404
    assert api.post(CUSTOMERS_PATH.format(foreign), json=attestation()).status_code == 403
    status = api.get(f"/v1/customers/{signed}/directSignedMicrosoftCustomerAgreementStatus")
    assert status.json() == {"isSigned": True}
    assert client.put(f"/_simulator/customers/{signed}/direct-signed", json={"isSigned": "yes"}).status_code == 400


def test_template_controls(api: httpx.Client, client: httpx.Client) -> None:
    """Templates can be listed, added and retired over HTTP."""
    new_id = "317a77b0-9360-443b-8795-c6dedc750cf9"
    added = client.post(
        "/_simulator/templates",
        json={"templateId": new_id, "agreementType": MCA, "agreementLink": "https://aka.ms/x", "versionRank": 2},
    )
    assert added.status_code == 200
    assert client.post(f"/_simulator/templates/{MCA_TEMPLATE_ID}/retire").status_code == 200
    listed = {t["templateId"]: t["retired"] for t in client.get("/_simulator/templates").json()["items"]}
    assert listed[new_id] is False
    assert listed[MCA_TEMPLATE_ID] is True
    items = api.get("/v1/agreements", params={"agreementType": MCA}).json()["items"]
    assert [i["templateId"] for i in items] == [new_id]
    assert client.post("/_simulator/templates/00000000-0000-0000-0000-000000000000/retire").status_code == 400


def test_health(client: httpx.Client) -> None:
    """GET health answers ok."""
    assert client.get("/_simulator/health").json() == {"status": "ok"}
