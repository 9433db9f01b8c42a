"""Test switches shipped with the emulator: a context manager and pytest fixtures, for any test folder.

Use the context manager wherever a test needs its own queues::

    from emulators.servicebus.testing import running_emulator

    with running_emulator(queues={"orders": QueueProperties(max_delivery_count=3)}) as emulator:
        ...

or the fixtures, bound to names in a ``conftest.py`` (pytest finds fixtures by name; assigning them,
rather than importing them, keeps linters from calling them unused)::

    from emulators.servicebus import testing as servicebus_testing

    servicebus_emulator = servicebus_testing.servicebus_emulator
    servicebus_emulator_module = servicebus_testing.servicebus_emulator_module

``servicebus_emulator`` is fresh for every test; ``servicebus_emulator_module`` is shared by a module,
which lets the module keep its SDK senders and receivers open (handlers cost ~0.5 s each to open);
call its :meth:`~.server.ServiceBusEmulator.reset` for a clean slate between tests. Both serve the queues of
``servicebus_emulator_config``: the committed ``config.json`` (queues ``mca-events`` and ``mca-notifications``)
unless a ``conftest.py`` overrides that fixture with its own :class:`~.config.EmulatorConfig`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta

import pytest

from .config import EmulatorConfig, QueueProperties, load_default_config
from .server import DEFAULT_MAX_MESSAGE_SIZE, ServiceBusEmulator
from .store import Clock, wall_clock_ms


class ShiftableClock:
    """The wall clock plus an offset a test moves forward: scheduled times, TTLs and locks come due at once.

    Pass it as ``running_emulator(..., clock=clock)``; after :meth:`advance`, the emulator's next sweep
    (within 0.1 s) applies whatever became due. Times the SDK sends (a scheduled enqueue time) are wall
    clock times, so schedule relative to :meth:`now_ms` or simply far enough ahead and then advance.
    """

    def __init__(self) -> None:
        self._offset_ms = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return wall_clock_ms() + self._offset_ms

    def advance(self, by: timedelta) -> None:
        with self._lock:
            self._offset_ms += int(by.total_seconds() * 1000)


@contextmanager
def running_emulator(
    config: EmulatorConfig | None = None,
    *,
    queues: Mapping[str, QueueProperties] | Iterable[str] | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    clock: Clock = wall_clock_ms,
) -> Iterator[ServiceBusEmulator]:
    """An emulator on a free loopback port for the duration of the ``with`` block.

    Pass either ``config`` or ``queues`` (names, or names → :class:`QueueProperties`); with neither, the
    committed ``config.json`` is served. ``clock`` (e.g. a :class:`ShiftableClock`) lets a test move time on.
    """
    if config is not None and queues is not None:
        raise ValueError("pass config or queues, not both")
    if queues is not None:
        config = EmulatorConfig.with_queues(queues)
    with ServiceBusEmulator(config, port=0, max_message_size=max_message_size, clock=clock) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def servicebus_emulator_config() -> EmulatorConfig:
    """The entities the emulator fixtures serve; override this fixture to serve others."""
    return load_default_config()


@pytest.fixture
def servicebus_emulator(servicebus_emulator_config: EmulatorConfig) -> Iterator[ServiceBusEmulator]:
    """A fresh emulator for one test."""
    with running_emulator(servicebus_emulator_config) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def servicebus_emulator_module(servicebus_emulator_config: EmulatorConfig) -> Iterator[ServiceBusEmulator]:
    """One emulator for a whole test module (call ``.reset()`` for a clean slate between tests)."""
    with running_emulator(servicebus_emulator_config) as emulator:
        yield emulator


def wait_for_sweeps(emulator: ServiceBusEmulator, count: int = 2, *, within: float = 10.0) -> None:
    """Block until the emulator's 0.1 s sweep has run ``count`` more times (after a clock move, say)."""
    target = emulator.sweeps + count
    deadline = time.monotonic() + within
    while emulator.sweeps < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the emulator's sweep did not run {count} times within {within} s")
        time.sleep(0.02)
