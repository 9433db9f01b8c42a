"""Pytest helpers for other test folders: a fixture factory that serves a fresh simulator.

    # conftest.py
    from emulators.partner_center.testing import simulator_fixture
    partner_center = simulator_fixture()                      # function scope, defaults
    slow_partner_center = simulator_fixture(faults=FaultConfig(latency_ms=100))

The simulator runs on its own loop in a background thread, so it serves sync and async tests alike and
any fixture scope works. With a wider scope, call ``partner_center.state.reset()`` where tests need a
clean world.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest

from emulators.partner_center.faults import FaultConfig
from emulators.partner_center.server import SimulatorServer
from emulators.partner_center.state import SimulatorConfig

Scope = Literal["session", "package", "module", "class", "function"]


def simulator_fixture(
    *,
    config: SimulatorConfig | None = None,
    faults: FaultConfig | None = None,
    scope: Scope = "function",
    name: str | None = None,
) -> object:
    """A pytest fixture yielding a running ``SimulatorServer``; assign it to a name in a conftest."""

    @pytest.fixture(scope=scope, name=name)
    def partner_center_simulator() -> Iterator[SimulatorServer]:
        with SimulatorServer(config=config, faults=faults) as server:
            yield server

    return partner_center_simulator
