"""Fault injection: latency, 429s, 5xx shapes, dropped connections, lost responses, per-partner rate limit."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from emulators.partner_center import FaultConfig, ServerErrorShape, SimulatorServer

from .helpers import CUSTOMERS_PATH, access_token, attestation, new_customer, refresh_grant

pytestmark = pytest.mark.integration


def test_latency_is_added(sim: SimulatorServer, api: httpx.Client) -> None:
    """latency_ms delays every /v1 answer by at least that much."""
    sim.state.configure_faults(latency_ms=200, jitter_ms=20)
    started = time.monotonic()
    assert api.get("/v1/agreements").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_latency_spike(sim: SimulatorServer, api: httpx.Client) -> None:
    """A latency spike adds spike_ms to the call it hits."""
    sim.state.configure_faults(spike_rate=1.0, spike_ms=200)
    started = time.monotonic()
    api.get("/v1/agreements")
    assert time.monotonic() - started >= 0.2


def test_throttled_call_is_429_with_retry_after(sim: SimulatorServer, api: httpx.Client) -> None:
    """An injected 429 has the gateway body and Retry-After, and creates nothing."""
    sim.state.configure_faults(throttle_rate=1.0, retry_after_seconds=7)
    response = api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."}
    assert sim.state.attestation_count() == 0


@pytest.mark.parametrize("shape", list(ServerErrorShape))
def test_server_error_shapes_and_nothing_created(
    sim: SimulatorServer, api: httpx.Client, shape: ServerErrorShape
) -> None:
    """Each 5xx shape (JSON 800003, proxy HTML, empty) happens before the POST is processed."""
    sim.state.configure_faults(server_error_rate=1.0, server_error_shapes=(shape,))
    response = api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation())
    assert response.status_code == int(shape.value.split("-")[0])
    if shape is ServerErrorShape.JSON_500:
        assert response.json()["code"] == 800003
        assert response.json()["isRetryable"] is True
    elif shape.value.endswith("html"):
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.text.startswith("<!DOCTYPE html>")
    else:
        assert response.content == b""
    assert response.headers["MS-CV"]
    assert sim.state.attestation_count() == 0


def test_server_error_shapes_vary(sim: SimulatorServer, api: httpx.Client) -> None:
    """With every shape allowed, a run of 5xx answers shows more than one status."""
    sim.state.configure_faults(server_error_rate=1.0, seed=3)
    statuses = {api.get("/v1/agreements").status_code for _ in range(20)}
    assert len(statuses) > 1
    assert statuses <= {500, 502, 503, 504}


def test_dropped_connection_is_a_transport_error(sim: SimulatorServer, api: httpx.Client) -> None:
    """A dropped connection gives the client a connection error and creates nothing."""
    sim.state.configure_faults(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):  # closed or reset, as the timing falls
        api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation())
    assert sim.state.attestation_count() == 0
    assert sim.state.request_count(route="POST /v1/customers/{customer_id}/agreements", status="dropped") == 1


def test_lost_response_creates_then_replay_answers(sim: SimulatorServer, api: httpx.Client) -> None:
    """A lost response creates the attestation; the retry with the same MS-RequestId gets the 201."""
    customer = new_customer()
    headers = {"MS-RequestId": "lost-response-1"}
    sim.state.configure_faults(lost_response_rate=1.0)
    with pytest.raises(httpx.TransportError):  # closed or reset, as the timing falls
        api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)
    assert sim.state.attestation_count(customer) == 1
    assert api.get("/v1/agreements").status_code == 200  # GETs are never "lost"
    sim.state.configure_faults(lost_response_rate=0.0)
    retry = api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)
    assert retry.status_code == 201
    assert sim.state.replays == 1
    assert sim.state.attestation_count(customer) == 1


def test_a_client_gone_before_its_body_arrived_is_counted_aborted_without_an_error(
    sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that closes the connection between the headers and the whole body (a process killed mid-request) is
    counted ``aborted``, creates nothing, and leaves no error or traceback in the simulator's log."""
    request = (
        f"POST {CUSTOMERS_PATH.format(new_customer())} HTTP/1.1\r\nHost: {sim.address.host}\r\n"
        f"Authorization: Bearer {access_token(sim)}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        '{"primaryContact": '
    )
    with socket.create_connection((sim.address.host, sim.address.port), timeout=10) as connection:
        connection.sendall(request.encode())
    route = "POST /v1/customers/{customer_id}/agreements"
    deadline = time.monotonic() + 10
    while sim.state.request_count(route) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the server answers on its own thread
    assert sim.state.requests[route] == {"aborted": 1}
    assert sim.state.attestation_count() == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_partner_rate_limit(sim: SimulatorServer, api: httpx.Client) -> None:
    """Beyond the per-partner bucket, calls get 429 with Retry-After; another partner has its own bucket."""
    sim.state.configure_faults(partner_rate_limit=0.1, partner_burst=2)
    assert [api.get("/v1/agreements").status_code for _ in range(2)] == [200, 200]
    limited = api.get("/v1/agreements")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["statusCode"] == 429
    other = httpx.post(sim.token_url("11111111-2222-3333-4444-555555555555"), data=refresh_grant())
    token = other.json()["access_token"]
    assert api.get("/v1/agreements", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_faults_are_deterministic_with_a_seed() -> None:
    """The same seed and request order give the same faults."""

    def statuses() -> list[int]:
        faults = FaultConfig(throttle_rate=0.3, server_error_rate=0.3, seed=42)
        with SimulatorServer(faults=faults) as sim, httpx.Client(base_url=sim.base_url) as http:
            return [http.get("/v1/agreements").status_code for _ in range(20)]

    first = statuses()
    assert first == statuses()
    assert len(set(first)) > 1


def test_faults_spare_control_and_token_routes_by_default(sim: SimulatorServer, client: httpx.Client) -> None:
    """Faults hit /v1 only: the control API and (by default) the token endpoint answer normally."""
    sim.state.configure_faults(drop_rate=1.0)
    assert client.get("/_simulator/stats").status_code == 200
    assert client.post(sim.token_url(), data=refresh_grant()).status_code == 200


def test_faults_on_token_endpoint_when_enabled(sim: SimulatorServer, client: httpx.Client) -> None:
    """With apply_to_token_endpoint the token endpoint is faulted too."""
    sim.state.configure_faults(throttle_rate=1.0, apply_to_token_endpoint=True)
    assert client.post(sim.token_url(), data=refresh_grant()).status_code == 429


def test_fault_rates_must_add_up_to_at_most_one() -> None:
    """A fault config whose outcome rates exceed 1 is refused."""
    with pytest.raises(ValueError, match="must not exceed 1"):
        FaultConfig(drop_rate=0.6, throttle_rate=0.6)
