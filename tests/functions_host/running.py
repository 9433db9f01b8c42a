"""The app running inside the test host: what the session built, and a helper that delivers one message."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.partner_center.server import SimulatorServer
from emulators.servicebus.server import ServiceBusEmulator
from tests.functions_host.host import FunctionsHost, protos
from tests.functions_host.host_conversion import HostMessage, service_bus_invocation

REPO = Path(__file__).resolve().parents[2]
LOCAL_SETTINGS_TEMPLATE = REPO / "local.settings.json.example"
QUEUE_TRIGGER = "attest_signed_agreement"
TIMER = "refresh_agreement_metadata"
RECONCILE_TIMER = "reconcile_ledger_daily"


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
