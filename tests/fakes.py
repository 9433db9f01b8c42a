"""Test doubles that record what happened (no mocks), and builders for events and received messages."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus._pyamqp.message import Header, Message, Properties


def event_dict(**overrides: Any) -> dict[str, Any]:
    """A valid contract v1 event; keyword arguments replace top-level fields."""
    doc: dict[str, Any] = {
        "eventId": f"crm-{uuid.uuid4().hex[:12]}",
        "customerTenantId": str(uuid.uuid4()),
        "dateAgreed": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "primaryContact": {
            "firstName": "Avery",
            "lastName": "Quill",
            "email": "avery.quill@contoso.example.com",
            "phoneNumber": "+1 425 555 0100",
        },
    }
    doc.update(overrides)
    return doc


def received_message(
    body: bytes | dict[str, Any],
    *,
    message_id: str = "msg-1",
    application_properties: dict[bytes, Any] | None = None,
    delivery_count: int = 0,
) -> ServiceBusReceivedMessage:
    """A real ``azure.servicebus.ServiceBusReceivedMessage`` as the Functions binding hands it over."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    amqp = Message(
        data=[data],
        properties=Properties(message_id=message_id.encode(), content_type=b"application/json", correlation_id=b"corr"),
        application_properties=application_properties or {},
        header=Header(delivery_count=delivery_count),
        delivery_annotations={b"x-opt-lock-token": uuid.uuid4()},
        message_annotations={b"x-opt-sequence-number": 1},
    )
    return ServiceBusReceivedMessage(amqp, receiver=None)


class RecordingMessageActions:
    """Stands in for ``ServiceBusMessageActions``: records each settlement call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def complete(self, message: Any) -> None:
        self.calls.append(("complete", message, {}))

    def abandon(self, message: Any) -> None:
        self.calls.append(("abandon", message, {}))

    def deadletter(
        self, message: Any, deadletter_reason: str | None = None, deadletter_error_description: str | None = None
    ) -> None:
        self.calls.append(
            ("deadletter", message, {"reason": deadletter_reason, "description": deadletter_error_description})
        )

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


class RecordingSender:
    """Stands in for ``azure.servicebus.aio.ServiceBusSender``: records scheduled messages."""

    def __init__(self, journal: list[str] | None = None) -> None:
        self.scheduled: list[tuple[ServiceBusMessage, datetime]] = []
        self.journal = journal if journal is not None else []

    async def schedule_messages(self, message: ServiceBusMessage, when: datetime) -> list[int]:
        self.scheduled.append((message, when))
        self.journal.append("schedule")
        return [len(self.scheduled)]


@functools.cache
def app_functions() -> dict[str, Any]:
    """``function_app``'s functions by name. ``get_functions()`` refuses to run twice in one process (it
    re-validates names against what it built before), so every test module shares this one call."""
    import function_app

    return {f.get_function_name(): f for f in function_app.app.get_functions()}


class RecordingSettler:
    """Stands in for a host's ``MessageSettler``: records each settlement in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    async def complete(self) -> None:
        self.calls.append(("complete", ()))

    async def dead_letter(self, reason: str, description: str) -> None:
        self.calls.append(("dead_letter", (reason, description)))

    async def schedule_copy(self, delay_seconds: float, attempt: int) -> None:
        self.calls.append(("schedule_copy", (delay_seconds, attempt)))


async def process_with(attestor: Any, body: bytes) -> Any:
    """Run one message body through the hosts' shared path (attest → decide → settle → log) with a recording
    settler; returns what ``process_message`` returns."""
    import random

    from shared.servicebus.processing import process_message
    from shared.servicebus.settlement import RedeliveryPolicy

    return await process_message(
        body, attempt=0, attestor=attestor, settler=RecordingSettler(), policy=RedeliveryPolicy(), rng=random.Random(1)
    )
