"""A 45-second Partner Center outage under the real worker at concurrency 32: nothing bounces, nothing leaks.

Partner Center first refuses connections (the simulator is stopped), then answers 503 to everything, then
recovers. Every message in flight schedules a retry copy at once; those copies go through the real
azure-servicebus SDK to the project's emulator, whose queue has production's MaxDeliveryCount (5) and
duplicate detection on. When the queue has drained, every event is attested exactly once or dead-lettered
RetriesExhausted — none MaxDeliveryCountExceeded — and the worker holds no more file descriptors than
before the outage.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from azure.servicebus.aio import ServiceBusClient

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus.config import QueueProperties
from emulators.servicebus.server import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from shared.attestation.contract import SignedAgreementEvent, parse_event
from shared.servicebus.publishing import publish_events
from tests.builders import fresh_event_doc

pytestmark = pytest.mark.e2e

QUEUE = "mca-events"
EVENTS = 160
CONCURRENCY = 32
REFUSED_SECONDS = 25.0
UNAVAILABLE_SECONDS = 20.0  # 25 + 20 = the 45-second outage
DRAIN_TIMEOUT_SECONDS = 240.0
FD_SLACK = 8  # descriptors the worker may legitimately hold beyond its warm level (a reconnect, a log file)


@pytest.fixture
def emulator() -> Iterator[ServiceBusEmulator]:
    properties = QueueProperties(
        lock_duration=timedelta(seconds=30),
        max_delivery_count=5,  # production's limit (infra/modules/servicebus.bicep)
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(days=1),
    )
    with running_emulator(queues={QUEUE: properties}) as running:
        yield running


def _open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def _publish(connection_string: str, events: list[SignedAgreementEvent]) -> None:
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        await publish_events(sender, events)


def _drained(emulator: ServiceBusEmulator) -> bool:
    depths = emulator.queue_depths(QUEUE)
    return depths.active == 0 and depths.scheduled == 0 and depths.deferred == 0


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def test_outage_at_concurrency_32_ends_attested_or_retries_exhausted_without_leaks(
    emulator: ServiceBusEmulator, tmp_path: Path
) -> None:
    """45 s of refused connections then 503s at concurrency 32: no MaxDeliveryCountExceeded, every event attested
    once or RetriesExhausted, and the worker's file descriptors back at their warm level."""
    simulator = SimulatorServer()
    simulator.start()
    state = simulator.state
    warm = [parse_event(fresh_event_doc(eventId=f"warm-{i:03d}")) for i in range(CONCURRENCY)]
    events = [parse_event(fresh_event_doc(eventId=f"outage-{i:03d}")) for i in range(EVENTS)]
    env = {
        **os.environ,
        **simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache"),
        "ServiceBusConnection": emulator.connection_string,
        "SERVICEBUS_QUEUE_NAME": QUEUE,
        "ATTEST_RETRY_BASE_SECONDS": "2",
        "ATTEST_RETRY_MAX_SECONDS": "10",
        "ATTEST_RETRY_BUDGET": "8",
    }
    log = tmp_path / "worker.log"
    with log.open("ab") as sink:
        worker = subprocess.Popen(  # noqa: S603 — our own command
            [
                sys.executable,
                "-m",
                "shared.cli.main",
                "worker",
                "--concurrency",
                str(CONCURRENCY),
                "--grace-seconds",
                "5",
            ],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        # Warm up: the worker's connections, token and metadata cache exist before the level is measured.
        asyncio.run(_publish(emulator.connection_string, warm))
        assert _wait_until(lambda: state.attestation_count() == len(warm) and _drained(emulator), 60), log.read_text()
        time.sleep(1.0)
        warm_descriptors = _open_descriptors(worker.pid)

        outage = threading.Thread(
            target=simulator.outage,
            kwargs={"refused_seconds": REFUSED_SECONDS, "unavailable_seconds": UNAVAILABLE_SECONDS},
        )
        outage.start()
        time.sleep(0.5)  # connections are refused by now
        asyncio.run(_publish(emulator.connection_string, events))
        outage.join()
        peak_descriptors = _open_descriptors(worker.pid)

        assert _wait_until(lambda: _drained(emulator), DRAIN_TIMEOUT_SECONDS), (
            f"not drained: {emulator.queue_depths(QUEUE)}; see {log}"
        )
        time.sleep(2.0)
        end_descriptors = _open_descriptors(worker.pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        simulator.stop()

    dead = emulator.dead_letters(QUEUE)
    reasons = {str(m.dead_letter_reason) for m in dead}
    assert "MaxDeliveryCountExceeded" not in reasons, f"{len(dead)} dead letters: {sorted(reasons)}; see {log}"
    assert reasons <= {"RetriesExhausted"}
    dead_events = {m.message_id.split("/")[0] for m in dead if m.message_id}
    for event in events:
        count = state.attestation_count(event.customer_tenant_id)
        assert count == 1 or (count == 0 and event.event_id in dead_events), event.event_id
    assert end_descriptors <= warm_descriptors + FD_SLACK, (warm_descriptors, peak_descriptors, end_descriptors)
    print(f"descriptors warm={warm_descriptors} outage={peak_descriptors} end={end_descriptors}; dead={len(dead)}")
