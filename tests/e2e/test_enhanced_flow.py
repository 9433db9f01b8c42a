"""The enhanced attestation (contract v2) end to end, over real parts and short timing.

The Service Bus emulator (events queues and ``mca-notifications``, duplicate detection on) and the Partner Center
simulator run in this process; the worker is ``mca-attest worker`` in a child process, wired by the app settings
alone — except where a test must stop it at one exact instant (after the link notification was sent, before the
ledger heard of it): there the standalone ``Worker`` runs in this process with a notifier that hangs at that instant.
Status checks come 1 s after the link, then every 2 s; the customer has 6 s to accept. The simulator stands in for
the customer through its control API (the tool never accepts); notifications are received with the SDK, as the CRM
would; the ledger is read through ``shared.ledger``. One test runs its own emulator whose clock is ahead of the
worker's, so scheduled checks arrive early.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient

from emulators.partner_center.enhanced import LINK_BASE
from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus.config import QueueProperties
from emulators.servicebus.server import ServiceBusEmulator
from emulators.servicebus.testing import ShiftableClock, running_emulator
from shared.attestation.contract import parse_event
from shared.attestation.contract.v2 import parse_acceptance_requested
from shared.attestation.ledger import LedgerEntry, LedgerState
from shared.attestation.notifications import FlowNotification, NotificationKind, Notifier
from shared.bootstrap import open_services
from shared.ledger import SqliteLedger
from shared.servicebus.messages import event_message
from shared.servicebus.notifications import ServiceBusNotifier
from shared.servicebus.worker import Worker
from shared.settings import Settings
from tests.builders import COMPANY, EMAIL, FIRST, LAST, PHONE, acceptance_requested_doc, fresh_event_doc

pytestmark = pytest.mark.e2e

EVENTS = "mca-events"  # the module's worker consumes it
RESUME = "mca-events-resume"  # the crash tests' own workers consume it
NOTIFICATIONS = "mca-notifications"
MISSING_QUEUE = "mca-notifications-missing"  # no such queue: a notification to it cannot be sent
DEADLINE_SECONDS = 6.0
TIMING = {
    "ENHANCED_FIRST_CHECK_SECONDS": "1",
    "ENHANCED_MAX_CHECK_SECONDS": "2",
    "ENHANCED_ACCEPTANCE_DEADLINE_SECONDS": f"{DEADLINE_SECONDS:g}",
    "ATTEST_RETRY_BASE_SECONDS": "1",
    "ATTEST_RETRY_MAX_SECONDS": "2",
}
WAIT_SECONDS = 20.0  # the most any step below may take
PERSONAL_DATA = (FIRST, LAST, EMAIL, PHONE, COMPANY)


# --- the stack ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[ServiceBusEmulator]:
    queue = QueueProperties(
        lock_duration=timedelta(seconds=3),  # a message held by a stopped worker comes back within seconds
        max_delivery_count=10,
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(days=1),
    )
    with running_emulator(queues=dict.fromkeys((EVENTS, RESUME, NOTIFICATIONS), queue)) as running:
        yield running


@pytest.fixture(scope="module")
def partner_center() -> Iterator[SimulatorServer]:
    with SimulatorServer() as server:
        yield server


def _app_settings(
    emulator: ServiceBusEmulator, partner_center: SimulatorServer, home: Path, **changes: str
) -> dict[str, str]:
    """The worker's app settings: the simulator, the emulator, the ledger under ``home`` and the short timing."""
    return {
        **simulator_app_settings(partner_center.base_url, partner_center.token_url(), home),
        "ServiceBusConnection": emulator.connection_string,
        "SERVICEBUS_QUEUE_NAME": EVENTS,
        "NOTIFICATIONS_QUEUE_NAME": NOTIFICATIONS,
        **TIMING,
        **changes,
    }


