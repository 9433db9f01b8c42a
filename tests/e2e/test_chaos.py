"""Chaos: 1,000+ events through the real worker process, a faulty Partner Center and a killed worker.

The Service Bus emulator and the Partner Center simulator run in this process; the worker runs as
``mca-attest worker`` in a child process that is SIGKILLed three times mid-flight and restarted. Duplicates
are distinct messages (their own message ids), so they reach the worker rather than being dropped by the
broker; the worker makes one HTTP attempt per delivery, so every fault schedules a retry copy (hundreds per
run). When the queue has drained: every valid event is attested exactly once — counted on the simulator's
raw records, which 600061 and the MS-RequestId replay cannot hide — every invalid one is dead-lettered as
InvalidEvent, nothing is lost, and no transient fault ended in the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient

from emulators.partner_center.faults import FaultConfig
from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus.config import QueueProperties
from emulators.servicebus.server import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from shared.servicebus.publishing import send_in_batches
from tests.builders import contact, fresh_event_doc

pytestmark = pytest.mark.e2e

QUEUE = "mca-events"
VALID_EVENTS = 1000
INVALID_EVENTS = 40
DUPLICATES = 60  # valid events published a second time, as a distinct message
MIN_SCHEDULED_RETRIES = 150
KILLS = 3
DRAIN_TIMEOUT_SECONDS = 240


@pytest.fixture
def emulator() -> Iterator[ServiceBusEmulator]:
    # A short lock, so messages held by a killed worker come back within seconds.
    properties = QueueProperties(
        lock_duration=timedelta(seconds=5),
        max_delivery_count=10,
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(minutes=10),
    )
    with running_emulator(queues={QUEUE: properties}) as running:
        yield running


@pytest.fixture
def faulty_partner_center() -> Iterator[SimulatorServer]:
    faults = FaultConfig(
        latency_ms=20,
        jitter_ms=20,
        spike_rate=0.02,
        spike_ms=400,
        throttle_rate=0.07,
        retry_after_seconds=1,
        server_error_rate=0.07,
        drop_rate=0.06,
        seed=20261121,
    )
    with SimulatorServer(faults=faults) as server:
        yield server


async def _publish(connection_string: str, bodies: list[tuple[str, dict[str, Any]]]) -> None:
    messages = (ServiceBusMessage(json.dumps(body), message_id=message_id) for message_id, body in bodies)
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        await send_in_batches(sender, messages, batch_size=500)


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    json_log = log.with_suffix(".jsonl")  # INFO records: one "attestation.outcome" per settlement
    with log.open("ab") as sink:
        return subprocess.Popen(  # noqa: S603 — our own command
            [
                sys.executable,
                "-m",
                "shared.cli.main",
                "--log-file",
                str(json_log),
                "worker",
                "--concurrency",
                "32",
                "--grace-seconds",
                "5",
            ],
            env=env,
            stdout=sink,
            stderr=sink,
        )


def _drained(emulator: ServiceBusEmulator) -> bool:
    depths = emulator.queue_depths(QUEUE)
    return depths.active == 0 and depths.scheduled == 0 and depths.deferred == 0


def test_chaos_every_event_attested_once_or_dead_lettered(
    emulator: ServiceBusEmulator, faulty_partner_center: SimulatorServer, tmp_path: Path
) -> None:
    """1,000 valid events, duplicates and invalid ones, 20% faults, a token expiry and three SIGKILLs:
    the invariants hold once the queue drains."""
    valid = [fresh_event_doc(eventId=f"chaos-{i:05d}") for i in range(VALID_EVENTS)]
    invalid = [
        fresh_event_doc(eventId=f"chaos-invalid-{i:03d}", primaryContact=contact(email="not-an-email"))
        for i in range(INVALID_EVENTS)
    ]
    published = [(e["eventId"], e) for e in valid + invalid] + [(f"{e['eventId']}/dup", e) for e in valid[:DUPLICATES]]
    asyncio.run(_publish(emulator.connection_string, published))

    env = {
        **os.environ,
        **simulator_app_settings(faulty_partner_center.base_url, faulty_partner_center.token_url(), tmp_path / "cache"),
        "ServiceBusConnection": emulator.connection_string,
        "SERVICEBUS_QUEUE_NAME": QUEUE,
        "ATTEST_RETRY_BASE_SECONDS": "1",
        "ATTEST_RETRY_MAX_SECONDS": "4",
        "ATTEST_RETRY_BUDGET": "8",
        "ATTEST_IN_CALL_ATTEMPTS": "1",  # every fault becomes a scheduled retry copy
        # The injected 429s are random, not a rate limit: with the adaptive limiter each would pause the worker and
        # be waited out in the call instead of becoming a retry copy. This test is about retry copies.
        "PARTNER_CENTER_ADAPTIVE_CONCURRENCY": "false",
    }
    log = tmp_path / "worker.log"
    worker = _start_worker(env, log)
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    try:
        kills, token_expired = 0, False
        total = VALID_EVENTS + INVALID_EVENTS
        while time.monotonic() < deadline:
            time.sleep(0.5)
            done = faulty_partner_center.state.attestation_count() + len(emulator.dead_letters(QUEUE))
            if kills < KILLS and done >= (kills + 1) * total // (KILLS + 2):
                worker.send_signal(signal.SIGKILL)  # mid-flight: no chance to settle or release anything
                worker.wait(timeout=10)
                kills += 1
                worker = _start_worker(env, log)
            if not token_expired and done >= total // 2:
                faulty_partner_center.state.expire_access_tokens()
                token_expired = True
            if kills == KILLS and _drained(emulator):
                break
        assert _drained(emulator), f"queue not drained in time: {emulator.queue_depths(QUEUE)}; see {log}"
        assert kills == KILLS
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0  # graceful stop on SIGTERM exits 0

    state = faulty_partner_center.state
    not_exactly_once = [e["eventId"] for e in valid if state.raw_record_count(e["customerTenantId"]) != 1]
    assert not_exactly_once == []
    assert all(state.attestation_count(e["customerTenantId"]) == 1 for e in valid)
    scheduled = log.with_suffix(".jsonl").read_text(encoding="utf-8").count('"settlement": "schedule_retry"')
    assert scheduled >= MIN_SCHEDULED_RETRIES, f"only {scheduled} retries were scheduled"
    dead = emulator.dead_letters(QUEUE)
    dead_ids = sorted(str(m.message_id) for m in dead)
    assert dead_ids == sorted(e["eventId"] for e in invalid)
    assert {m.dead_letter_reason for m in dead} == {"InvalidEvent"}
    assert state.attestation_count() == VALID_EVENTS  # published = attested + dead-lettered, by event id
    assert state.request_count(status=429) + state.request_count(status="dropped") > 0  # faults did happen

    # Replay half of the dead letters with the email fixed, under the same faults; the invariant holds again.
    replay = subprocess.run(  # noqa: S603 — our own command
        [
            sys.executable,
            "-m",
            "shared.cli.main",
            "dlq",
            "replay",
            "--reason",
            "InvalidEvent",
            "--limit",
            str(INVALID_EVENTS // 2),
            "--set",
            "primaryContact.email=fixed@example.com",
            "--max-wait",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    worker = _start_worker(env, log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            _drained(emulator) and state.attestation_count() == VALID_EVENTS + INVALID_EVENTS // 2
        ):
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    replayed = [e for e in invalid if state.attestation_count(e["customerTenantId"]) == 1]
    still_dead = {str(m.message_id) for m in emulator.dead_letters(QUEUE)}
    assert len(replayed) == INVALID_EVENTS // 2
    assert {e["eventId"] for e in invalid} == {e["eventId"] for e in replayed} | still_dead
    assert all(state.raw_record_count(e["customerTenantId"]) <= 1 for e in invalid)
    assert state.attestation_count() == VALID_EVENTS + INVALID_EVENTS // 2
    assert state.raw_record_count() == VALID_EVENTS + INVALID_EVENTS // 2
