"""The queue trigger's handler with real services against the simulator over TCP; a recording
``ServiceBusMessageActions`` and sender stand in for the Functions host."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from emulators.partner_center.conventions import DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN
from emulators.partner_center.server import SimulatorServer
from functions.runtime import runtime
from shared.bootstrap import Services
from shared.metrics import RecordingMetrics
from shared.observability import JsonFormatter
from shared.servicebus.messages import ATTEMPT_PROPERTY
from tests.builders import RecordingMessageActions, RecordingSender, app_functions, fresh_event_doc, received_message


def _handler() -> Any:
    return app_functions()["attest_signed_agreement"].get_user_function()


@pytest.fixture
def sender(services: Services) -> Iterator[RecordingSender]:
    recording = RecordingSender()
    runtime.install(services, RecordingMetrics(), recording)
    yield recording
    runtime.uninstall()


async def _deliver(body: dict[str, Any] | bytes, attempt: int = 0) -> RecordingMessageActions:
    properties = {ATTEMPT_PROPERTY.encode(): attempt} if attempt else None
    actions = RecordingMessageActions()
    message = received_message(body, message_id=f"m-{uuid.uuid4().hex[:8]}", application_properties=properties)
    await _handler()(message=message, message_actions=actions)
    return actions


async def test_good_event_is_attested_once_and_completed(simulator: SimulatorServer, sender: RecordingSender) -> None:
    """A good event: one attestation in Partner Center, the message completed; a redelivery changes nothing."""
    doc = fresh_event_doc()
    assert (await _deliver(doc)).names == ["complete"]
    assert (await _deliver(doc)).names == ["complete"]  # redelivered after, say, a lost settlement
    assert simulator.state.attestation_count(doc["customerTenantId"]) == 1
    assert sender.scheduled == []


async def test_already_attested_contact_is_completed(simulator: SimulatorServer, sender: RecordingSender) -> None:
    """A second event with an identical contact gets 600061 and is completed, not dead-lettered."""
    doc = fresh_event_doc()
    await _deliver(doc)
    assert (await _deliver({**doc, "eventId": "crm-other"})).names == ["complete"]
    assert simulator.state.attestation_count(doc["customerTenantId"]) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (fresh_event_doc(customerTenantId="00000404-0000-4000-8000-000000000001"), "UnknownCustomer"),
        (fresh_event_doc(customerTenantId="00000403-0000-4000-8000-000000000001"), "NoRelationship"),
        (fresh_event_doc(customerTenantId="not-a-guid"), "InvalidEvent"),
        (b"{not json", "InvalidEvent"),
    ],
    ids=["unknown-customer", "foreign-customer", "bad-guid", "malformed-json"],
)
async def test_bad_events_are_dead_lettered_with_their_reason(
    simulator: SimulatorServer, sender: RecordingSender, body: dict[str, Any] | bytes, reason: str
) -> None:
    """Events that cannot succeed are dead-lettered at once, with the reason and a description."""
    actions = await _deliver(body)
    assert actions.names == ["deadletter"]
    assert actions.calls[0][2]["reason"] == reason
    assert actions.calls[0][2]["description"]
    assert sender.scheduled == []


async def test_server_error_storm_exhausts_the_budget(simulator: SimulatorServer, sender: RecordingSender) -> None:
    """5xx on every call: retries are scheduled until the budget (2 here) is spent, then RetriesExhausted."""
    simulator.state.configure_faults(server_error_rate=1.0)
    doc = fresh_event_doc()
    first = await _deliver(doc, attempt=0)
    second = await _deliver(doc, attempt=1)
    last = await _deliver(doc, attempt=2)
    assert first.names == second.names == ["complete"]
    assert len(sender.scheduled) == 2
    assert last.names == ["deadletter"]
    assert last.calls[0][2]["reason"] == "RetriesExhausted"
    assert "HTTP 5" in last.calls[0][2]["description"]


async def test_no_secret_or_personal_data_reaches_a_log_line(
    simulator: SimulatorServer, services: Services, sender: RecordingSender, caplog: pytest.LogCaptureFixture
) -> None:
    """A full run (success, throttling, dead letters, re-authentication) logged at DEBUG holds no token, no
    refresh token or secret, and no name, email or phone number."""
    contacts = [
        {
            "firstName": "Zephyrine",
            "lastName": "Okonkwo-Ruiz",
            "email": "z.okonkwo@fabrikam.example",
            "phoneNumber": "+44 20 7946 0958",
        },
        {"firstName": "Thaddeus", "lastName": "Villanueva", "email": "thaddeus.v@contoso.example"},
    ]
    with caplog.at_level(logging.DEBUG):
        await _deliver(fresh_event_doc(primaryContact=contacts[0]))
        simulator.state.expire_access_tokens()
        await _deliver(fresh_event_doc(primaryContact=contacts[1]))
        await _deliver(
            fresh_event_doc(primaryContact=contacts[1], customerTenantId="00000404-0000-4000-8000-00000000000a")
        )
        await _deliver(fresh_event_doc(primaryContact={**contacts[0], "email": "broken"}))
        simulator.state.configure_faults(throttle_rate=1.0, retry_after_seconds=90)  # beyond the in-call wait
        await _deliver(fresh_event_doc(primaryContact=contacts[0]))
        token = await services.tokens.get_token()
    formatter = JsonFormatter()
    lines = "\n".join(formatter.format(record) for record in caplog.records)
    assert "attestation.outcome" in lines  # the run did log
    forbidden = [token, DEFAULT_REFRESH_TOKEN, DEFAULT_CLIENT_SECRET, "broken"]
    forbidden += [value for contact in contacts for value in contact.values()]
    leaked = [value for value in forbidden if value in lines]
    assert leaked == []
