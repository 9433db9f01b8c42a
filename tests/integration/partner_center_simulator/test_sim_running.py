"""Ways to run the simulator: on the test's loop, in a thread, as a command; and under concurrency."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from emulators.partner_center import (
    DEFAULT_TENANT_ID,
    FaultConfig,
    SimulatorServer,
    SimulatorState,
    running_simulator,
)

from .helpers import CUSTOMERS_PATH, attestation, new_customer, refresh_grant

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[3]


async def test_running_simulator_on_the_current_loop() -> None:
    """running_simulator serves on the test's own event loop."""
    async with running_simulator() as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        token = (await http.post(sim.token_url(), data=refresh_grant())).json()["access_token"]
        response = await http.post(
            CUSTOMERS_PATH.format(new_customer()), json=attestation(), headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201
        assert sim.state.attestation_count() == 1


async def test_64_concurrent_calls_with_100ms_latency_overlap() -> None:
    """64 concurrent calls with 100 ms latency are served together, not one after another."""
    faults = FaultConfig(latency_ms=100)
    limits = httpx.Limits(max_connections=64)
    async with (
        running_simulator(faults=faults) as sim,
        httpx.AsyncClient(base_url=sim.base_url, limits=limits, timeout=30) as http,
    ):
        token = (await http.post(sim.token_url(), data=refresh_grant())).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        started = time.monotonic()
        responses = await asyncio.gather(
            *(http.post(CUSTOMERS_PATH.format(new_customer()), json=attestation(), headers=headers) for _ in range(64))
        )
        elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [201] * 64
    assert sim.state.attestation_count() == 64
    assert sim.state.peak_in_flight >= 16  # a serialising server would never have two in flight
    assert elapsed < 6.4  # serially it would take at least 64 x 100 ms


def test_simulator_server_urls_and_shared_state() -> None:
    """SimulatorServer binds a free loopback port and serves the state it was given."""
    state = SimulatorState()
    state.set_direct_signed("11111111-1111-1111-1111-111111111111")
    with SimulatorServer(state) as sim:
        assert sim.state is state
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.token_url() == f"{sim.base_url}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"
        assert httpx.get(f"{sim.control_url}/health").status_code == 200
    with pytest.raises(RuntimeError):
        _ = sim.base_url


def test_simulator_server_reports_a_taken_port() -> None:
    """Starting on a port already in use raises in the caller's thread."""
    with SimulatorServer() as first:
        taken = first.address.port
        with pytest.raises(RuntimeError, match="did not start"):
            SimulatorServer(port=taken).start()


def test_command_prints_base_url_and_stops_on_sigterm() -> None:
    """python -m emulators.partner_center prints its base URL and exits 0 on SIGTERM."""
    command = [sys.executable, "-m", "emulators.partner_center", "--port", "0", "--latency-ms", "1", "--seed", "1"]
    with subprocess.Popen(  # noqa: S603 - a fixed argv: this interpreter and the simulator module
        command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        first_line = proc.stdout.readline()
        assert first_line.startswith("Partner Center simulator listening on http://127.0.0.1:")
        base_url = first_line.rsplit(" ", 1)[1].strip()
        faults = httpx.get(f"{base_url}/_simulator/faults").json()
        assert (faults["latencyMs"], faults["seed"]) == (1.0, 1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
