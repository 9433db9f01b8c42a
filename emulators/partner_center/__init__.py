"""A faithful local Partner Center (and Entra token endpoint) for tests, benchmarks and local runs.

A real HTTP server over TCP, not a mock: see ``docs/partner-center-simulator.md``.

    with SimulatorServer() as sim:            # own loop, background thread
        ...sim.base_url, sim.token_url(tenant), sim.state...

    async with running_simulator() as sim:    # on the current loop
        ...
"""

from emulators.partner_center.agreements import Attestation, Contact, Template
from emulators.partner_center.conventions import (
    CLOUD_AGREEMENT,
    CLOUD_AGREEMENT_TEMPLATE_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TENANT_ID,
    DEFAULT_USER_ID,
    MCA,
    MCA_TEMPLATE_ID,
    PARTNER_CENTER_SCOPE,
)
from emulators.partner_center.customers import UnknownCustomerResponse
from emulators.partner_center.faults import FaultConfig, ServerErrorShape
from emulators.partner_center.server import RunningSimulator, SimulatorAddress, SimulatorServer, running_simulator
from emulators.partner_center.state import SimulatorConfig, SimulatorState

__all__ = [
    "CLOUD_AGREEMENT",
    "CLOUD_AGREEMENT_TEMPLATE_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_TENANT_ID",
    "DEFAULT_USER_ID",
    "MCA",
    "MCA_TEMPLATE_ID",
    "PARTNER_CENTER_SCOPE",
    "Attestation",
    "Contact",
    "FaultConfig",
    "RunningSimulator",
    "ServerErrorShape",
    "SimulatorAddress",
    "SimulatorConfig",
    "SimulatorServer",
    "SimulatorState",
    "Template",
    "UnknownCustomerResponse",
    "running_simulator",
]
