"""The queue trigger routes by event type inside the real worker: a contract v2 event ("MCA acceptance requested",
``mca.acceptance.requested.v2``) takes the enhanced attestation (the attestation in Partner Center, the link
notification on ``mca-notifications``, a scheduled status check on the events queue, then the agreement), and
is dead-lettered ``FlowNotEnabled`` where ``ATTESTATION_FLOWS`` leaves the enhanced flow out. Contract v1
events are test_queue_trigger.py's."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from emulators.partner_center.enhanced import ACCEPTED, REQUIRED
from emulators.servicebus.snapshots import MessageSnapshot, MessageState
from shared.attestation.contract.v2 import EVENT_TYPE_V2
from shared.servicebus.messages import ATTEMPT_PROPERTY, CHECK_PROPERTY
from shared.servicebus.notifications import KIND_PROPERTY
from tests.builders import COMPANY, EMAIL, FIRST, LAST, PHONE, acceptance_requested_doc, cloud_event
from tests.functions_host.host import RecordingSettlement, SettlementCall
from tests.functions_host.running import FIRST_CHECK_SECONDS, RunningApp, deliver, receive_and_deliver

pytestmark = pytest.mark.integration

QUEUE = "mca-events"
NOTIFICATIONS = "mca-notifications"


def acceptance_requested() -> dict[str, Any]:
    """A contract v2 event as a CloudEvent of type mca.acceptance.requested.v2, with a new id and customer."""
    payload = acceptance_requested_doc(contractVersion=..., eventId=..., customerTenantId=str(uuid.uuid4()))
    return cloud_event(id=f"ce-{uuid.uuid4().hex[:12]}", type=EVENT_TYPE_V2, data=payload)


def notification_documents(app: RunningApp) -> list[tuple[str, dict[str, Any]]]:
    """Each message on the notifications queue: its kind property and its JSON body."""
    return [
        (m.application_properties[KIND_PROPERTY], json.loads(m.body)) for m in app.servicebus.messages(NOTIFICATIONS)
    ]


def test_v2_event_creates_the_attestation_notifies_the_link_and_schedules_a_status_check(
    app: RunningApp, settlement: RecordingSettlement
) -> None:
    """A v2 event: one attestation in the simulator, its link on mca-notifications, and the trigger message
    completed only once a status-check copy (mca-check 1, id …/check1-…, same body) was scheduled on the
    events queue for the first check's time."""
    event = acceptance_requested()
    customer = event["data"]["customerTenantId"]
    settlement.observe = lambda: [(m.message_id, m.state) for m in app.servicebus.messages(QUEUE)]
    before = datetime.now(UTC)
    delivery = deliver(app, event, message_id="crm-v2-7")
    after = datetime.now(UTC)
    assert delivery.succeeded, delivery.response.result.exception.message

    [attestation] = app.simulator.state.enhanced.all()
    assert (attestation.customer_id, attestation.status) == (customer, REQUIRED)
    assert app.simulator.state.attestation_count(customer) == 0  # no agreement before the customer accepts
    [(kind, notification)] = notification_documents(app)
    assert (kind, notification["kind"]) == ("acceptance_link_issued", "acceptance_link_issued")
    assert (notification["eventId"], notification["customerTenantId"]) == (event["id"], customer)
    assert notification["attestationId"] == attestation.attestation_id
    assert notification["acceptanceLink"].endswith(attestation.attestation_id)

    [check] = app.servicebus.messages(QUEUE)
    assert settlement.calls == [
        SettlementCall(
            "Complete", str(delivery.message.lock_token), observed=[(check.message_id, MessageState.SCHEDULED)]
        )
    ]
    assert check.message_id.startswith(f"{event['id']}/check1-")  # readable by the event id, whatever the message id
    assert (check.application_properties[CHECK_PROPERTY], check.application_properties[ATTEMPT_PROPERTY]) == (1, 0)
    assert check.body == delivery.message.body
    first_check = timedelta(seconds=FIRST_CHECK_SECONDS)
    assert check.scheduled_enqueue_time_utc is not None
    assert before + first_check <= check.scheduled_enqueue_time_utc <= after + first_check

    logged = "\n".join(log.message for log in app.host.logs_of(delivery.invocation_id))
    assert "enhanced attestation step" in logged
    secret = [notification["acceptanceLink"], FIRST, LAST, EMAIL, PHONE, COMPANY]
    assert [value for value in secret if value in logged] == []  # the link and the signatory never reach a log


def test_status_check_after_the_customer_accepted_creates_the_agreement(
    app: RunningApp, settlement: RecordingSettlement
) -> None:
    """The scheduled check copy, received from the emulator once due after the customer accepted (the simulator's
    control API): the agreement is created with the attestation, the CRM told, the copy completed and no
    further check scheduled."""
    event = acceptance_requested()
    customer = event["data"]["customerTenantId"]
    first = deliver(app, event)
    assert first.succeeded, first.response.result.exception.message
    [attestation] = app.simulator.state.enhanced.all()
    accepted = httpx.post(f"{app.simulator.control_url}/enhanced/{attestation.attestation_id}/accept", timeout=10)
    assert accepted.json()["status"] == ACCEPTED
    settlement.reset()

    check = receive_and_deliver(app, QUEUE, within=FIRST_CHECK_SECONDS + 15)
    assert check.succeeded, check.response.result.exception.message

    assert check.message.application_properties[CHECK_PROPERTY] == 1
    assert settlement.calls == [SettlementCall("Complete", str(check.message.lock_token))]
    assert app.simulator.state.attestation_count(customer) == 1
    [finalized] = app.simulator.state.enhanced.all()
    assert finalized.agreement_created
    assert [kind for kind, _ in notification_documents(app)] == ["acceptance_link_issued", "agreement_created"]
    assert [m.message_id for m in app.servicebus.messages(QUEUE)] == [check.message.message_id]  # itself, locked


def test_v2_event_is_dead_lettered_flow_not_enabled_on_a_legacy_only_deployment(legacy_only_app: RunningApp) -> None:
    """ATTESTATION_FLOWS=legacy: a v2 event is dead-lettered over gRPC with reason FlowNotEnabled and a
    description naming the setting; nothing reaches Partner Center or either queue."""
    app = legacy_only_app
    delivery = deliver(app, acceptance_requested())
    assert delivery.succeeded, delivery.response.result.exception.message

    [call] = app.host.settlement.calls
    assert (call.method, call.lock_token, call.reason) == (
        "Deadletter",
        str(delivery.message.lock_token),
        "FlowNotEnabled",
    )
    assert call.description is not None
    assert "ATTESTATION_FLOWS" in call.description
    assert app.simulator.state.enhanced.all() == []
    assert app.simulator.state.request_count() == 0
    empty: list[MessageSnapshot] = []
    assert (app.servicebus.messages(QUEUE), app.servicebus.messages(NOTIFICATIONS)) == (empty, empty)
