"""Running the simulator: on the caller's event loop (``running_simulator``) or on its own loop in a
background thread (``SimulatorServer``), bound to a loopback port (0 = any free one).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from aiohttp import web

from emulators.partner_center.app import build_app
from emulators.partner_center.conventions import DEFAULT_TENANT_ID
from emulators.partner_center.faults import FaultConfig, ServerErrorShape
from emulators.partner_center.state import SimulatorConfig, SimulatorState

SHUTDOWN_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class SimulatorAddress:
    """Where a running simulator listens."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """Partner Center's root: the client appends ``/v1/…``."""
        return f"http://{self.host}:{self.port}"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_simulator"

    def token_url(self, tenant: str = DEFAULT_TENANT_ID) -> str:
        """The Entra v2 token endpoint of ``tenant``."""
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"


def _make_state(
    state: SimulatorState | None, config: SimulatorConfig | None, faults: FaultConfig | None
) -> SimulatorState:
    if state is None:
        return SimulatorState(config, faults)
    if config is not None or faults is not None:
        raise ValueError("pass either a state or a config and faults, not both")
    return state


async def _start(state: SimulatorState, host: str, port: int, access_log: bool) -> tuple[web.AppRunner, int]:
    app = build_app(state)
    runner = (
        web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
        if access_log
        else web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    return runner, bound_port


class _AddressViews:
    """The URLs of a running simulator, for both ways of running one."""

    __slots__ = ()

    if TYPE_CHECKING:  # provided by each subclass: a dataclass field, or a property of the running server

        @property
        def address(self) -> SimulatorAddress: ...

    @property
    def base_url(self) -> str:
        return self.address.base_url

    @property
    def control_url(self) -> str:
        return self.address.control_url

    def token_url(self, tenant: str = DEFAULT_TENANT_ID) -> str:
        return self.address.token_url(tenant)


@dataclass(frozen=True, slots=True)
class RunningSimulator(_AddressViews):
    """A simulator serving on the current event loop."""

    state: SimulatorState
    address: SimulatorAddress


@asynccontextmanager
async def running_simulator(
    state: SimulatorState | None = None,
    *,
    config: SimulatorConfig | None = None,
    faults: FaultConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    access_log: bool = False,
) -> AsyncIterator[RunningSimulator]:
    """Serve on the running loop for the ``async with`` block (e.g. inside a pytest-asyncio test)."""
    world = _make_state(state, config, faults)
    runner, bound_port = await _start(world, host, port, access_log)
    try:
        yield RunningSimulator(world, SimulatorAddress(host, bound_port))
    finally:
        await runner.cleanup()


class SimulatorServer(_AddressViews):
    """A simulator on its own event loop in a daemon thread; a sync context manager.

    ``with SimulatorServer() as sim: httpx.get(sim.base_url + "/v1/agreements", …)``
    """

    def __init__(
        self,
        state: SimulatorState | None = None,
        *,
        config: SimulatorConfig | None = None,
        faults: FaultConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.state = _make_state(state, config, faults)
        self._host = host
        self._port = port
        self._access_log = access_log
        self._address: SimulatorAddress | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def address(self) -> SimulatorAddress:
        if self._address is None:
            raise RuntimeError("the simulator is not running")
        return self._address

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="partner-center-simulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("the Partner Center simulator did not start") from self._error

    def stop(self) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._thread = None
        self._address = None

    def outage(self, *, refused_seconds: float, unavailable_seconds: float) -> None:
        """Partner Center goes away and comes back, blocking the caller meanwhile: connections are refused
        for ``refused_seconds`` (the server is stopped), then every request is answered 503 with an empty body
        for ``unavailable_seconds``; then the faults configured before the outage apply again."""
        before = self.state.faults
        self.stop()
        time.sleep(refused_seconds)
        self.start()
        self.state.configure_faults(
            FaultConfig(server_error_rate=1.0, server_error_shapes=(ServerErrorShape.EMPTY_503,))
        )
        time.sleep(unavailable_seconds)
        self.state.configure_faults(before)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            runner, port = await _start(self.state, self._host, self._port, self._access_log)
        except OSError as exc:  # e.g. the port is taken: start() raises it in the caller's thread
            self._error = exc
            self._ready.set()
            return
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
        self._address = SimulatorAddress(self._host, port)
        self._port = port  # a restart (see ``outage``) comes back on the same address
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
