"""Two worker processes share one throttling pause through the marker in the metadata cache's folder.

Worker A consumes queue A, worker B queue B; both point at one Partner Center simulator (one partner, one
budget) and one cache folder. The simulator throttles everything (Retry-After 4) while A sends its event; A
writes the pause to the marker. B's event is published after that, while the simulator still throttles: B
must not send before the pause ends. The simulator stops throttling just before the end of the pause, so a B
that ignored the marker would have been answered 429 — the simulator counts exactly one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.servicebus.aio import ServiceBusClient

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus.server import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from shared.attestation.contract import SignedAgreementEvent, parse_event
from shared.metadata_cache.pause_store import MARKER_NAME
from shared.servicebus.publishing import publish_events
from tests.builders import fresh_event_doc

pytestmark = pytest.mark.integration

QUEUE_A, QUEUE_B = "events-a", "events-b"
RETRY_AFTER = 4


@pytest.fixture
def emulator() -> Iterator[ServiceBusEmulator]:
    with running_emulator(queues=[QUEUE_A, QUEUE_B]) as running:
        yield running


async def _publish(connection_string: str, queue: str, event: SignedAgreementEvent) -> None:
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_sender(queue) as sender,
    ):
        await publish_events(sender, [event])


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _start_worker(env: dict[str, str], queue: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "shared.cli.main", "worker", "--concurrency", "4", "--grace-seconds", "5"],
            env={**env, "SERVICEBUS_QUEUE_NAME": queue},
            stdout=sink,
            stderr=sink,
        )


def _pauses(log: Path) -> list[dict[str, object]]:
    lines = (line for line in log.read_text().splitlines() if line.startswith("{"))
    return [doc for doc in map(json.loads, lines) if doc.get("event") == "partner_center.paused"]


def test_a_pause_one_worker_is_told_holds_back_another_worker_process(
    emulator: ServiceBusEmulator, tmp_path: Path
) -> None:
    """A's 429 pauses B (another process) through the marker: B sends only after the pause, so one 429 in all."""
    cache = tmp_path / "cache"
    marker = cache / MARKER_NAME
    with SimulatorServer() as simulator:
        state = simulator.state
        env = {
            **os.environ,
            **simulator_app_settings(simulator.base_url, simulator.token_url(), cache),
            "ServiceBusConnection": emulator.connection_string,
            "PARTNER_CENTER_ADAPTIVE_CONCURRENCY": "true",
        }
        logs = tmp_path / "worker-a.log", tmp_path / "worker-b.log"
        workers = [_start_worker(env, QUEUE_A, logs[0]), _start_worker(env, QUEUE_B, logs[1])]
        try:
            # Warm up: tokens and the metadata cache exist in both workers before anything is throttled.
            for queue in (QUEUE_A, QUEUE_B):
                asyncio.run(_publish(emulator.connection_string, queue, parse_event(fresh_event_doc())))
            assert _wait_until(lambda: state.attestation_count() == 2, 60), logs[0].read_text() + logs[1].read_text()

            state.configure_faults(throttle_rate=1.0, retry_after_seconds=RETRY_AFTER)
            first, second = parse_event(fresh_event_doc()), parse_event(fresh_event_doc())
            asyncio.run(_publish(emulator.connection_string, QUEUE_A, first))
            assert _wait_until(marker.exists, 30), logs[0].read_text()
            paused_until = float(json.loads(marker.read_text())["pausedUntil"])
            asyncio.run(_publish(emulator.connection_string, QUEUE_B, second))

            time.sleep(max(0.0, paused_until - 0.5 - time.time()))
            throttled_during_pause = state.request_count(status=429)  # any route: the pre-check reads come first
            state.configure_faults(throttle_rate=0.0)
            assert _wait_until(lambda: state.attestation_count() == 4, 30), logs[1].read_text()
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)

    assert throttled_during_pause == 1, "worker B sent while the shared pause held"
    assert state.attestation_count(first.customer_tenant_id) == 1
    assert state.attestation_count(second.customer_tenant_id) == 1
    assert [p["origin"] for p in _pauses(logs[0])] == ["429"]
    assert [p["origin"] for p in _pauses(logs[1])] == ["shared"]
    assert _pauses(logs[1])[0]["paused_until"] == pytest.approx(paused_until, abs=0.01)
