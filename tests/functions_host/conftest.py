"""One worker process per test session, inside the test host, wired to the real local stand-ins.

The worker gets the app settings of ``local.settings.json.example``, pointed at the Partner Center simulator
and the project's Service Bus emulator (the retry sender's and the notifier's connection), with a metadata
cache folder and a ledger of its own. It is started, initialised (indexing), asked for metadata and loaded
once; each test resets the simulator, the emulator and the settlement recorder, and reads what it needs from
them. Other settings need a worker of their own over the same stand-ins (``open_app``): ``legacy_only_app``
runs with ``ATTESTATION_FLOWS=legacy``, started for the modules that ask for it.
"""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus.server import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from tests.functions_host.host import FunctionsHost, RecordingSettlement, worker_environment
from tests.functions_host.running import FIRST_CHECK_SECONDS, REPO, RunningApp, template_app_settings

HANG_GUARD_SECONDS = 120  # every host call has its own, shorter timeout; past this, dump stacks and end


@pytest.fixture(autouse=True)
def _hang_guard() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_GUARD_SECONDS, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


@contextmanager
def open_app(
    state: Path, simulator: SimulatorServer, servicebus: ServiceBusEmulator, **overrides: str
) -> Iterator[RunningApp]:
    """A host and one worker (started, initialised, indexed, loaded) over the given stand-ins, with the
    template's settings, the test settings below and ``overrides``; ``state`` holds its cache, ledger, reports
    and the worker's output."""
    cache = state / "metadata-cache"
    reports = state / "reports"
    with FunctionsHost() as host:
        settings = template_app_settings()
        settings.update(simulator_app_settings(simulator.base_url, simulator.token_url(), cache))
        settings.update(
            {
                # The retry sender and the notifier; never set in Azure (identity-based connection there).
                "ServiceBusConnection": servicebus.connection_string,
                "ATTEST_RETRY_BUDGET": "2",
                # One worker serves the whole session, and a throttling pause outlives the test that caused it:
                # the limiter is off here (tests/unit/partner_center/test_pc_throttle.py, test_shared_pause.py).
                "PARTNER_CENTER_ADAPTIVE_CONCURRENCY": "false",
                "RECONCILE_REPORT_DIR": str(reports),
                "ENHANCED_FIRST_CHECK_SECONDS": str(FIRST_CHECK_SECONDS),
                # The strict setting for the RpcLog checks: debug records of every library reach the host.
                "PYTHON_ENABLE_DEBUG_LOGGING": "1",
            }
        )
        settings.update(overrides)
        host.start_worker(REPO, worker_environment(settings), state / "worker-output.txt")
        init = host.init()
        metadata = host.functions_metadata()
        functions = {f.name: f for f in metadata.function_metadata_results}
        loads = {name: host.load(f) for name, f in functions.items()}
        yield RunningApp(host, init, metadata, loads, functions, simulator, servicebus, settings, cache, reports)


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorServer]:
    """The Partner Center simulator every worker of the session talks to."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture(scope="session")
def servicebus() -> Iterator[ServiceBusEmulator]:
    """The Service Bus emulator (``mca-events``, ``mca-notifications``) every worker of the session uses."""
    with running_emulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def running_app(
    tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer, servicebus: ServiceBusEmulator
) -> Iterator[RunningApp]:
    """The host, one worker (started, initialised, indexed, loaded) and the stand-ins, for the session."""
    with open_app(tmp_path_factory.mktemp("functions-host"), simulator, servicebus) as app:
        yield app


def clean_slate(app: RunningApp) -> RunningApp:
    """Reset the simulator's world and faults, the emulator's queues and ``app``'s settlement log."""
    app.simulator.state.reset(keep_tokens=True)
    app.servicebus.reset()
    app.host.settlement.reset()
    return app


@pytest.fixture
def app(running_app: RunningApp) -> RunningApp:
    """The session's app with a clean slate: simulator world and faults, emulator queues, settlement log."""
    return clean_slate(running_app)


@pytest.fixture(scope="module")
def legacy_only_running_app(
    tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer, servicebus: ServiceBusEmulator
) -> Iterator[RunningApp]:
    """A second worker, for one module, on a deployment that runs only the legacy flow (contract v1)."""
    state = tmp_path_factory.mktemp("functions-host-legacy-only")
    with open_app(state, simulator, servicebus, ATTESTATION_FLOWS="legacy") as app:
        yield app


@pytest.fixture
def legacy_only_app(legacy_only_running_app: RunningApp) -> RunningApp:
    """The legacy-only worker with a clean slate (the stand-ins are the session's)."""
    return clean_slate(legacy_only_running_app)


@pytest.fixture
def settlement(app: RunningApp) -> RecordingSettlement:
    return app.host.settlement
