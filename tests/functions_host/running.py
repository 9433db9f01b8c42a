"""The app running inside the test host: what the session built, and helpers that deliver one message."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage

from emulators.partner_center.server import SimulatorServer
from emulators.servicebus.server import ServiceBusEmulator
from shared.servicebus.messages import body_bytes, text_properties
from tests.functions_host.host import FunctionsHost, protos
from tests.functions_host.host_conversion import HostMessage, service_bus_invocation

REPO = Path(__file__).resolve().parents[2]
LOCAL_SETTINGS_TEMPLATE = REPO / "local.settings.json.example"
QUEUE_TRIGGER = "attest_signed_agreement"
TIMER = "refresh_agreement_metadata"
RECONCILE_TIMER = "reconcile_ledger_daily"
# ENHANCED_FIRST_CHECK_SECONDS of the test workers: short, so a test can deliver the scheduled status-check copy
# once it is due instead of after the template's 15 minutes.
FIRST_CHECK_SECONDS = 1


def template_app_settings() -> dict[str, str]:
    """The app settings of ``local.settings.json.example``."""
    values: dict[str, str] = json.loads(LOCAL_SETTINGS_TEMPLATE.read_text(encoding="utf-8"))["Values"]
    return values


@dataclass
class RunningApp:
    """The session's host, worker and stand-ins, and what indexing returned."""

    host: FunctionsHost
    init_response: Any
    metadata_response: Any
    load_responses: dict[str, Any]
    functions: dict[str, Any]  # name → RpcFunctionMetadata
    simulator: SimulatorServer
    servicebus: ServiceBusEmulator
    app_settings: dict[str, str]
    metadata_cache: Path
    reports: Path  # RECONCILE_REPORT_DIR: where the reconciliation timer leaves its reports


@dataclass(frozen=True)
class Delivery:
    """One message handed to the queue trigger through the host, and the worker's answer."""

    message: HostMessage
    invocation_id: str
    response: Any

    @property
    def succeeded(self) -> bool:
        return bool(self.response.result.status == protos.StatusResult.Success)


def deliver(app: RunningApp, body: bytes | dict[str, Any], **message: Any) -> Delivery:
    """Invoke the queue trigger with ``body`` as the host would after receiving it from Service Bus."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    message_id = message.pop("message_id", f"m-{uuid.uuid4().hex[:8]}")
    host_message = HostMessage(body=data, message_id=message_id, **message)
    invocation_id = str(uuid.uuid4())
    request = service_bus_invocation(app.functions[QUEUE_TRIGGER], "message", host_message, invocation_id)
    return Delivery(host_message, invocation_id, app.host.invoke(request))


def receive_and_deliver(app: RunningApp, queue: str, *, within: float) -> Delivery:
    """Receive the next message of ``queue`` from the emulator once it is due (a scheduled copy at its
    time), waiting at most ``within`` seconds, and invoke the queue trigger with it as the host would: the
    broker's lock token, delivery count and sequence number included. The message stays locked on the
    emulator (settlement goes to the test host, which records it)."""
    with (
        ServiceBusClient.from_connection_string(app.servicebus.connection_string) as client,
        client.get_queue_receiver(queue) as receiver,
    ):
        received = receiver.receive_messages(max_message_count=1, max_wait_time=within)
    if not received:
        raise AssertionError(f"no message became due on {queue} within {within:g} s")
    return deliver(app, body_bytes(received[0]), **_host_message_fields(received[0]))


def _host_message_fields(message: ServiceBusReceivedMessage) -> dict[str, Any]:
    assert message.lock_token is not None
    assert message.message_id is not None
    return {
        "message_id": str(message.message_id),
        "lock_token": uuid.UUID(str(message.lock_token)),
        "application_properties": text_properties(message.application_properties),
        "content_type": message.content_type or "application/json",
        "correlation_id": message.correlation_id,
        "delivery_count": message.delivery_count or 1,
        "sequence_number": message.sequence_number or 0,
        "enqueued_time": message.enqueued_time_utc or datetime.now(UTC),
    }
