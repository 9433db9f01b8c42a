"""The building blocks of contract v1: limits, field types and field-level errors.

Both the event model (``shared.attestation.contract``) and the envelopes around it (``shared.attestation.contract.envelopes``) validate
with these types and report with these errors, so an identifier obeys one rule and a reason reads the
same wherever it is found. Reasons name the field and the rule and never echo the value back, because
values here are personal data (names, emails, phone numbers).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, EmailStr, StringConstraints, ValidationError

MAX_NAME_CHARS = 100
MAX_EMAIL_CHARS = 254  # RFC 5321 path limit
MAX_PHONE_CHARS = 32
MAX_COMPANY_CHARS = 256  # contract v2's companyName
MAX_ID_CHARS = 128  # Service Bus message ids are at most 128 characters; the event id becomes one
ALLOWED_CLOCK_SKEW = timedelta(minutes=5)

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]*$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./-]*$"
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
    """The event cannot be attested as it is. ``errors`` lists every failing field.

    ``event_id`` is the body's event id when one can be read and follows the eventId rule (so it is safe
    to log and to look up in the CRM), else "".
    """

    def __init__(self, errors: list[FieldError], event_id: str = "") -> None:
        self.errors = tuple(errors)
        self.event_id = event_id
        super().__init__("; ".join(str(e) for e in self.errors))


def _invisible(char: str) -> bool:
    # Whitespace, and format characters (category Cf: zero-width spaces and joiners, word joiner,
    # byte-order mark, bidi controls, soft hyphen, tags…), which take no space on screen.
    return char.isspace() or unicodedata.category(char) == "Cf"


def strip_invisible(value: str) -> str:
    """``value`` without the whitespace and format characters at either end (``str.strip`` keeps the latter)."""
    start, end = 0, len(value)
    while start < end and _invisible(value[start]):
        start += 1
    while end > start and _invisible(value[end - 1]):
        end -= 1
    return value[start:end]


def _trimmed(value: object) -> object:
    return strip_invisible(value) if isinstance(value, str) else value


def nfc(value: object) -> object:
    """Text in Unicode NFC: one person spelled in NFD by one system and NFC by another becomes one spelling.

    The request id is derived from the names and email, so without this Partner Center would see two
    different requests (two MS-RequestIds, and no 600061) for the same person.
    """
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _trimmed_nfc(value: object) -> object:
    return nfc(_trimmed(value))


def _blank_is_absent(value: object) -> object:
    value = _trimmed(value)
    return None if value == "" else value


def _no_control_chars(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


# Zero-width non-joiner and joiner: Persian, Indic scripts and emoji need them to spell a name correctly.
_JOINERS = frozenset("\u200c\u200d")


def _no_format_chars_but_joiners(value: str) -> str:
    # Inside a name, a format character is invisible (a zero-width space makes "Ann" and "An\u200bn" two
    # names) or reorders what is shown (bidi overrides and isolates can make a name display as another).
    if any(unicodedata.category(char) == "Cf" and char not in _JOINERS for char in value):
        raise ValueError("must not contain invisible format characters such as bidi controls")
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


# Trimmed of whitespace and format characters first, so a name made only of them is empty; then NFC.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_CHARS),
    BeforeValidator(_trimmed_nfc),
    AfterValidator(_no_control_chars),
    AfterValidator(_no_format_chars_but_joiners),
]
# Contract v2: a company name follows the name rules, with more room.
CompanyName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_COMPANY_CHARS),
    BeforeValidator(_trimmed_nfc),
    AfterValidator(_no_control_chars),
    AfterValidator(_no_format_chars_but_joiners),
]
Guid = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_canonical_guid)]
DateAgreed = Annotated[datetime, BeforeValidator(_iso_8601_not_unix_time), AfterValidator(_utc_not_in_future)]
Email = Annotated[EmailStr, StringConstraints(max_length=MAX_EMAIL_CHARS), BeforeValidator(nfc)]
# Optional: "" or a value made only of whitespace or format characters means absent.
OptionalPhone = Annotated[
    Annotated[str, StringConstraints(max_length=MAX_PHONE_CHARS, pattern=PHONE_PATTERN)] | None,
    BeforeValidator(_blank_is_absent),
]
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID_CHARS, pattern=_ID_PATTERN)
]


# Pydantic error types mapped to reasons that never include the offending value.
_REASONS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda _: "is required",
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


def _reason(error: Mapping[str, Any], contract: str) -> str:
    kind = str(error["type"])
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"is not a field of contract {contract}"
    if kind == "value_error" and "email" in str(error.get("msg", "")).lower():
        return "must be a valid email address"
    explain = _REASONS.get(kind)
    return explain(ctx) if explain else f"is not valid ({kind})"


def field_errors(exc: ValidationError, prefix: str = "", *, contract: str = "v1") -> list[FieldError]:
    """Pydantic's errors as ``FieldError``s with readable reasons; ``prefix`` is prepended to each path.

    ``contract`` names the contract an unknown field is not part of (``is not a field of contract v1``).
    """
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
        errors.append(FieldError(f"{prefix}{path}" if path else prefix.rstrip(".") or "body", _reason(error, contract)))
    return errors