@dataclass
class WorkerProcess:
    """``mca-attest worker`` in a child process, its log, and its ledger file."""

    process: subprocess.Popen[bytes]
    log: Path
    ledger: Path

    def log_tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def start_worker(
    settings: dict[str, str],
    log: Path,
    *,
    concurrency: int = 8,
    logging_args: tuple[str, ...] = ("--log-level", "INFO"),
) -> WorkerProcess:
    """``mca-attest worker`` as a child process with ``settings`` as its environment, its output in ``log``."""
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 — our own command
            [
                sys.executable,
                "-m",
                "shared.cli.main",
                *logging_args,
                "worker",
                "--concurrency",
                str(concurrency),
                "--grace-seconds",
                "5",
            ],
            env={**os.environ, **settings},
            stdout=sink,
            stderr=sink,
        )
    return WorkerProcess(process, log, Path(settings["LEDGER_PATH"]))


@pytest.fixture(scope="module")
def worker(
    emulator: ServiceBusEmulator, partner_center: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One worker for the module's events queue, both contracts enabled (the default ATTESTATION_FLOWS)."""
    home = tmp_path_factory.mktemp("worker")
    running = start_worker(_app_settings(emulator, partner_center, home), home / "worker.log")
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log_tail()


@dataclass(frozen=True, slots=True)
class Received:
    """One message from ``mca-notifications``, as the CRM reads it."""

    message_id: str
    subject: str
    kind_property: str
    body: str
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document["kind"])


class NotificationInbox:
    """Receives ``mca-notifications`` with the SDK (peek-lock, then complete), keeping every message by event id."""

    def __init__(self, connection_string: str) -> None:
        self._client = ServiceBusClient.from_connection_string(connection_string)
        self._receiver = self._client.get_queue_receiver(NOTIFICATIONS)
        self.received: list[Received] = []

    def close(self) -> None:
        self._receiver.close()
        self._client.close()

    def of(self, event_id: str) -> list[Received]:
        return [r for r in self.received if r.document.get("eventId") == event_id]

    def wait_for(self, event_id: str, kind: str, timeout: float = WAIT_SECONDS) -> Received:
        """The first ``kind`` notification of ``event_id``, receiving until it has come."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.of(event_id) if r.kind == kind]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} for {event_id}; received {[r.kind for r in self.of(event_id)]}")
            self.receive(max_wait=0.5)

    def receive(self, max_wait: float) -> None:
        for message in self._receiver.receive_messages(max_message_count=50, max_wait_time=max_wait):
            body = b"".join(message.body).decode("utf-8")
            properties = {_text(k): _text(v) for k, v in (message.application_properties or {}).items()}
            self.received.append(
                Received(
                    str(message.message_id),
                    str(message.subject),
                    properties.get("mca-notification-kind", ""),
                    body,
                    json.loads(body),
                )
            )
            self._receiver.complete_message(message)


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@pytest.fixture(scope="module")
def inbox(emulator: ServiceBusEmulator) -> Iterator[NotificationInbox]:
    box = NotificationInbox(emulator.connection_string)
    try:
        yield box
    finally:
        box.close()


# --- what the CRM and the customer do, and what the test reads ------------------------------------------------------


def v2_event(**fields: Any) -> dict[str, Any]:
    """A contract v2 event of a new customer, with the builders' (unusual) personal data."""
    return acceptance_requested_doc(
        eventId=f"crm-v2-{uuid.uuid4().hex[:10]}", customerTenantId=str(uuid.uuid4()), **fields
    )


def v2_message(doc: dict[str, Any]) -> ServiceBusMessage:
    """The message the publisher (``mca-attest publish``) sends for a contract v2 event."""
    return event_message(parse_acceptance_requested(doc))


def publish(connection_string: str, queue: str, messages: list[ServiceBusMessage]) -> None:
    with ServiceBusClient.from_connection_string(connection_string) as client, client.get_queue_sender(queue) as sender:
        sender.send_messages(messages)


def customer_acts(partner_center: SimulatorServer, attestation_id: str, action: str) -> None:
    """The customer's side, through the simulator's control API: ``accept`` (or the link ``expire``s)."""
    response = httpx.post(f"{partner_center.control_url}/enhanced/{attestation_id}/{action}", timeout=10)
    assert response.status_code == 200, response.text


