"""The "MCA acceptance requested" event, contract v2: the CRM asks for the enhanced attestation.

Contract v1 says *the customer accepted*; contract v2 says *ask the customer to accept*: the partner creates
an enhanced attestation, the customer reviews and accepts the MCA on Microsoft's page, and only then is the
agreement created (docs/enhanced-attestation.md). So a v2 event carries no ``dateAgreed``; it carries what
Partner Center needs to create the attestation: country, language, company name and the signatory.

Bare, a v2 event names its contract: ``"contractVersion": 2`` (a v1 event has no such member, and v1 stays
exactly as it was). In a CloudEvents or Event Grid envelope the event type decides
(``mca.acceptance.requested.v2``; ``contractVersion`` may then be left out). ``parse_any_event`` routes a
body of any form to the contract it names; ``parse_acceptance_requested`` accepts contract v2 only.

Errors are the ones of v1 (``InvalidEventError``, every failing field, reasons that never echo the value):
names, emails, phone numbers and company names are personal data. The JSON Schema generated from
``AcceptanceRequestedEvent`` is committed as ``docs/event-schema.v2.json``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from shared.attestation.contract import SignedAgreementEvent, parse_event
from shared.attestation.contract.codes import ISO_639_1, ISO_3166_1_ALPHA_2
from shared.attestation.contract.envelopes import (
    EVENT_TYPE,
    CloudEventEnvelope,
    Envelopes,
    EventGridEnvelope,
    decode_body,
    form_of,
    readable_event_id,
    unwrap,
)
from shared.attestation.contract.fields import (
    MAX_COMPANY_CHARS,
    CompanyName,
    Email,
    FieldError,
    Guid,
    Identifier,
    InvalidEventError,
    Name,
    OptionalPhone,
    field_errors,
    strip_invisible,
)

EVENT_TYPE_V2 = "mca.acceptance.requested.v2"  # CloudEvents `type`, Event Grid `eventType`, the message subject
CONTRACT_VERSION_FIELD = "contractVersion"
CONTRACT_VERSION_V2 = 2
KNOWN_EVENT_TYPES = (EVENT_TYPE, EVENT_TYPE_V2)

_LANGUAGE_TAG = re.compile(
    r"^(?P<language>[A-Za-z]{2})(?:-(?P<script>[A-Za-z]{4}))?(?:-(?P<region>[A-Za-z]{2}|[0-9]{3}))?$"
)


def _trimmed(value: object) -> object:
    return strip_invisible(value) if isinstance(value, str) else value


def _country_code(value: str) -> str:
    code = value.upper()
    if code not in ISO_3166_1_ALPHA_2:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code such as DE or US (GB, not UK)")
    return code


def _language_tag(value: str) -> str:
    """A BCP 47 tag of an ISO 639-1 language, an optional script and an optional region, in canonical case."""
    match = _LANGUAGE_TAG.match(value)
    if match is None or match["language"].lower() not in ISO_639_1:
        raise ValueError(
            "must be a language tag: an ISO 639-1 code with an optional region, such as en, de-AT or zh-Hant-TW"
        )
    region = match["region"]
    if region is not None and region.isalpha() and region.upper() not in ISO_3166_1_ALPHA_2:
        raise ValueError("must be a language tag whose region is an ISO 3166-1 alpha-2 country code, such as de-AT")
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


Country = Annotated[
    str,
    BeforeValidator(_trimmed),
    AfterValidator(_country_code),
    WithJsonSchema({"type": "string", "enum": sorted(ISO_3166_1_ALPHA_2)}),
]
Language = Annotated[
    str,
    BeforeValidator(_trimmed),
    StringConstraints(max_length=16),
    AfterValidator(_language_tag),
    WithJsonSchema(
        {"type": "string", "maxLength": 16, "pattern": r"^[A-Za-z]{2}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?$"}
    ),
]


class Signatory(BaseModel):
    """The customer's person who will review and accept the MCA. Personal data: kept out of ``repr``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    first_name: Name = Field(alias="firstName", repr=False)
    last_name: Name = Field(alias="lastName", repr=False)
    email: Email = Field(
        alias="email",
        repr=False,
        description="The signatory's email address, sent to Partner Center with the attestation.",
    )
    phone_number: OptionalPhone = Field(default=None, alias="phoneNumber", repr=False)


