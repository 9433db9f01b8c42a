"""Shared fixtures for tests that talk to real local servers over TCP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from shared.bootstrap import Services, open_services
from shared.settings import Settings


@pytest.fixture(scope="module")
def partner_center() -> Iterator[SimulatorServer]:
    """One simulator per module, in its own thread; tests reset its state."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def simulator(partner_center: SimulatorServer) -> SimulatorServer:
    """The module's simulator with a fresh world and no faults."""
    partner_center.state.reset()
    partner_center.state.configure_faults(None)
    return partner_center


@pytest.fixture
def app_settings(simulator: SimulatorServer, tmp_path: Path) -> Settings:
    env = simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache")
    # Fast in-call retries so fault tests stay quick; the policy's shape is what is under test.
    env.update({"ATTEST_IN_CALL_ATTEMPTS": "3", "ATTEST_RETRY_BUDGET": "2"})
    return Settings.from_environment(env)


@pytest.fixture
async def services(app_settings: Settings) -> AsyncIterator[Services]:
    async with open_services(app_settings) as built:
        yield built