def script_create(partner_center: SimulatorServer, customer: str, status: int, code: int) -> None:
    """Partner Center answers this customer's create attestation with ``status`` / ``code`` (the control API)."""
    response = httpx.put(
        f"{partner_center.control_url}/enhanced/customers/{customer}/create-answer",
        json={"status": status, "code": code},
        timeout=10,
    )
    assert response.status_code == 200, response.text


async def read_entry(path: Path, doc: dict[str, Any]) -> LedgerEntry | None:
    """The event's ledger entry, read through ``shared.ledger`` (the worker's SQLite file)."""
    ledger = SqliteLedger(path)
    try:
        stored = await ledger.get(str(doc["customerTenantId"]), str(doc["eventId"]))
    finally:
        ledger.close()
    return stored.entry if stored else None


def ledger_entry(path: Path, doc: dict[str, Any]) -> LedgerEntry | None:
    return asyncio.run(read_entry(path, doc))


def wait_until[T](read: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float = WAIT_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:g} s")
        time.sleep(0.1)


def dead_letter_of(connection_string: str, queue: str, event_id: str) -> ServiceBusReceivedMessage:
    """The dead letter of ``event_id`` on ``queue``'s dead-letter queue, peeked with the SDK."""

    def peek() -> list[ServiceBusReceivedMessage]:
        with (
            ServiceBusClient.from_connection_string(connection_string) as client,
            client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver,
        ):
            peeked = receiver.peek_messages(max_message_count=100)
        return [m for m in peeked if json.loads(b"".join(m.body)).get("eventId") == event_id]

    (found,) = wait_until(peek, lambda letters: len(letters) > 0, f"a dead letter of {event_id}")
    return found


def assert_no_personal_data(received: Received) -> None:
    text = received.body.lower()
    leaked = [value for value in PERSONAL_DATA if value.lower() in text]
    assert leaked == [], f"{received.kind} carries personal data"
    assert "signatory" not in received.document
    assert not {"firstName", "lastName", "email", "phoneNumber", "companyName"} & set(received.document)


def kinds_of(inbox: NotificationInbox, event_id: str) -> list[str]:
    return sorted(r.kind for r in inbox.of(event_id))


# --- a) the customer accepts ----------------------------------------------------------------------------------------


def test_v2_event_link_acceptance_agreement_and_a_v1_event_through_one_worker(
    emulator: ServiceBusEmulator, partner_center: SimulatorServer, worker: WorkerProcess, inbox: NotificationInbox
) -> None:
    """A v2 event gets a link notification without personal data; the customer accepts; the scheduled check finds
    it, the agreement is created once and notified, the ledger says attested at agreement_created; a v1 event
    published alongside is attested by the same worker."""
    v2 = v2_event()
    v1 = fresh_event_doc()
    publish(emulator.connection_string, EVENTS, [event_message(parse_event(v1)), v2_message(v2)])

    link = inbox.wait_for(v2["eventId"], NotificationKind.LINK_ISSUED)
    attestation_id = link.document["attestationId"]
    assert link.document["acceptanceLink"] == LINK_BASE + attestation_id
    assert link.document["customerTenantId"] == v2["customerTenantId"]
    assert (link.subject, link.kind_property) == ("mca.notification.acceptance_link_issued", "acceptance_link_issued")
    assert link.document["terminal"] is False
    assert_no_personal_data(link)

    customer_acts(partner_center, attestation_id, "accept")
    created = inbox.wait_for(v2["eventId"], NotificationKind.AGREEMENT_CREATED)
    entry = wait_until(
        lambda: ledger_entry(worker.ledger, v2),
        lambda e: e is not None and e.state is LedgerState.ATTESTED,
        "the v2 ledger entry",
    )
    v1_entry = wait_until(
        lambda: ledger_entry(worker.ledger, v1),
        lambda e: e is not None and e.state is LedgerState.ATTESTED,
        "the v1 ledger entry",
    )

    assert created.document["attestationId"] == attestation_id
    assert created.document["terminal"] is True
    assert_no_personal_data(created)
    assert entry is not None
    assert (entry.contract, entry.flow_step, entry.attestation_id) == ("v2", "agreement_created", attestation_id)
    assert entry.checks == 0  # the first scheduled check found the acceptance
    (attestation,) = [a for a in partner_center.state.enhanced.all() if a.customer_id == v2["customerTenantId"]]
    assert (attestation.status, attestation.agreement_created) == ("Accepted", True)
    state = partner_center.state
    assert (state.raw_record_count(v2["customerTenantId"]), state.attestation_count(v2["customerTenantId"])) == (1, 1)
    assert v1_entry is not None
    assert v1_entry.contract != "v2"
    assert (state.raw_record_count(v1["customerTenantId"]), state.attestation_count(v1["customerTenantId"])) == (1, 1)
    assert kinds_of(inbox, v2["eventId"]) == ["acceptance_link_issued", "agreement_created"]
    assert kinds_of(inbox, v1["eventId"]) == []  # contract v1 tells the CRM nothing


