"""The "customer signed MCA" event, contract v1: parsing and field-level validation.

A CRM publishes one event per customer who accepted the Microsoft Customer Agreement, either bare::

    {"eventId": "crm-42", "customerTenantId": "<GUID>", "dateAgreed": "2026-11-20T09:30:00+01:00",
     "primaryContact": {"firstName": "…", "lastName": "…", "email": "…", "phoneNumber": "…"},
     "agreementType": "MicrosoftCustomerAgreement", "correlationId": "…", "templateId": "<GUID>"}

or the same object as ``data`` of a CloudEvents 1.0 structured JSON envelope. ``parse_event`` accepts
both and returns a frozen ``SignedAgreementEvent``; anything else raises ``InvalidEventError`` listing
**every** failing field with a reason. Reasons name the field and the rule and never echo the value
back, because values here are personal data (names, emails, phone numbers).

The JSON Schema generated from ``SignedAgreementEvent`` is committed as ``docs/event-schema.v1.json``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
)

EVENT_TYPE = "mca.customer.signed.v1"  # CloudEvents `type`, and the Service Bus message subject
CLOUDEVENTS_SPECVERSION = "1.0"
MAX_BODY_BYTES = 64 * 1024  # far above a real event (~1 KiB); stops a runaway payload before parsing
MAX_NAME_CHARS = 100
MAX_EMAIL_CHARS = 254  # RFC 5321 path limit
MAX_PHONE_CHARS = 32
MAX_ID_CHARS = 128  # Service Bus message ids are at most 128 characters; the event id becomes one
ALLOWED_CLOCK_SKEW = timedelta(minutes=5)

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]*$"
_PHONE_PATTERN = r"^\+?[0-9][0-9 ()./-]*$"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: Unicode category Cc
_ISO_DATE_START = re.compile(r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One failing field: a dotted path (``primaryContact.email``) and the rule it broke."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class InvalidEventError(ValueError):
    """The event cannot be attested as it is. ``errors`` lists every failing field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


def _no_control_chars(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


def _iso_8601_not_unix_time(value: object) -> object:
    # Pydantic reads a number, or a string of digits, as Unix time (guessing seconds or milliseconds);
    # the contract asks for ISO-8601 text, so neither is accepted.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an ISO-8601 date-time string such as 2026-11-20T09:30:00Z, not a number")
    if isinstance(value, str) and not _ISO_DATE_START.match(value):
        raise ValueError("must be an ISO-8601 date-time such as 2026-11-20T09:30:00Z")
    return value


def _utc_not_in_future(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a UTC offset, e.g. 2026-11-20T09:30:00Z or +01:00")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 has no UTC equivalent
        raise ValueError("must fall between years 1 and 9999 once converted to UTC") from None
    if value > datetime.now(UTC) + ALLOWED_CLOCK_SKEW:
        raise ValueError("must not be in the future (Partner Center rejects it with 600002)")
    return value


def _canonical_guid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a GUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6") from None


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_CHARS),
    AfterValidator(_no_control_chars),
]
Guid = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_canonical_guid)]
DateAgreed = Annotated[datetime, BeforeValidator(_iso_8601_not_unix_time), AfterValidator(_utc_not_in_future)]
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID_CHARS, pattern=_ID_PATTERN)
]


class PrimaryContact(BaseModel):
    """The customer's person who accepted the agreement, as Partner Center records it.

    Every field is personal data: kept out of ``repr`` so an event logged by mistake shows none of it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    first_name: Name = Field(alias="firstName", repr=False)
    last_name: Name = Field(alias="lastName", repr=False)
    email: Annotated[EmailStr, StringConstraints(max_length=MAX_EMAIL_CHARS)] = Field(alias="email", repr=False)
    phone_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_PHONE_CHARS, pattern=_PHONE_PATTERN)]
        | None
    ) = Field(default=None, alias="phoneNumber", repr=False)


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


class CloudEventEnvelope(BaseModel):
    """The CloudEvents 1.0 structured-mode attributes this contract reads."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: Identifier
    type: Literal["mca.customer.signed.v1"]
    source: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    datacontenttype: Literal["application/json"] | None = None
    data: dict[str, Any]


