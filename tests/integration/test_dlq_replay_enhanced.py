"""A contract v2 dead letter through ``mca-attest dlq``, end to end on the local stand-ins: the Service Bus emulator
(queues ``mca-events`` and ``mca-notifications``), the Partner Center simulator, and the worker in this process.

The customer's link expires (the simulator's control API), so the worker dead-letters the request as
``AcceptanceLinkExpired``; ``dlq list`` shows it by ids and contract; ``dlq replay`` sends it back, and the worker
starts again with a new attestation and a new link. The commands run as child processes, as an operator runs them
(the CLI configures logging and the console for its whole process).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient

from emulators.partner_center.server import SimulatorServer
from emulators.processes import simulator_app_settings
from emulators.servicebus import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from shared.attestation.contract.v2 import EVENT_TYPE_V2
from shared.bootstrap import open_services
from shared.servicebus.worker import Worker
from shared.settings import Settings
from tests.builders import COMPANY, EMAIL, FIRST, LAST, PHONE, acceptance_requested_doc

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EVENTS, NOTIFICATIONS = "mca-events", "mca-notifications"
WAIT_SECONDS = 30.0  # every wait below is bounded by it


@pytest.fixture
def emulator() -> Iterator[ServiceBusEmulator]:
    with running_emulator() as running:  # the committed config.json: mca-events and mca-notifications
        yield running


@pytest.fixture
def environment(
    simulator: SimulatorServer, emulator: ServiceBusEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The app settings of the worker and the commands: the simulator, the emulator, status checks every second."""
    settings = {
        **simulator_app_settings(simulator.base_url, simulator.token_url(), tmp_path / "cache"),
        "ENHANCED_FIRST_CHECK_SECONDS": "1",
        "ENHANCED_MAX_CHECK_SECONDS": "1",
        "ServiceBusConnection": emulator.connection_string,
    }
    monkeypatch.setenv("ServiceBusConnection", emulator.connection_string)  # the bootstrap's notifier reads it
    monkeypatch.delenv("ServiceBusConnection__fullyQualifiedNamespace", raising=False)
    return settings


@pytest.fixture
async def worker(environment: dict[str, str], emulator: ServiceBusEmulator) -> AsyncIterator[None]:
    """``Worker`` on mca-events in this process, with the services the bootstrap builds (queue notifier included)."""
    async with (
        open_services(Settings.from_environment(environment)) as services,
        ServiceBusClient.from_connection_string(emulator.connection_string) as client,
    ):
        stop = asyncio.Event()
        running = asyncio.create_task(Worker(services, client, EVENTS, concurrency=4, grace_seconds=2).run(stop))
        try:
            yield
        finally:
            stop.set()
            await running


def run_command(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``mca-attest …`` in a child process of this checkout, as an operator runs it."""
    env = {**os.environ, **environment, "PYTHONPATH": str(REPO), "SERVICEBUS_QUEUE_NAME": EVENTS}
    return subprocess.run(  # noqa: S603 — our own module, fixed arguments
        [sys.executable, "-m", "shared.cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )


async def eventually[T](read: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """Poll ``read`` until ``done`` says so, at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.05)


def notifications(emulator: ServiceBusEmulator) -> list[dict[str, Any]]:
    return [json.loads(message.body) for message in emulator.messages(NOTIFICATIONS)]


def kinds(emulator: ServiceBusEmulator) -> list[str]:
    return [doc["kind"] for doc in notifications(emulator)]


async def test_a_replayed_expired_link_starts_a_new_attestation(
    simulator: SimulatorServer, emulator: ServiceBusEmulator, environment: dict[str, str], worker: None
) -> None:
    """Link expired → dead letter AcceptanceLinkExpired, listed with its ids and contract v2 and no personal data;
    ``dlq replay`` → the worker creates a second attestation and notifies a second link."""
    customer = str(uuid.uuid4())
    event = acceptance_requested_doc(eventId="v2-expiring", customerTenantId=customer)
    async with (
        ServiceBusClient.from_connection_string(emulator.connection_string) as client,
        client.get_queue_sender(EVENTS) as sender,
    ):
        await sender.send_messages(
            ServiceBusMessage(json.dumps(event), message_id="v2-expiring", subject=EVENT_TYPE_V2)
        )

    await eventually(lambda: kinds(emulator), lambda k: k == ["acceptance_link_issued"], "the first link")
    [first] = simulator.state.enhanced.all()
    async with httpx.AsyncClient(timeout=10) as http:
        expired = await http.post(f"{simulator.control_url}/enhanced/{first.attestation_id}/expire")
    assert expired.status_code == 200, expired.text

    [dead] = await eventually(lambda: emulator.dead_letters(EVENTS), lambda d: len(d) == 1, "the dead letter")
    assert dead.dead_letter_reason == "AcceptanceLinkExpired"
    assert first.attestation_id in (dead.dead_letter_description or "")
    assert kinds(emulator) == ["acceptance_link_issued", "link_expired"]

    listed = await asyncio.to_thread(run_command, environment, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [summary] = json.loads(listed.stdout)["messages"]
    assert (summary["reason"], summary["eventId"], summary["customerTenantId"], summary["contract"]) == (
        "AcceptanceLinkExpired",
        "v2-expiring",
        customer,
        "v2",
    )
    for personal in (FIRST, LAST, EMAIL, PHONE, COMPANY):
        assert personal not in listed.stdout

    replayed = await asyncio.to_thread(
        run_command, environment, "dlq", "replay", "--reason", "AcceptanceLinkExpired", "--max-wait", "1"
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed=1 skipped=0 failed=0" in replayed.stdout

    await eventually(
        lambda: kinds(emulator),
        lambda k: k == ["acceptance_link_issued", "link_expired", "acceptance_link_issued"],
        "the second link",
    )
    attestations = [a for a in simulator.state.enhanced.all() if a.customer_id == customer]
    assert len(attestations) == 2
    [second] = [a for a in attestations if a.attestation_id != first.attestation_id]
    link = notifications(emulator)[-1]
    assert (link["attestationId"], link["attestationRound"]) == (second.attestation_id, 2)
    assert link["acceptanceLink"].endswith(second.attestation_id)
    assert emulator.dead_letters(EVENTS) == []
    assert simulator.state.attestation_count(customer) == 0  # no agreement: the customer has not accepted
