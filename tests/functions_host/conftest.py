"""One worker process per test session, inside the test host, wired to the real local stand-ins.

The worker gets the app settings of ``local.settings.json.example``, pointed at the Partner Center simulator
and the project's Service Bus emulator (the retry sender's connection), with a metadata cache folder of
its own. It is started, initialised (indexing), asked for metadata and loaded once; each test resets the
simulator, the emulator and the settlement recorder, and reads what it needs from them.
"""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator

import pytest

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus.testing import running_emulator
from tests.functions_host.host import FunctionsHost, RecordingSettlement, worker_environment
from tests.functions_host.running import REPO, RunningApp, template_app_settings

HANG_GUARD_SECONDS = 120  # every host call has its own, shorter timeout; past this, dump stacks and end


@pytest.fixture(autouse=True)
def _hang_guard() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_GUARD_SECONDS, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The host, one worker (started, initialised, indexed, loaded) and the stand-ins, for the session."""
    state = tmp_path_factory.mktemp("functions-host")
    cache = state / "metadata-cache"
    reports = state / "reports"
    with SimulatorServer() as simulator, running_emulator() as servicebus, FunctionsHost() as host:
        settings = template_app_settings()
        settings.update(simulator_app_settings(simulator.base_url, simulator.token_url(), cache))
        settings.update(
            {
                "ServiceBusConnection": servicebus.connection_string,  # the retry sender; never set in Azure
                "ATTEST_RETRY_BUDGET": "2",
                # One worker serves the whole session, and a throttling pause outlives the test that caused it:
                # the limiter is off here (tests/unit/partner_center/test_pc_throttle.py, test_shared_pause.py).
                "PARTNER_CENTER_ADAPTIVE_CONCURRENCY": "false",
                "RECONCILE_REPORT_DIR": str(reports),
                # The strict setting for the RpcLog checks: debug records of every library reach the host.
                "PYTHON_ENABLE_DEBUG_LOGGING": "1",
            }
        )
        host.start_worker(REPO, worker_environment(settings), state / "worker-output.txt")
        init = host.init()
        metadata = host.functions_metadata()
        functions = {f.name: f for f in metadata.function_metadata_results}
        loads = {name: host.load(f) for name, f in functions.items()}
        yield RunningApp(host, init, metadata, loads, functions, simulator, servicebus, settings, cache, reports)


@pytest.fixture
def app(running_app: RunningApp) -> RunningApp:
    """The session's app with a clean slate: simulator world and faults, emulator queues, settlement log."""
    running_app.simulator.state.reset(keep_tokens=True)
    running_app.servicebus.reset()
    running_app.host.settlement.reset()
    return running_app


@pytest.fixture
def settlement(app: RunningApp) -> RecordingSettlement:
    return app.host.settlement
