"""The attestation POST body, its canonical bytes, and the request ids derived from them.

``MS-RequestId`` is Partner Center's idempotency header: a retry must carry the same value, a new
logical call a new one. We derive it, never draw it at random: UUIDv5 of the event id and the
canonical body. The same event therefore gets the same id on every in-call retry, every Service Bus
redelivery and every dead-letter replay, in any process; an edited event (a fixed email, a new
template) gets a new id, because it is a different request.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Fixed namespaces: changing them would change every request id and defeat idempotency across versions.
_REQUEST_ID_NAMESPACE = uuid.UUID("6c2b0f7e-3a51-5d0e-9a8e-4f1d2c7b9e10")


def format_date_agreed(value: datetime) -> str:
    """UTC with milliseconds and Z, as Partner Center documents: 2018-06-14T00:00:00.000Z.

    A value without an offset is UTC; ``astimezone`` alone would read it as the process's local time.
    """
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class AgreementRequest:
    """Everything ``POST /v1/customers/{id}/agreements`` sends."""

    customer_tenant_id: str
    first_name: str
    last_name: str
    email: str
    phone_number: str | None
    template_id: str
    date_agreed: datetime
    agreement_type: str

    def __repr__(self) -> str:  # the contact is personal data
        return f"AgreementRequest(customer_tenant_id={self.customer_tenant_id!r}, template_id={self.template_id!r})"

    def body(self) -> dict[str, Any]:
        contact: dict[str, str] = {"firstName": self.first_name, "lastName": self.last_name, "email": self.email}
        if self.phone_number:
            contact["phoneNumber"] = self.phone_number
        return {
            "primaryContact": contact,
            "templateId": self.template_id,
            "dateAgreed": format_date_agreed(self.date_agreed),
            "type": self.agreement_type,
        }

    def canonical_bytes(self) -> bytes:
        """Sorted keys, no spaces: equal requests give equal bytes."""
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def derive_request_id(event_id: str, request: AgreementRequest) -> str:
    """MS-RequestId: stable for the same event and body; new when either changes."""
    material = f"{event_id}\n{request.customer_tenant_id}\n".encode() + request.canonical_bytes()
    return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, material.decode("utf-8")))