class AcceptanceRequestedEvent(BaseModel):
    """Contract v2: ask this customer to accept the Microsoft Customer Agreement (the enhanced attestation)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        title="McaAcceptanceRequestedEvent",
        json_schema_extra={"$id": "https://mca-attest/schemas/event.v2.json"},
    )

    contract_version: Literal[2] = Field(
        alias="contractVersion", description="Always 2: names contract v2 in a bare event (v1 has no such member)."
    )
    event_id: Identifier = Field(
        alias="eventId", description="Unique per request; the idempotency key. Resending the same id is safe."
    )
    customer_tenant_id: Guid = Field(alias="customerTenantId", description="The customer's Entra tenant id.")
    country: Country = Field(description="The customer's country: ISO 3166-1 alpha-2 (stored in upper case).")
    language: Language = Field(description="Preferred language of the agreement: ISO 639-1, optional region.")
    company_name: CompanyName = Field(alias="companyName", repr=False)
    signatory: Signatory
    correlation_id: Identifier | None = Field(
        default=None, alias="correlationId", description="Sent to Partner Center as MS-CorrelationId."
    )


class _EnvelopePayloadV2(AcceptanceRequestedEvent):
    """An envelope's payload: the event type names the contract and the envelope's ``id`` may stand in."""

    contract_version: Literal[2] = Field(default=2, alias="contractVersion")
    event_id: Identifier | None = Field(default=None, alias="eventId")  # type: ignore[assignment]  # narrowing a parent field to optional is deliberate here


class CloudEventEnvelopeV2(CloudEventEnvelope):
    """A CloudEvents 1.0 envelope of contract v2."""

    type: Literal["mca.acceptance.requested.v2"]  # type: ignore[assignment]  # the one attribute v2 changes


class EventGridEnvelopeV2(EventGridEnvelope):
    """An Event Grid envelope of contract v2."""

    event_type: Literal["mca.acceptance.requested.v2"] = Field(alias="eventType")  # type: ignore[assignment]  # the one member v2 changes


_V2_ENVELOPES: Envelopes = {"cloudevents": CloudEventEnvelopeV2, "eventgrid": EventGridEnvelopeV2}


def parse_acceptance_requested(
    raw: bytes | bytearray | memoryview | str | Mapping[str, Any],
) -> AcceptanceRequestedEvent:
    """A body of contract v2 in any form → the event, or ``InvalidEventError`` naming every bad field."""
    doc = decode_body(raw)
    found = unwrap(doc, _V2_ENVELOPES)
    errors = list(found.errors)
    if found.payload is not None:
        model = _EnvelopePayloadV2 if found.in_envelope else AcceptanceRequestedEvent
        try:
            model.model_validate(found.payload)
        except ValidationError as exc:
            errors += field_errors(exc, prefix=found.prefix, contract="v2")
    if errors or found.payload is None:
        raise InvalidEventError(errors, readable_event_id(doc))
    return AcceptanceRequestedEvent.model_validate(
        {"eventId": found.envelope_id, CONTRACT_VERSION_FIELD: CONTRACT_VERSION_V2, **found.payload}
    )


def contract_of(doc: Mapping[str, Any]) -> Literal["v1", "v2"] | FieldError:
    """Which contract a decoded body names, from its event type (envelopes) or ``contractVersion`` (bare)."""
    form = form_of(doc)
    if form == "bare":
        if CONTRACT_VERSION_FIELD not in doc:
            return "v1"
        if doc[CONTRACT_VERSION_FIELD] == CONTRACT_VERSION_V2 and not isinstance(doc[CONTRACT_VERSION_FIELD], bool):
            return "v2"
        return FieldError(CONTRACT_VERSION_FIELD, "must be 2 (contract v2), or left out for contract v1")
    where = "type" if form == "cloudevents" else "eventType"
    if form == "unsupported":
        return "v1"  # v1's parser reports the unsupported form, as it always has
    event_type = doc.get(where)
    if event_type == EVENT_TYPE_V2:
        return "v2"
    if event_type == EVENT_TYPE:
        return "v1"
    return FieldError(where, f"must be one of {list(KNOWN_EVENT_TYPES)}")


def parse_any_event(
    raw: bytes | bytearray | memoryview | str | Mapping[str, Any],
) -> SignedAgreementEvent | AcceptanceRequestedEvent:
    """A body of either contract, routed by the contract it names (``contract_of``); v1 is parsed exactly as before."""
    doc = decode_body(raw)
    contract = contract_of(doc)
    if isinstance(contract, FieldError):
        raise InvalidEventError([contract], readable_event_id(doc))
    return parse_acceptance_requested(doc) if contract == "v2" else parse_event(doc)


def event_v2_json_schema() -> dict[str, Any]:
    """The JSON Schema committed as docs/event-schema.v2.json for CRM developers (the bare form)."""
    schema = AcceptanceRequestedEvent.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


__all__ = [
    "CONTRACT_VERSION_FIELD",
    "CONTRACT_VERSION_V2",
    "EVENT_TYPE_V2",
    "KNOWN_EVENT_TYPES",
    "MAX_COMPANY_CHARS",
    "AcceptanceRequestedEvent",
    "Signatory",
    "contract_of",
    "event_v2_json_schema",
    "parse_acceptance_requested",
    "parse_any_event",
]
