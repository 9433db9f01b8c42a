"""Agreement templates, recorded attestations, and the validation of an attestation POST body.

Validation answers the first problem found, in this order: body not a JSON object (800002), a required
field missing (800002, classic shape, field named in ``data``), a field of the wrong type or format
(3000, agreement shape, field named in ``parameters``). Template and date rules need the world and live
in ``state``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulators.partner_center.bodies import Reply, agreement_fault, classic_fault
from emulators.partner_center.conventions import (
    CLOUD_AGREEMENT,
    CLOUD_AGREEMENT_LINK,
    CLOUD_AGREEMENT_TEMPLATE_ID,
    FUTURE_AGREEMENT,
    FUTURE_AGREEMENT_LINK,
    FUTURE_AGREEMENT_TEMPLATE_ID,
    MCA,
    MCA_LINK,
    MCA_TEMPLATE_ID,
)


@dataclass(frozen=True, slots=True)
class Template:
    """One agreement template; a retired one is no longer listed and refuses new attestations."""

    template_id: str
    agreement_type: str
    agreement_link: str
    version_rank: int = 0
    retired: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "templateId": self.template_id,
            "agreementType": self.agreement_type,
            "agreementLink": self.agreement_link,
            "versionRank": self.version_rank,
        }


DEFAULT_TEMPLATES: tuple[Template, ...] = (
    Template(MCA_TEMPLATE_ID, MCA, MCA_LINK),
    Template(CLOUD_AGREEMENT_TEMPLATE_ID, CLOUD_AGREEMENT, CLOUD_AGREEMENT_LINK),
    Template(FUTURE_AGREEMENT_TEMPLATE_ID, FUTURE_AGREEMENT, FUTURE_AGREEMENT_LINK),
)


@dataclass(frozen=True, slots=True)
class Contact:
    first_name: str
    last_name: str
    email: str
    phone_number: str | None

    def same_as(self, other: Contact) -> bool:
        """Partner Center's duplicate rule: same names and phone, email compared case-insensitively."""
        return (
            self.first_name == other.first_name
            and self.last_name == other.last_name
            and self.email.lower() == other.email.lower()
            and (self.phone_number or "") == (other.phone_number or "")
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"firstName": self.first_name, "lastName": self.last_name, "email": self.email}
        if self.phone_number is not None:
            document["phoneNumber"] = self.phone_number
        return document


@dataclass(frozen=True, slots=True)
class AttestationRequest:
    """A valid-looking POST body, not yet checked against templates, dates or duplicates."""

    contact: Contact
    template_id: str
    date_agreed: datetime
    date_agreed_text: str
    agreement_type: str


@dataclass(frozen=True, slots=True)
class Attestation:
    """One recorded confirmation of a customer's acceptance."""

    customer_id: str
    contact: Contact
    template_id: str
    agreement_type: str
    agreement_link: str
    date_agreed: datetime
    date_agreed_text: str
    user_id: str
    created_at: datetime
    request_id: str | None

    def created_json(self) -> dict[str, Any]:
        """The POST's 201 body: the agreement echoed, plus ``userId`` and ``agreementLink``."""
        return {
            "primaryContact": self.contact.to_json(),
            "templateId": self.template_id,
            "dateAgreed": self.date_agreed_text,
            "type": self.agreement_type,
            "agreementLink": self.agreement_link,
            "userId": self.user_id,
        }

    def listed_json(self) -> dict[str, Any]:
        """An item of the customer's agreements list; ``dateAgreed`` comes back without ``Z`` (quirk)."""
        return {
            "primaryContact": self.contact.to_json(),
            "templateId": self.template_id,
            "dateAgreed": self.date_agreed.astimezone(UTC).replace(tzinfo=None).isoformat(),
            "type": self.agreement_type,
            "agreementLink": self.agreement_link,
        }

    def inspection_json(self) -> dict[str, Any]:
        """What the control API shows: everything recorded."""
        return {
            **self.created_json(),
            "customerId": self.customer_id,
            "createdAt": self.created_at.isoformat(),
            "requestId": self.request_id,
        }


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_guid(text: str) -> str | None:
    """The lower-case canonical form of a GUID, or None."""
    try:
        return str(uuid.UUID(text)) if len(text) == 36 else None
    except ValueError:
        return None


def parse_date(text: str) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string; a naive one is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_attestation_request(raw: bytes) -> AttestationRequest | Reply:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return classic_fault(400, 800002, "Invalid request input: the body is not valid JSON.")
    if not isinstance(body, dict):
        return classic_fault(400, 800002, "Invalid request input: the body must be a JSON object.")
    contact = body.get("primaryContact")
    if contact is None:
        return _missing("primaryContact")
    if not isinstance(contact, dict):
        return _invalid("primaryContact", "must be an object")
    for name in ("firstName", "lastName", "email"):
        if contact.get(name) is None:
            return _missing(f"primaryContact.{name}")
    for name in ("templateId", "dateAgreed", "type"):
        if body.get(name) is None:
            return _missing(name)
    for name in ("firstName", "lastName", "email"):
        if not isinstance(contact[name], str) or not contact[name].strip():
            return _invalid(f"primaryContact.{name}", "must be a non-empty string")
    if not _EMAIL.match(contact["email"]):
        return _invalid("primaryContact.email", "is not a valid email address")
    phone = contact.get("phoneNumber")
    if phone is not None and not isinstance(phone, str):
        return _invalid("primaryContact.phoneNumber", "must be a string")
    template_id = body["templateId"]
    if not isinstance(template_id, str) or parse_guid(template_id) is None:
        return _invalid("templateId", "must be a GUID")
    date_text = body["dateAgreed"]
    date_agreed = parse_date(date_text) if isinstance(date_text, str) else None
    if date_agreed is None:
        return _invalid("dateAgreed", "must be an ISO 8601 UTC date-time")
    agreement_type = body["type"]
    if not isinstance(agreement_type, str) or not agreement_type.strip():
        return _invalid("type", "must be a non-empty string")
    return AttestationRequest(
        Contact(contact["firstName"], contact["lastName"], contact["email"], phone),
        template_id,
        date_agreed,
        date_text,
        agreement_type,
    )


def _missing(field_name: str) -> Reply:
    return classic_fault(400, 800002, f"Invalid request input: '{field_name}' is required.", [field_name])


def _invalid(field_name: str, problem: str) -> Reply:
    return agreement_fault(
        400,
        3000,
        f"Invalid property '{field_name}': {problem}.",
        error_name="InvalidProperty",
        parameters={"property": field_name},
    )