# --- b) the link expires; the customer never answers ---------------------------------------------------------------


def test_an_expired_link_is_dead_lettered_naming_the_attestation_and_notified(
    emulator: ServiceBusEmulator, partner_center: SimulatorServer, worker: WorkerProcess, inbox: NotificationInbox
) -> None:
    """The link expires before the customer accepts: the next check dead-letters the event AcceptanceLinkExpired,
    the description naming the attestation id, and the CRM gets link_expired; no agreement is created."""
    v2 = v2_event()
    publish(emulator.connection_string, EVENTS, [v2_message(v2)])
    link = inbox.wait_for(v2["eventId"], NotificationKind.LINK_ISSUED)
    attestation_id = link.document["attestationId"]

    customer_acts(partner_center, attestation_id, "expire")
    expired = inbox.wait_for(v2["eventId"], NotificationKind.LINK_EXPIRED)
    dead = dead_letter_of(emulator.connection_string, EVENTS, v2["eventId"])
    entry = ledger_entry(worker.ledger, v2)

    assert dead.dead_letter_reason == "AcceptanceLinkExpired"
    assert attestation_id in str(dead.dead_letter_error_description)
    assert (expired.document["reason"], expired.document["attestationId"]) == ("AcceptanceLinkExpired", attestation_id)
    assert_no_personal_data(expired)
    assert entry is not None
    assert (entry.state, entry.flow_step) == (LedgerState.DEAD_LETTERED, "link_expired")
    assert partner_center.state.attestation_count(v2["customerTenantId"]) == 0
    assert kinds_of(inbox, v2["eventId"]) == ["acceptance_link_issued", "link_expired"]


def test_a_status_that_never_changes_times_out_after_the_deadline(
    emulator: ServiceBusEmulator, partner_center: SimulatorServer, worker: WorkerProcess, inbox: NotificationInbox
) -> None:
    """The customer never answers: checks run at a growing interval until the deadline, then the event is dead-lettered
    AcceptanceTimedOut naming the attestation id, and the CRM gets timed_out."""
    v2 = v2_event()
    publish(emulator.connection_string, EVENTS, [v2_message(v2)])
    link = inbox.wait_for(v2["eventId"], NotificationKind.LINK_ISSUED)

    timed_out = inbox.wait_for(v2["eventId"], NotificationKind.TIMED_OUT, timeout=DEADLINE_SECONDS + WAIT_SECONDS)
    dead = dead_letter_of(emulator.connection_string, EVENTS, v2["eventId"])
    entry = ledger_entry(worker.ledger, v2)

    attestation_id = link.document["attestationId"]
    assert dead.dead_letter_reason == "AcceptanceTimedOut"
    assert attestation_id in str(dead.dead_letter_error_description)
    assert "6 seconds" in str(dead.dead_letter_error_description)
    assert (timed_out.document["reason"], timed_out.document["attestationId"]) == ("AcceptanceTimedOut", attestation_id)
    assert_no_personal_data(timed_out)
    assert entry is not None
    assert (entry.state, entry.flow_step) == (LedgerState.DEAD_LETTERED, "timed_out")
    waited = datetime.fromisoformat(entry.updated_at) - datetime.fromisoformat(entry.awaiting_since)
    assert waited >= timedelta(seconds=DEADLINE_SECONDS)  # not before the deadline
    assert entry.checks >= 3  # at 1 s, then every 2 s, the last one at the deadline
    (attestation,) = [a for a in partner_center.state.enhanced.all() if a.customer_id == v2["customerTenantId"]]
    assert attestation.status == "Required"
    assert kinds_of(inbox, v2["eventId"]) == ["acceptance_link_issued", "timed_out"]


