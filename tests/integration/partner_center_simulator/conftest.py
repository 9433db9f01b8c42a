from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from emulators.partner_center import SimulatorServer
from emulators.partner_center.testing import simulator_fixture

from .helpers import access_token

sim = simulator_fixture(name="sim")


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[httpx.Client]:
    """An unauthenticated client of the simulator (token endpoint, control API)."""
    with httpx.Client(base_url=sim.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def api(sim: SimulatorServer) -> Iterator[httpx.Client]:
    """A client of the simulator's Partner Center with a valid app+user bearer token."""
    headers = {"Authorization": f"Bearer {access_token(sim)}", "Accept": "application/json"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=10) as http:
        yield http
