"""The queue trigger inside the real worker: the host's message → the SDK-type binding → settlement over gRPC."""

from __future__ import annotations

import grpc
import pytest

from shared.servicebus.messages import ATTEMPT_PROPERTY
from tests.builders import fresh_event_doc
from tests.functions_host.host import RecordingSettlement, SettlementCall, protos
from tests.functions_host.running import RunningApp, deliver

pytestmark = pytest.mark.integration

QUEUE = "mca-events"


def test_valid_event_is_completed_with_its_lock_token_and_attested_once(
    app: RunningApp, settlement: RecordingSettlement
) -> None:
    """A valid event: one attestation in Partner Center and one Complete with the message's lock token."""
    event = fresh_event_doc()
    delivery = deliver(app, event)
    assert delivery.succeeded, delivery.response.result.exception.message
    assert settlement.calls == [SettlementCall("Complete", str(delivery.message.lock_token))]
    assert app.simulator.state.attestation_count(event["customerTenantId"]) == 1
    assert app.servicebus.messages(QUEUE) == []


def test_invalid_event_is_dead_lettered_with_every_invalid_field(
    app: RunningApp, settlement: RecordingSettlement
) -> None:
    """An invalid event: Deadletter with reason InvalidEvent and a description naming each invalid field."""
    event = fresh_event_doc(customerTenantId="not-a-guid")
    event["primaryContact"]["email"] = "broken"
    delivery = deliver(app, event)
    assert delivery.succeeded, delivery.response.result.exception.message
    [call] = settlement.calls
    assert (call.method, call.lock_token, call.reason) == (
        "Deadletter",
        str(delivery.message.lock_token),
        "InvalidEvent",
    )
    assert call.description is not None
    assert "customerTenantId:" in call.description
    assert "primaryContact.email:" in call.description
    assert app.simulator.state.attestation_count() == 0


def test_throttling_schedules_a_retry_copy_on_service_bus_then_completes(
    app: RunningApp, settlement: RecordingSettlement
) -> None:
    """Partner Center 429: the real retry sender schedules a copy (attempt 1, same body) on the emulator,
    and only then is the original completed."""
    app.simulator.state.configure_faults(throttle_rate=1.0, retry_after_seconds=45)
    settlement.observe = lambda: [m.message_id for m in app.servicebus.messages(QUEUE)]
    delivery = deliver(app, fresh_event_doc(), message_id="crm-7")
    assert delivery.succeeded, delivery.response.result.exception.message
    [copy] = app.servicebus.messages(QUEUE)
    assert [(c.method, c.lock_token, c.observed) for c in settlement.calls] == [
        ("Complete", str(delivery.message.lock_token), [copy.message_id])  # the copy existed at Complete
    ]
    assert copy.scheduled_enqueue_time_utc is not None
    assert copy.application_properties[ATTEMPT_PROPERTY] == 1
    assert copy.body == delivery.message.body
    assert copy.message_id != "crm-7"


def test_the_retry_attempt_travels_in_the_application_properties(
    app: RunningApp, settlement: RecordingSettlement
) -> None:
    """A copy that already had the whole retry budget (2) is dead-lettered RetriesExhausted, not retried:
    the attempt number reaches the function through the host's AMQP message."""
    app.simulator.state.configure_faults(server_error_rate=1.0)
    delivery = deliver(app, fresh_event_doc(), application_properties={ATTEMPT_PROPERTY: 2})
    assert delivery.succeeded, delivery.response.result.exception.message
    assert [(c.method, c.reason) for c in settlement.calls] == [("Deadletter", "RetriesExhausted")]
    assert app.servicebus.messages(QUEUE) == []


def test_failed_settlement_fails_the_invocation(app: RunningApp, settlement: RecordingSettlement) -> None:
    """Complete refused by the host: the invocation returns Failure (the real host then abandons the
    message, so Service Bus redelivers it; that part needs the .NET host and is not tested here)."""
    settlement.fail_with = grpc.StatusCode.UNAVAILABLE
    delivery = deliver(app, fresh_event_doc())
    assert delivery.response.result.status == protos.StatusResult.Failure
    assert delivery.response.result.exception.message.startswith("SettlementError: [complete]")
    assert [c.method for c in settlement.calls] == ["Complete"]