# Pydantic error types mapped to reasons that never include the offending value.
_REASONS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda _: "is required",
    "extra_forbidden": lambda _: "is not a field of contract v1",
    "string_type": lambda _: "must be a string",
    "string_unicode": lambda _: "must be valid Unicode text (no lone surrogates)",
    "dict_type": lambda _: "must be an object",
    "model_type": lambda _: "must be an object",
    "model_attributes_type": lambda _: "must be an object",
    "string_too_short": lambda ctx: "must not be empty",
    "string_too_long": lambda ctx: f"must be at most {ctx.get('max_length')} characters",
    "string_pattern_mismatch": lambda ctx: "contains characters that are not allowed",
    "literal_error": lambda ctx: f"must be one of {ctx.get('expected')}",
    "datetime_type": lambda _: "must be an ISO-8601 date-time string",
    "datetime_parsing": lambda _: "must be an ISO-8601 date-time such as 2026-11-20T09:30:00Z",
    "datetime_from_date_parsing": lambda _: "must be an ISO-8601 date-time such as 2026-11-20T09:30:00Z",
    "value_error": lambda ctx: str(ctx.get("error", "is not valid")).removeprefix("value is not a valid "),
}


def _reason(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    ctx = error.get("ctx") or {}
    if kind == "value_error" and "email" in str(error.get("msg", "")).lower():
        return "must be a valid email address"
    explain = _REASONS.get(kind)
    return explain(ctx) if explain else f"is not valid ({kind})"


def _field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
        errors.append(FieldError(f"{prefix}{path}" if path else prefix.rstrip(".") or "body", _reason(error)))
    return errors


def _decode_body(raw: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, bytes):
        if len(raw) > MAX_BODY_BYTES:
            raise InvalidEventError([FieldError("body", f"must be at most {MAX_BODY_BYTES} bytes")])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventError([FieldError("body", f"must be UTF-8 (invalid byte at {exc.start})")]) from None
    else:
        text = raw
        if len(text.encode("utf-8", errors="surrogatepass")) > MAX_BODY_BYTES:
            raise InvalidEventError([FieldError("body", f"must be at most {MAX_BODY_BYTES} bytes")])
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(
            [FieldError("body", f"must be JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")]
        ) from None
    except ValueError:  # not a JSONDecodeError: an integer longer than Python's 4300-digit conversion limit
        raise InvalidEventError([FieldError("body", "must be JSON with numbers of at most 4300 digits")]) from None
    except RecursionError:
        raise InvalidEventError([FieldError("body", "is nested too deeply")]) from None
    if not isinstance(doc, dict):
        raise InvalidEventError([FieldError("body", "must be a JSON object")])
    return doc


def is_cloud_event(doc: Mapping[str, Any]) -> bool:
    return "specversion" in doc


def parse_event(raw: bytes | str | Mapping[str, Any]) -> SignedAgreementEvent:
    """Bytes, text or a decoded object → a valid event, or ``InvalidEventError`` naming every bad field."""
    doc = _decode_body(raw)
    if not is_cloud_event(doc):
        try:
            return SignedAgreementEvent.model_validate(doc)
        except ValidationError as exc:
            raise InvalidEventError(_field_errors(exc)) from None

    try:
        envelope = CloudEventEnvelope.model_validate(doc)
    except ValidationError as exc:
        errors = _field_errors(exc)
        data = doc.get("data")
        if isinstance(data, dict):  # report the payload's problems too, not only the envelope's
            errors += _payload_errors(data, envelope_id=doc.get("id"))
        raise InvalidEventError(errors) from None
    errors = _payload_errors(envelope.data, envelope_id=envelope.id)
    if errors:
        raise InvalidEventError(errors)
    return SignedAgreementEvent.model_validate({"eventId": envelope.id, **envelope.data})


def _payload_errors(data: Mapping[str, Any], envelope_id: object) -> list[FieldError]:
    # Inside an envelope, the CloudEvents `id` is the event id unless data carries its own.
    payload = dict(data)
    if "eventId" not in payload and isinstance(envelope_id, str):
        payload["eventId"] = envelope_id
    try:
        SignedAgreementEvent.model_validate(payload)
    except ValidationError as exc:
        return _field_errors(exc, prefix="data.")
    return []


def identifiers_of(body: bytes | Mapping[str, Any]) -> tuple[str, str]:
    """(eventId, customerTenantId) of a body that may be invalid, bare or CloudEvents; "" for what cannot be read.

    For reports and dead-letter listings: it trusts nothing and never raises.
    """
    doc: object = body
    if isinstance(body, bytes):
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or absurd: nothing to read
            return "", ""
    if not isinstance(doc, Mapping):
        return "", ""
    cloud = is_cloud_event(doc)
    data = doc.get("data") if cloud else doc
    data = data if isinstance(data, Mapping) else {}
    event_id = data.get("eventId", doc.get("id") if cloud else None)
    customer_id = data.get("customerTenantId")
    return (
        event_id if isinstance(event_id, str) else "",
        customer_id if isinstance(customer_id, str) else "",
    )


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema committed under docs/ for CRM developers."""
    schema = SignedAgreementEvent.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
