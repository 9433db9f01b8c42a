"""Chaos for the enhanced attestation (contract v2): a faulty Partner Center, duplicate requests, a killed worker.

The Service Bus emulator (``mca-events`` and ``mca-notifications``, duplicate detection on) and the Partner Center
simulator run in this process; the worker is ``mca-attest worker`` in a child process, SIGKILLed once mid-run and
replaced. The simulator answers a share of every ``/v1`` call — the create attestation, the status reads and the
agreement POST among them — with a 429 (``Retry-After``), a 5xx or a dropped connection, and loses the response
of a share of the POSTs after processing them. The worker makes one HTTP attempt per delivery, so every fault
schedules a retry copy. Halfway through, every access token is expired. Some requests are published twice as
distinct messages (their own message ids), so the broker lets both through. A background thread plays the CRM and
the customers: it receives ``mca-notifications`` and accepts each attestation through the simulator's control API
a moment after its link arrived (the tool never accepts).

When the CRM has heard how every request ended and the queue has drained: each customer has exactly one enhanced
attestation and exactly one agreement — counted on the simulator's raw records, where a repost under a new
``MS-RequestId`` shows as a double — the ledger says attested at agreement_created, the CRM received one
link and one agreement_created per request, nothing was dead-lettered, and faults did happen.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.partner_center.faults import FaultConfig
from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus.config import QueueProperties
from emulators.servicebus.server import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from shared.attestation.ledger import LedgerEntry, LedgerState
from shared.attestation.notifications import TERMINAL_KINDS, NotificationKind
from tests.builders import acceptance_requested_doc
from tests.e2e.test_enhanced_flow import (
    EVENTS,
    NOTIFICATIONS,
    NotificationInbox,
    WorkerProcess,
    publish,
    read_entry,
    start_worker,
    v2_message,
)

pytestmark = pytest.mark.e2e

REQUESTS = 40
DUPLICATES = 12  # requests published a second time, as a distinct message
ACCEPT_DELAY_SECONDS = (0.2, 1.5)  # how long after its link reached the CRM a customer accepts
TIMING = {
    "ENHANCED_FIRST_CHECK_SECONDS": "1",
    "ENHANCED_MAX_CHECK_SECONDS": "2",
    "ENHANCED_ACCEPTANCE_DEADLINE_SECONDS": "300",  # never reached: every customer accepts
    "ATTEST_RETRY_BASE_SECONDS": "1",
    "ATTEST_RETRY_MAX_SECONDS": "3",
    "ATTEST_RETRY_BUDGET": "12",
}
ENHANCED_ROUTES = (
    "POST /v1/attestations/enhanced",
    "GET /v1/attestations/enhanced/{attestation_id}",
    "POST /v1/customers/{customer_id}/agreements",
)
FAULT_STATUSES = ("429", "500", "502", "503", "504", "dropped")
MIN_FAULTS_PER_ROUTE = 3
MIN_FAULTS = 40
MIN_SCHEDULED_RETRIES = 40
DRAIN_TIMEOUT_SECONDS = 90.0


@pytest.fixture
def emulator() -> Iterator[ServiceBusEmulator]:
    queue = QueueProperties(
        lock_duration=timedelta(seconds=3),  # messages held by the killed worker come back within seconds
        max_delivery_count=10,
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(days=1),
    )
    with running_emulator(queues=dict.fromkeys((EVENTS, NOTIFICATIONS), queue)) as running:
        yield running


@pytest.fixture
def faulty_partner_center() -> Iterator[SimulatorServer]:
    faults = FaultConfig(
        latency_ms=5,
        jitter_ms=20,
        drop_rate=0.05,
        throttle_rate=0.07,
        retry_after_seconds=1,
        server_error_rate=0.07,
        lost_response_rate=0.10,  # POSTs only: processed, then the connection dropped
        seed=20261202,
    )
    with SimulatorServer(faults=faults) as server:
        yield server


def _start_worker(settings: dict[str, str], log: Path) -> WorkerProcess:
    """The worker at concurrency 16, its INFO records as JSON lines next to ``log`` (the test counts them)."""
    return start_worker(settings, log, concurrency=16, logging_args=("--log-file", str(log.with_suffix(".jsonl"))))


class Customers:
    """The CRM and its customers, on a thread of their own: receives ``mca-notifications`` and, a moment after an
    acceptance link arrived, accepts that attestation through the simulator's control API, as the customer who
    opened the link would. A failure on the thread (a receive, an acceptance refused) is raised by ``check``."""

    def __init__(self, inbox: NotificationInbox, partner_center: SimulatorServer, seed: int) -> None:
        self.inbox = inbox
        self.control_url = partner_center.control_url
        self.rng = random.Random(seed)
        self.accepted: set[str] = set()
        self._due: dict[str, float] = {}  # attestation id → when its customer accepts
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="customers")
        self._running: Future[None] | None = None

    def __enter__(self) -> Customers:
        self._running = self._pool.submit(self._run)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)
        if exc_type is None:
            self.check()

    def check(self) -> None:
        """Raise what ended the thread early, if anything did."""
        if self._running is not None and self._running.done():
            self._running.result()

    def told(self, kinds: Collection[str]) -> int:
        """Requests told one of ``kinds`` so far."""
        return len({r.document["eventId"] for r in list(self.inbox.received) if r.kind in kinds})

    def _run(self) -> None:
        with httpx.Client(timeout=10) as control:
            while not self._stop.is_set():
                self.inbox.receive(max_wait=0.2)
                now = time.monotonic()
                for received in list(self.inbox.received):
                    attestation_id = str(received.document.get("attestationId", ""))
                    if received.kind == NotificationKind.LINK_ISSUED and attestation_id not in self._due:
                        self._due[attestation_id] = now + self.rng.uniform(*ACCEPT_DELAY_SECONDS)
                for attestation_id, due in self._due.items():
                    if due <= now and attestation_id not in self.accepted:
                        control.post(f"{self.control_url}/enhanced/{attestation_id}/accept").raise_for_status()
                        self.accepted.add(attestation_id)

    def receive_the_rest(self) -> None:
        """After the run: receive what is still on the queue, until a receive comes back empty."""
        while True:
            before = len(self.inbox.received)
            self.inbox.receive(max_wait=1.0)
            if len(self.inbox.received) == before:
                return


def _drained(emulator: ServiceBusEmulator) -> bool:
    depths = emulator.queue_depths(EVENTS)
    return depths.active == 0 and depths.scheduled == 0 and depths.deferred == 0


def _ledger_entries(path: Path, docs: list[dict[str, Any]]) -> dict[str, LedgerEntry | None]:
    async def read_all() -> dict[str, LedgerEntry | None]:
        return {str(doc["eventId"]): await read_entry(path, doc) for doc in docs}

    return asyncio.run(read_all())


def _faults(partner_center: SimulatorServer, route: str | None = None) -> int:
    return sum(partner_center.state.request_count(route, status) for status in FAULT_STATUSES)


def test_enhanced_chaos_every_request_attested_once_and_told_once(
    emulator: ServiceBusEmulator, faulty_partner_center: SimulatorServer, tmp_path: Path
) -> None:
    """40 v2 requests (12 of them twice, as distinct messages), faults on every Partner Center call, lost POST
    responses, expired tokens and a SIGKILLed worker: one attestation, one agreement, one link and one
    agreement_created each, nothing dead-lettered."""
    docs = [
        acceptance_requested_doc(eventId=f"chaos-v2-{i:03d}", customerTenantId=str(uuid.uuid4()))
        for i in range(REQUESTS)
    ]
    messages = [v2_message(doc) for doc in docs]
    for doc in docs[:DUPLICATES]:
        duplicate = v2_message(doc)
        duplicate.message_id = f"{doc['eventId']}/duplicate"  # a distinct message: the broker lets it through
        messages.append(duplicate)
    random.Random(7).shuffle(messages)
    publish(emulator.connection_string, EVENTS, messages)

    pc = faulty_partner_center
    settings = {
        **simulator_app_settings(pc.base_url, pc.token_url(), tmp_path),
        "ServiceBusConnection": emulator.connection_string,
        "SERVICEBUS_QUEUE_NAME": EVENTS,
        "NOTIFICATIONS_QUEUE_NAME": NOTIFICATIONS,
        **TIMING,
        "ATTEST_IN_CALL_ATTEMPTS": "1",  # every fault becomes a scheduled retry copy
        # The injected 429s are random, not a rate limit: with the adaptive limiter each would pause the worker
        # and be waited out in the call instead of becoming a retry copy. This test is about retry copies.
        "PARTNER_CENTER_ADAPTIVE_CONCURRENCY": "false",
    }
    log = tmp_path / "worker.log"
    inbox = NotificationInbox(emulator.connection_string)
    inbox.receive(max_wait=2.0)  # opens the link (a shorter wait times out the opening)
    worker = _start_worker(settings, log)
    killed = tokens_expired = False
    try:
        with Customers(inbox, pc, seed=11) as customers:
            deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.25)
                customers.check()
                if not killed and customers.told({NotificationKind.LINK_ISSUED}) >= REQUESTS // 2:
                    worker.kill()  # mid-flight: no chance to settle, release or record anything
                    killed = True
                    worker = _start_worker(settings, log)
                if not tokens_expired and customers.told({NotificationKind.AGREEMENT_CREATED}) >= REQUESTS // 2:
                    pc.state.expire_access_tokens()  # every token the new worker holds is refused from now on
                    tokens_expired = True
                ended = customers.told(TERMINAL_KINDS) == REQUESTS  # however they ended: asserted below
                if killed and ended and _drained(emulator):
                    break
        assert _drained(emulator), f"not drained: {emulator.queue_depths(EVENTS)}; {worker.log_tail()}"
        customers.receive_the_rest()
    finally:
        try:
            assert worker.stop() == 0, worker.log_tail()  # graceful stop on SIGTERM exits 0
        finally:
            inbox.close()
    assert killed
    assert tokens_expired

    state = pc.state
    entries = _ledger_entries(worker.ledger, docs)
    for doc in docs:
        event_id, customer = str(doc["eventId"]), str(doc["customerTenantId"])
        mine = [a for a in state.enhanced.all() if a.customer_id == customer]
        assert len(mine) == 1, f"{event_id}: {len(mine)} enhanced attestations"
        (attestation,) = mine
        assert (attestation.status, attestation.agreement_created) == ("Accepted", True), event_id
        assert (state.raw_record_count(customer), state.attestation_count(customer)) == (1, 1), event_id
        entry = entries[event_id]
        assert entry is not None, event_id
        assert (entry.state, entry.flow_step) == (LedgerState.ATTESTED, "agreement_created"), event_id
        assert entry.attestation_id == attestation.attestation_id, event_id
        told = sorted(r.kind for r in inbox.of(event_id))
        assert told == ["acceptance_link_issued", "agreement_created"], f"{event_id}: {told}"
        assert {r.document["attestationId"] for r in inbox.of(event_id)} == {attestation.attestation_id}
    assert len(state.enhanced.all()) == REQUESTS
    assert state.raw_record_count() == REQUESTS
    assert emulator.dead_letters(EVENTS) == []
    assert emulator.dead_letters(NOTIFICATIONS) == []
    assert state.request_count(status="error") == 0  # the simulator itself never failed

    # The chaos was real: every enhanced route was faulted, lost responses were re-sent under their request id,
    # and the faults became scheduled retries.
    faulted = {route: _faults(pc, route) for route in ENHANCED_ROUTES}
    assert all(count >= MIN_FAULTS_PER_ROUTE for count in faulted.values()), (faulted, state.requests)
    assert _faults(pc) >= MIN_FAULTS, state.requests
    assert state.request_count(status=401) > 0  # the expired tokens were refused, and new ones taken
    assert state.replays + state.enhanced.replays > 0  # a POST whose answer was lost, answered again on retry
    scheduled = log.with_suffix(".jsonl").read_text(encoding="utf-8").count('"settlement": "schedule_retry"')
    assert scheduled >= MIN_SCHEDULED_RETRIES, f"only {scheduled} retries were scheduled"
