"""The "customer signed MCA" event, contract v1: parsing and field-level validation.

A CRM publishes one event per customer who accepted the Microsoft Customer Agreement, either bare::

    {"eventId": "crm-42", "customerTenantId": "<GUID>", "dateAgreed": "2026-11-20T09:30:00+01:00",
     "primaryContact": {"firstName": "…", "lastName": "…", "email": "…", "phoneNumber": "…"},
     "agreementType": "MicrosoftCustomerAgreement", "correlationId": "…", "templateId": "<GUID>"}

or the same object inside an envelope (see ``shared.attestation.contract.envelopes``). ``parse_event`` accepts every form
and returns a frozen ``SignedAgreementEvent``; anything else raises ``InvalidEventError`` listing
**every** failing field with a reason. Reasons name the field and the rule and never echo the value
back, because values here are personal data (names, emails, phone numbers).

The field types and errors live in ``shared.attestation.contract.fields``, the body and envelopes in
``shared.attestation.contract.envelopes``; this module is the event itself. The JSON Schema generated from
``SignedAgreementEvent`` is committed as ``docs/event-schema.v1.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.attestation.contract.envelopes import (
    CLOUDEVENTS_SPECVERSION,
    EVENT_TYPE,
    MAX_BODY_BYTES,
    decode_body,
    is_cloud_event,
    lenient_payload,
    readable_event_id,
    unwrap,
)
from shared.attestation.contract.fields import (
    ALLOWED_CLOCK_SKEW,
    MAX_EMAIL_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    DateAgreed,
    Email,
    FieldError,
    Guid,
    Identifier,
    InvalidEventError,
    Name,
    OptionalPhone,
    field_errors,
)

__all__ = [
    "ALLOWED_CLOCK_SKEW",
    "CLOUDEVENTS_SPECVERSION",
    "EVENT_TYPE",
    "MAX_BODY_BYTES",
    "MAX_EMAIL_CHARS",
    "MAX_ID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_PHONE_CHARS",
    "FieldError",
    "InvalidEventError",
    "PrimaryContact",
    "SignedAgreementEvent",
    "event_json_schema",
    "identifiers_of",
    "is_cloud_event",
    "parse_event",
]


class PrimaryContact(BaseModel):
    """The customer's person who accepted the agreement, as Partner Center records it.

    Every field is personal data: kept out of ``repr`` so an event logged by mistake shows none of it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    first_name: Name = Field(alias="firstName", repr=False)
    last_name: Name = Field(alias="lastName", repr=False)
    email: Email = Field(alias="email", repr=False)
    phone_number: OptionalPhone = Field(default=None, alias="phoneNumber", repr=False)


class SignedAgreementEvent(BaseModel):
    """Contract v1: a customer accepted the Microsoft Customer Agreement (or Cloud Agreement)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        title="CustomerSignedMcaEvent",
        json_schema_extra={"$id": "https://mca-attest/schemas/event.v1.json"},
    )

    event_id: Identifier = Field(
        alias="eventId", description="Unique per acceptance; the idempotency key. Resending the same id is safe."
    )
    customer_tenant_id: Guid = Field(alias="customerTenantId", description="The customer's Entra tenant id.")
    date_agreed: DateAgreed = Field(
        alias="dateAgreed", description="When the customer accepted: ISO-8601 with an offset; stored as UTC."
    )
    primary_contact: PrimaryContact = Field(alias="primaryContact")
    agreement_type: Literal["MicrosoftCustomerAgreement", "MicrosoftCloudAgreement"] = Field(
        default="MicrosoftCustomerAgreement", alias="agreementType"
    )
    correlation_id: Identifier | None = Field(
        default=None, alias="correlationId", description="Sent to Partner Center as MS-CorrelationId."
    )
    template_id: Guid | None = Field(
        default=None,
        alias="templateId",
        description="Override of the agreement template; must be a current template of agreementType.",
    )


class _EnvelopePayload(SignedAgreementEvent):
    """The payload of an envelope: ``eventId`` may be left out, as the envelope's ``id`` stands in for it.

    That ``id`` is validated once, by the envelope, so a bad one is reported as ``id`` alone.
    """

    event_id: Identifier | None = Field(default=None, alias="eventId")  # type: ignore[assignment]  # narrowing a parent field to optional is deliberate here


def parse_event(raw: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> SignedAgreementEvent:
    """Bytes, text or a decoded object → a valid event, or ``InvalidEventError`` naming every bad field."""
    doc = decode_body(raw)
    found = unwrap(doc)
    errors = list(found.errors)
    if found.payload is not None:
        model = _EnvelopePayload if found.in_envelope else SignedAgreementEvent
        try:
            model.model_validate(found.payload)
        except ValidationError as exc:
            errors += field_errors(exc, prefix=found.prefix)
    if errors or found.payload is None:  # no payload comes with an envelope error
        raise InvalidEventError(errors, readable_event_id(doc))
    return SignedAgreementEvent.model_validate({"eventId": found.envelope_id, **found.payload})


def identifiers_of(body: bytes | Mapping[str, Any]) -> tuple[str, str]:
    """(eventId, customerTenantId) of a body that may be invalid, in any form; "" for what cannot be read.

    In an envelope, the payload's eventId, else the envelope's ``id``. For reports and dead-letter
    listings: it trusts nothing and never raises.
    """
    doc: object = body
    if isinstance(body, bytes):
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or absurd: nothing to read
            return "", ""
    if not isinstance(doc, Mapping):
        return "", ""
    payload, envelope_id = lenient_payload(doc)
    event_id = payload.get("eventId", envelope_id)
    customer_id = payload.get("customerTenantId")
    return (
        event_id if isinstance(event_id, str) else "",
        customer_id if isinstance(customer_id, str) else "",
    )


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema committed under docs/ for CRM developers."""
    schema = SignedAgreementEvent.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