# --- d) Partner Center refuses the create --------------------------------------------------------------------------


def test_600061_on_create_completes_as_already_attested(
    emulator: ServiceBusEmulator, partner_center: SimulatorServer, worker: WorkerProcess, inbox: NotificationInbox
) -> None:
    """Create attestation answered 600061 (the agreement exists already): the event completes as already_attested
    and the CRM is told so; nothing is created, nothing dead-lettered."""
    v2 = v2_event()
    script_create(partner_center, v2["customerTenantId"], 400, 600061)
    publish(emulator.connection_string, EVENTS, [v2_message(v2)])

    told = inbox.wait_for(v2["eventId"], NotificationKind.ALREADY_ATTESTED)
    entry = wait_until(
        lambda: ledger_entry(worker.ledger, v2),
        lambda e: e is not None and e.state is LedgerState.ALREADY_ATTESTED,
        "the ledger entry",
    )

    assert entry is not None
    assert entry.flow_step == "agreement_created"
    assert told.document["terminal"] is True
    assert "acceptanceLink" not in told.document
    assert [a for a in partner_center.state.enhanced.all() if a.customer_id == v2["customerTenantId"]] == []
    assert partner_center.state.attestation_count(v2["customerTenantId"]) == 0
    assert kinds_of(inbox, v2["eventId"]) == ["already_attested"]


def test_403_on_create_is_dead_lettered_as_not_permitted_naming_indirect_resellers(
    emulator: ServiceBusEmulator, partner_center: SimulatorServer, worker: WorkerProcess, inbox: NotificationInbox
) -> None:
    """Create attestation answered 403 while the customer's reads succeed (an indirect reseller): the event is
    dead-lettered AttestationNotPermitted with a description naming indirect resellers, and the CRM is told."""
    v2 = v2_event()
    script_create(partner_center, v2["customerTenantId"], 403, 20002)
    publish(emulator.connection_string, EVENTS, [v2_message(v2)])

    told = inbox.wait_for(v2["eventId"], NotificationKind.DEAD_LETTERED)
    dead = dead_letter_of(emulator.connection_string, EVENTS, v2["eventId"])
    entry = ledger_entry(worker.ledger, v2)

    assert dead.dead_letter_reason == "AttestationNotPermitted"
    assert "Indirect resellers cannot attest" in str(dead.dead_letter_error_description)
    assert told.document["reason"] == "AttestationNotPermitted"
    assert_no_personal_data(told)
    assert entry is not None
    assert (entry.state, entry.reason) == (LedgerState.DEAD_LETTERED, "AttestationNotPermitted")
    assert [a for a in partner_center.state.enhanced.all() if a.customer_id == v2["customerTenantId"]] == []
    assert kinds_of(inbox, v2["eventId"]) == ["dead_lettered"]


# --- c) a worker stops between two steps; another carries on -------------------------------------------------------


