"""Soak: 20,000 events through emulator → worker → simulator with 5 % faults and a 30-second outage.

The Service Bus emulator and the Partner Center simulator run in this process (their state is read
directly); the worker is ``mca-attest worker`` in a child process, so its resident memory and open file
descriptors are its own. Faults: 5 % of Partner Center requests, split evenly between dropped
connections, 429s, 5xx answers and lost responses (processed, then the connection dropped). In the
middle of the run Partner Center goes away: connections refused for half the outage, then 503 to
everything, then it recovers.

Baseline, measured first in the same run: the same worker on a fault-free Partner Center. Figures: events
per second (soak and baseline, and their ratio), the worker's RSS and descriptors at the start, right after
the outage and at the end, and the tally — attested once / dead-lettered by reason / lost / doubles, where
doubles are customers with more than one raw record in the simulator (one per distinct MS-RequestId that
would have created an attestation, whatever 600061 or the replay cache answered).
Goal: 0 lost, 0 doubles, memory and descriptors flat after the outage.

    .venv/bin/python bench/bench_soak.py [--events 20000] [--baseline-events 2000] [--outage-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from azure.servicebus.aio import ServiceBusClient

from emulators.partner_center.faults import FaultConfig
from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus.config import QueueProperties
from emulators.servicebus.server import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from shared.attestation.contract import SignedAgreementEvent, parse_event
from shared.servicebus.publishing import publish_events

QUEUE = "mca-events"
FAULT_SHARE = 0.05
CONCURRENCY = 32


def faults(seed: int) -> FaultConfig:
    share = FAULT_SHARE / 4
    return FaultConfig(
        drop_rate=share, throttle_rate=share, server_error_rate=share, lost_response_rate=share, seed=seed
    )


def events(prefix: str, count: int) -> list[SignedAgreementEvent]:
    import uuid

    return [
        parse_event(
            {
                "eventId": f"{prefix}-{i:06d}",
                "customerTenantId": str(uuid.uuid4()),
                "dateAgreed": "2026-11-20T09:30:00Z",
                "primaryContact": {"firstName": "Soak", "lastName": f"Tester{i}", "email": f"soak{i}@example.com"},
            }
        )
        for i in range(count)
    ]


async def publish(connection_string: str, batch: list[SignedAgreementEvent]) -> None:
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        await publish_events(sender, batch, batch_size=500)


def worker_vitals(pid: int) -> tuple[float, int]:
    """(resident MiB, open file descriptors) of a process."""
    rss_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def settled_count(simulator: SimulatorServer, emulator: ServiceBusEmulator, customers: set[str]) -> int:
    state = simulator.state
    return sum(1 for c in customers if state.attestation_count(c)) + len(emulator.dead_letters(QUEUE))


def wait_for(condition: Callable[[], bool], timeout: float, poll: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def drained(emulator: ServiceBusEmulator) -> bool:
    depths = emulator.queue_depths(QUEUE)
    return depths.active == 0 and depths.scheduled == 0 and depths.locked == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--baseline-events", type=int, default=2_000)
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()

    properties = QueueProperties(
        lock_duration=timedelta(seconds=60),
        max_delivery_count=5,  # production's
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(days=1),
        default_message_time_to_live=timedelta(days=14),
    )
    simulator = SimulatorServer()
    simulator.start()
    state = simulator.state
    with tempfile.TemporaryDirectory() as scratch, running_emulator(queues={QUEUE: properties}) as emulator:
        env = {
            **os.environ,
            **simulator_app_settings(simulator.base_url, simulator.token_url(), Path(scratch) / "cache"),
            "ServiceBusConnection": emulator.connection_string,
            "SERVICEBUS_QUEUE_NAME": QUEUE,
            "ATTEST_RETRY_BASE_SECONDS": "2",
            "ATTEST_RETRY_MAX_SECONDS": "15",
            "ATTEST_RETRY_BUDGET": "8",
        }
        log = Path(scratch) / "worker.log"
        with log.open("ab") as sink:
            worker = subprocess.Popen(  # noqa: S603 — our own command
                [sys.executable, "-m", "shared.cli.main", "worker", "--concurrency", str(CONCURRENCY)],
                env=env,
                stdout=sink,
                stderr=sink,
            )
        try:
            # Baseline: no faults.
            baseline = events("base", args.baseline_events)
            asyncio.run(publish(emulator.connection_string, baseline))
            started = time.perf_counter()
            if not wait_for(lambda: state.attestation_count() >= len(baseline), 600, poll=0.1):
                raise SystemExit(f"baseline did not finish; see {log}")
            baseline_rate = len(baseline) / (time.perf_counter() - started)
            wait_for(lambda: drained(emulator), 30)
            time.sleep(1.0)
            vitals_start = worker_vitals(worker.pid)

            # Soak: faults on, an outage in the middle.
            soak = events("soak", args.events)
            customers = {e.customer_tenant_id for e in soak}
            state.configure_faults(faults(args.seed))
            asyncio.run(publish(emulator.connection_string, soak))
            started = time.perf_counter()
            wait_for(lambda: settled_count(simulator, emulator, customers) >= len(soak) // 2, 3600)
            outage_began = time.perf_counter()
            simulator.outage(refused_seconds=args.outage_seconds / 2, unavailable_seconds=args.outage_seconds / 2)
            time.sleep(1.0)
            vitals_outage = worker_vitals(worker.pid)
            outage_ended = time.perf_counter()
            finished = wait_for(lambda: drained(emulator), 3600, poll=1.0)
            soak_seconds = time.perf_counter() - started
            time.sleep(2.0)
            vitals_end = worker_vitals(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
            simulator.stop()

        dead = emulator.dead_letters(QUEUE)
        dead_reasons = Counter(str(m.dead_letter_reason) for m in dead)
        dead_events = {str(m.message_id).split("/")[0] for m in dead}
        attested_once = sum(1 for c in customers if state.raw_record_count(c) == 1)
        doubles = sum(1 for c in customers if state.raw_record_count(c) > 1)
        lost = sum(
            1 for e in soak if state.attestation_count(e.customer_tenant_id) == 0 and e.event_id not in dead_events
        )
        requests = state.requests
        faults_seen = sum(
            count
            for route in requests.values()
            for status, count in route.items()
            if status in {"dropped", "429", "500", "502", "503", "504"}
        )

    soak_rate = args.events / soak_seconds
    outage_seconds = outage_ended - outage_began
    print(
        f"baseline (no faults, {args.baseline_events} events, concurrency {CONCURRENCY}): {baseline_rate:7.1f} events/s"
    )
    print(
        f"soak ({args.events} events, {FAULT_SHARE:.0%} faults, {outage_seconds:.0f} s outage): {soak_rate:7.1f} events/s "
        f"= {soak_rate / baseline_rate:.2f} of the baseline{'' if finished else ' (NOT DRAINED)'}"
    )
    print(f"faulted Partner Center answers: {faults_seen}")
    for label, (rss, fds) in (("start", vitals_start), ("after outage", vitals_outage), ("end", vitals_end)):
        print(f"worker {label:>12}: RSS {rss:6.1f} MiB, open descriptors {fds}")
    print(
        f"tally: attested once {attested_once}, dead-lettered {dict(dead_reasons) or 0}, lost {lost}, "
        f"doubles {doubles} (goal: lost 0, doubles 0)"
    )


if __name__ == "__main__":
    main()
