"""What a dead-lettered message is, read from a received or peeked message: ``DeadLetterRecord``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.servicebus import ServiceBusReceivedMessage

from shared.attestation.contract import identifiers_of
from shared.attestation.contract.fields import FieldError
from shared.attestation.contract.v2 import contract_of
from shared.servicebus.messages import body_bytes, text_properties


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One dead-lettered message: broker properties, the ids and contract read from its body, and the body itself.

    ``body`` may hold personal data (contact names, emails, phones): tables and logs use the other fields.
    """

    sequence_number: int
    enqueued_time: datetime | None
    reason: str
    description: str
    event_id: str  # from the body JSON; "" when the body does not parse
    customer_id: str  # customerTenantId from the body JSON; "" when absent
    delivery_count: int
    message_id: str
    correlation_id: str
    content_type: str = ""
    subject: str = ""
    application_properties: Mapping[str, Any] = field(default_factory=dict)
    body: bytes = b""
    contract: str = ""  # v1 or v2, as the body names it; "" when the body is not a JSON object or names neither

    @property
    def body_text(self) -> str:
        """The body as text (undecodable bytes shown as U+FFFD; the export keeps the exact bytes)."""
        return self.body.decode("utf-8", errors="replace")

    @classmethod
    def from_message(cls, message: ServiceBusReceivedMessage) -> DeadLetterRecord:
        """Read a received or peeked message; never raises on a malformed body."""
        body = body_bytes(message)
        event_id, customer_id = identifiers_of(body)
        enqueued = message.enqueued_time_utc
        if enqueued is not None and enqueued.tzinfo is None:
            enqueued = enqueued.replace(tzinfo=UTC)
        return cls(
            sequence_number=int(message.sequence_number or 0),
            enqueued_time=enqueued,
            reason=message.dead_letter_reason or "",
            description=message.dead_letter_error_description or "",
            event_id=event_id,
            customer_id=customer_id,
            delivery_count=int(message.delivery_count or 0),
            message_id=_text(message.message_id),
            correlation_id=_text(message.correlation_id),
            content_type=_text(message.content_type),
            subject=_text(message.subject),
            application_properties=text_properties(message.application_properties),
            body=body,
            contract=contract_named(body),
        )


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def contract_named(body: bytes) -> str:
    """The contract a body names (``contract_of``), read leniently: "" rather than an error."""
    doc = json_object(body)
    if doc is None:
        return ""
    contract = contract_of(doc)
    return "" if isinstance(contract, FieldError) else contract


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or absurd: the caller treats it as opaque
        return None
    return doc if isinstance(doc, dict) else None