def test_a_worker_killed_after_the_attestation_was_recorded_is_resumed_by_the_next(
    emulator: ServiceBusEmulator,
    partner_center: SimulatorServer,
    inbox: NotificationInbox,
    tmp_path: Path,
) -> None:
    """Worker 1 creates the attestation and records it, then cannot send the link (its notifications queue does not
    exist) and is SIGKILLed; worker 2 resumes from the ledger: it reads the link from Partner Center instead of
    creating another attestation, sends one link notification, and the flow ends with one agreement."""
    v2 = v2_event()
    settings = _app_settings(emulator, partner_center, tmp_path, SERVICEBUS_QUEUE_NAME=RESUME)
    first = start_worker({**settings, "NOTIFICATIONS_QUEUE_NAME": MISSING_QUEUE}, tmp_path / "worker-1.log")
    try:
        publish(emulator.connection_string, RESUME, [v2_message(v2)])
        wait_until(
            lambda: ledger_entry(first.ledger, v2),
            lambda e: e is not None and e.flow_step == "attestation_created",
            "worker 1's ledger entry",
        )
    finally:
        first.kill()
    assert inbox.of(v2["eventId"]) == []

    second = start_worker(settings, tmp_path / "worker-2.log")
    try:
        link = inbox.wait_for(v2["eventId"], NotificationKind.LINK_ISSUED)
        customer_acts(partner_center, link.document["attestationId"], "accept")
        inbox.wait_for(v2["eventId"], NotificationKind.AGREEMENT_CREATED)
        entry = wait_until(
            lambda: ledger_entry(second.ledger, v2),
            lambda e: e is not None and e.state is LedgerState.ATTESTED,
            "the ledger entry",
        )
    finally:
        assert second.stop() == 0, second.log_tail()

    mine = [a for a in partner_center.state.enhanced.all() if a.customer_id == v2["customerTenantId"]]
    assert [a.attestation_id for a in mine] == [link.document["attestationId"]]
    assert entry is not None
    assert entry.attestation_id == link.document["attestationId"]
    assert partner_center.state.raw_record_count(v2["customerTenantId"]) == 1
    assert kinds_of(inbox, v2["eventId"]) == ["acceptance_link_issued", "agreement_created"]


class RecordingNotifier:
    """A ``Notifier`` in front of the real one: records what it sent; with ``hang_after``, hangs right after sending
    that kind — as a process killed at that instant, nothing after the send runs (the ledger never hears of it)."""

    def __init__(self, real: Notifier, hang_after: NotificationKind | None = None) -> None:
        self.real = real
        self.hang_after = hang_after
        self.sent: list[FlowNotification] = []
        self.hanging = asyncio.Event()

    async def notify(self, notification: FlowNotification) -> None:
        await self.real.notify(notification)
        self.sent.append(notification)
        if notification.kind is self.hang_after:
            self.hanging.set()
            await asyncio.Event().wait()  # until the worker is stopped around it


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, client: AsyncServiceBusClient, notifier: Notifier
) -> AsyncIterator[asyncio.Task[object]]:
    """The standalone worker on RESUME in this process; stopped with no grace period on exit (in-flight work is
    cancelled, its message left locked: the broker gives it to the next worker when the lock lapses)."""
    stop = asyncio.Event()
    async with open_services(settings, notifier=notifier) as services:
        worker = Worker(services, client, RESUME, concurrency=4, grace_seconds=0)
        task: asyncio.Task[object] = asyncio.create_task(worker.run(stop))
        try:
            yield task
        finally:
            stop.set()
            await task


async def test_a_worker_stopped_after_sending_the_link_is_resumed_and_the_duplicate_link_dropped(
    emulator: ServiceBusEmulator,
    partner_center: SimulatorServer,
    inbox: NotificationInbox,
    tmp_path: Path,
) -> None:
    """Worker 1 sends the link notification and stops before recording it; worker 2 resumes at attestation_created,
    sends the same notification again, and the queue's duplicate detection drops it: the CRM receives one link,
    Partner Center holds one attestation, and the flow ends with one agreement."""
    v2 = v2_event()
    settings = Settings.from_environment(_app_settings(emulator, partner_center, tmp_path))
    ledger = Path(settings.ledger_path)
    async with (
        AsyncServiceBusClient.from_connection_string(emulator.connection_string) as client,
        client.get_queue_sender(NOTIFICATIONS) as sender,
    ):
        first = RecordingNotifier(ServiceBusNotifier.over(sender), hang_after=NotificationKind.LINK_ISSUED)
        async with running_worker(settings, client, first):
            await asyncio.to_thread(publish, emulator.connection_string, RESUME, [v2_message(v2)])
            await asyncio.wait_for(first.hanging.wait(), WAIT_SECONDS)
        stopped_at = await read_entry(ledger, v2)
        assert stopped_at is not None
        assert stopped_at.flow_step == "attestation_created"

        second = RecordingNotifier(ServiceBusNotifier.over(sender))
        async with running_worker(settings, client, second):
            link = await asyncio.to_thread(inbox.wait_for, v2["eventId"], NotificationKind.LINK_ISSUED)
            await asyncio.to_thread(customer_acts, partner_center, link.document["attestationId"], "accept")
            await asyncio.to_thread(inbox.wait_for, v2["eventId"], NotificationKind.AGREEMENT_CREATED)
            entry = await asyncio.to_thread(
                wait_until,
                lambda: ledger_entry(ledger, v2),
                lambda e: e is not None and e.state is LedgerState.ATTESTED,
                "the ledger entry",
            )

    sent_links = [n for n in first.sent + second.sent if n.kind is NotificationKind.LINK_ISSUED]
    assert len(sent_links) == 2  # sent twice ...
    assert kinds_of(inbox, v2["eventId"]) == ["acceptance_link_issued", "agreement_created"]  # ... received once
    mine = [a for a in partner_center.state.enhanced.all() if a.customer_id == v2["customerTenantId"]]
    assert [a.attestation_id for a in mine] == [link.document["attestationId"]]
    assert partner_center.state.raw_record_count(v2["customerTenantId"]) == 1
    assert entry is not None
    assert (entry.state, entry.flow_step) == (LedgerState.ATTESTED, "agreement_created")


# --- clocks that differ ---------------------------------------------------------------------------------------------


def test_checks_that_the_broker_delivers_early_by_the_worker_clock_still_run(
    partner_center: SimulatorServer, tmp_path: Path
) -> None:
    """The broker's clock runs 0.8 s ahead of the worker's, so every scheduled check arrives before its time by the
    worker's clock: it runs all the same (rescheduling it would reuse its own message id, which duplicate detection
    drops, and the wait would stall), and the flow goes on to the agreement."""
    broker_clock = ShiftableClock()
    broker_clock.advance(timedelta(seconds=0.8))
    queue = QueueProperties(
        requires_duplicate_detection=True, duplicate_detection_history_time_window=timedelta(days=1)
    )
    v2 = v2_event()
    with running_emulator(queues=dict.fromkeys((EVENTS, NOTIFICATIONS), queue), clock=broker_clock) as skewed:
        inbox = NotificationInbox(skewed.connection_string)
        worker = start_worker(_app_settings(skewed, partner_center, tmp_path), tmp_path / "worker.log")
        try:
            publish(skewed.connection_string, EVENTS, [v2_message(v2)])
            link = inbox.wait_for(v2["eventId"], NotificationKind.LINK_ISSUED)
            wait_until(  # a check found the link still pending: it ran although it came early
                lambda: ledger_entry(worker.ledger, v2),
                lambda e: e is not None and e.checks >= 1,
                "a status check",
                timeout=DEADLINE_SECONDS / 2,
            )
            customer_acts(partner_center, link.document["attestationId"], "accept")
            inbox.wait_for(v2["eventId"], NotificationKind.AGREEMENT_CREATED, timeout=DEADLINE_SECONDS)
            entry = wait_until(
                lambda: ledger_entry(worker.ledger, v2),
                lambda e: e is not None and e.state is LedgerState.ATTESTED,
                "the ledger entry",
            )
        finally:
            inbox.close()
            assert worker.stop() == 0, worker.log_tail()

    assert entry is not None
    assert entry.flow_step == "agreement_created"
    assert partner_center.state.raw_record_count(v2["customerTenantId"]) == 1
