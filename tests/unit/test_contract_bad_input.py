"""Bad events: every row names the failing field path(s), gives a readable reason, and echoes no personal data.

Each row says whether the listed fields are *exactly* the errors (the usual case: nothing else in the row is
wrong, so any extra error would be a false report) or *at least* them (named in the row's ``why``).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.attestation.contract import (
    MAX_BODY_BYTES,
    MAX_EMAIL_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    InvalidEventError,
    parse_event,
)
from shared.attestation.metadata import MCA
from shared.attestation.outcomes import DeadLetter, DeadLetterReason
from shared.attestation.use_case import Attestor
from tests.builders import (
    EMAIL,
    FIRST,
    LAST,
    PHONE,
    TEMPLATE,
    TENANT,
    FakeAttestation,
    FakeMetadata,
    cloud_event,
    event_doc,
    event_grid_event,
    event_with_contact,
    process_with,
)

CURRENT_TEMPLATE = TEMPLATE
PERSONAL_KEYS = ("firstName", "lastName", "email", "phoneNumber")


def with_data_base64(envelope: dict[str, Any], payload: bytes | str | None = None) -> dict[str, Any]:
    """``envelope`` with its data moved to data_base64 (``payload``: other bytes to encode, or the text to send)."""
    data = envelope.pop("data")
    if payload is None:
        payload = json.dumps(data).encode()
    envelope["data_base64"] = base64.b64encode(payload).decode() if isinstance(payload, bytes) else payload
    return envelope


def dumps(doc: object) -> str:
    return json.dumps(doc)


def with_duplicate_key(doc: dict[str, Any], path: str, value: object) -> str:
    """``doc`` as JSON text in which the key at dotted ``path`` appears a second time, with ``value``."""
    *parents, key = path.split(".")
    target = doc
    for parent in parents:
        target = target[parent]
    target["\x00duplicate"] = value
    return dumps(doc).replace('"\\u0000duplicate"', json.dumps(key))


@dataclass(frozen=True)
class Bad:
    """One bad input and the field paths it must be rejected for."""

    id: str
    raw: bytes | str | dict[str, Any]
    fields: tuple[str, ...]
    exact: bool = True
    why: str = ""  # for at-least rows: what else may be reported, and why
    extra_personal: tuple[str, ...] = field(default=())  # personal values the walker cannot find


def future(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


NESTED_ARRAYS = "[" * 50_000  # 50 KB: under the size limit, far over the JSON decoder's recursion limit
NESTED_OBJECTS = '{"a":' * 10_000

BAD: tuple[Bad, ...] = (
    # --- not a JSON object at all
    Bad("empty-bytes", b"", ("body",)),
    Bad("whitespace-only-body", b"  \n ", ("body",)),
    Bad("malformed-json-truncated", dumps(event_doc())[:-7].encode(), ("body",)),
    Bad("malformed-json-single-quotes", "{'eventId': 'crm-42'}", ("body",)),
    Bad("malformed-json-trailing-comma", dumps(event_doc())[:-1] + ",}", ("body",)),
    Bad("json-array", dumps([event_doc()]), ("body",)),
    Bad("json-string", dumps(dumps(event_doc())), ("body",)),
    Bad("json-null", b"null", ("body",)),
    Bad("json-number", b"42", ("body",)),
    Bad("json-number-over-4300-digits", b"1" * 5000, ("body",)),
    Bad("non-utf8-bytes", b"\xff\xfe" + dumps(event_doc()).encode("utf-16-le"), ("body",)),
    Bad(
        "latin1-encoded-name",
        json.dumps(event_with_contact(firstName="Zoë Quillfeather"), ensure_ascii=False).encode("latin-1"),
        ("body",),
        extra_personal=("Quillfeather",),
    ),
    Bad("utf8-bom", ("\ufeff" + dumps(event_doc())).encode(), ("body",)),
    Bad("deeply-nested-arrays", NESTED_ARRAYS, ("body",)),
    Bad("deeply-nested-objects", NESTED_OBJECTS.encode(), ("body",)),
    Bad(
        "body-over-64KiB-bytes",
        dumps(event_doc(padding="x" * MAX_BODY_BYTES)).encode(),
        ("body",),
        why="size is checked before parsing, so the unknown `padding` field is never reported",
    ),
    Bad("body-over-64KiB-text", dumps(event_with_contact(firstName=FIRST * 8000)), ("body",)),
    # --- missing required fields
    Bad("missing-eventId", event_doc(eventId=...), ("eventId",)),
    Bad("missing-customerTenantId", event_doc(customerTenantId=...), ("customerTenantId",)),
    Bad("missing-dateAgreed", event_doc(dateAgreed=...), ("dateAgreed",)),
    Bad("missing-primaryContact", event_doc(primaryContact=...), ("primaryContact",)),
    Bad("missing-firstName", event_with_contact(firstName=...), ("primaryContact.firstName",)),
    Bad("missing-lastName", event_with_contact(lastName=...), ("primaryContact.lastName",)),
    Bad("missing-email", event_with_contact(email=...), ("primaryContact.email",)),
    Bad(
        "empty-object",
        {},
        ("eventId", "customerTenantId", "dateAgreed", "primaryContact"),
    ),
    # --- wrong JSON types
    Bad("number-for-firstName", event_with_contact(firstName=42), ("primaryContact.firstName",)),
    Bad("number-for-lastName", event_with_contact(lastName=7.5), ("primaryContact.lastName",)),
    Bad("bool-for-email", event_with_contact(email=True), ("primaryContact.email",)),
    Bad("number-for-phone", event_with_contact(phoneNumber=5550147), ("primaryContact.phoneNumber",)),
    Bad("number-for-eventId", event_doc(eventId=42), ("eventId",)),
    Bad("number-for-customerTenantId", event_doc(customerTenantId=12345), ("customerTenantId",)),
    Bad("object-for-dateAgreed", event_doc(dateAgreed={"year": 2026}), ("dateAgreed",)),
    Bad("unix-seconds-for-dateAgreed", event_doc(dateAgreed=1_763_630_000), ("dateAgreed",)),
    Bad("digit-string-for-dateAgreed", event_doc(dateAgreed="1763630000"), ("dateAgreed",)),
    Bad("null-for-dateAgreed", event_doc(dateAgreed=None), ("dateAgreed",)),
    Bad("list-for-primaryContact", event_doc(primaryContact=[FIRST, LAST, EMAIL]), ("primaryContact",)),
    Bad("string-for-primaryContact", event_doc(primaryContact=f"{FIRST} {LAST} <{EMAIL}>"), ("primaryContact",)),
    Bad("list-for-agreementType", event_doc(agreementType=["MicrosoftCustomerAgreement"]), ("agreementType",)),
    # --- GUIDs
    Bad("guid-too-short", event_doc(customerTenantId="3fa85f64-5717-4562-b3fc-2c963f66afa"), ("customerTenantId",)),
    Bad("guid-non-hex", event_doc(customerTenantId="3fa85f64-5717-4562-b3fc-2c963f66afzz"), ("customerTenantId",)),
    Bad("guid-empty-string", event_doc(customerTenantId=""), ("customerTenantId",)),
    Bad("guid-domain-name", event_doc(customerTenantId="contoso.onmicrosoft.com"), ("customerTenantId",)),
    Bad("guid-bad-templateId", event_doc(templateId="current"), ("templateId",)),
    # --- emails
    Bad(
        "email-without-at",
        event_with_contact(email="zephyrine.quillfeather.contoso.example.com"),
        ("primaryContact.email",),
    ),
    Bad("email-two-ats", event_with_contact(email="zephyrine@@contoso.example.com"), ("primaryContact.email",)),
    Bad("email-no-domain", event_with_contact(email="zephyrine.quillfeather@"), ("primaryContact.email",)),
    Bad("email-no-local-part", event_with_contact(email="@contoso.example.com"), ("primaryContact.email",)),
    Bad(
        "email-space-inside", event_with_contact(email="zephyrine quillfeather@example.com"), ("primaryContact.email",)
    ),
    Bad(
        "email-domain-without-dot",
        event_with_contact(email="zephyrine.quillfeather@contoso"),
        ("primaryContact.email",),
    ),
    Bad("email-empty", event_with_contact(email=""), ("primaryContact.email",)),
    Bad(
        "email-over-254-chars",
        event_with_contact(email="zephyrine." + "q" * 60 + "@" + ".".join(["contoso"] * 30) + ".example.com"),
        ("primaryContact.email",),
    ),
    # --- names
    Bad("empty-firstName", event_with_contact(firstName=""), ("primaryContact.firstName",)),
    Bad("whitespace-only-lastName", event_with_contact(lastName=" \t "), ("primaryContact.lastName",)),
    Bad("nbsp-only-firstName", event_with_contact(firstName="\u00a0\u2003"), ("primaryContact.firstName",)),
    Bad("zero-width-space-only-firstName", event_with_contact(firstName="\u200b"), ("primaryContact.firstName",)),
    Bad(
        "format-chars-and-spaces-lastName",
        event_with_contact(lastName=" \u200c\u200d \u2060\ufeff "),
        ("primaryContact.lastName",),
    ),
    Bad(
        "bidi-override-inside-firstName", event_with_contact(firstName="Zephy\u202erine"), ("primaryContact.firstName",)
    ),
    Bad(
        "bidi-isolate-inside-lastName",
        event_with_contact(lastName="Quill\u2067feather\u2069"),
        ("primaryContact.lastName",),
    ),
    Bad(
        "zero-width-space-inside-lastName",
        event_with_contact(lastName="Quill\u200bfeather"),
        ("primaryContact.lastName",),
    ),
    Bad("newline-in-firstName", event_with_contact(firstName="Zephyrine\nQuill"), ("primaryContact.firstName",)),
    Bad("nul-in-lastName", event_with_contact(lastName="Quill\x00feather"), ("primaryContact.lastName",)),
    Bad("c1-control-in-lastName", event_with_contact(lastName="Quill\x85feather"), ("primaryContact.lastName",)),
    Bad("escape-in-firstName", event_with_contact(firstName="Zephyrine\x1b[31m"), ("primaryContact.firstName",)),
    Bad(
        "firstName-over-100-chars",
        event_with_contact(firstName="Zephyrine" * (MAX_NAME_CHARS // 9 + 1)),
        ("primaryContact.firstName",),
    ),
    Bad(
        "lastName-over-100-chars",
        event_with_contact(lastName="Quillfeather" * (MAX_NAME_CHARS // 12 + 1)),
        ("primaryContact.lastName",),
    ),
    Bad(
        "lone-surrogate-in-firstName",
        dumps(event_with_contact(firstName="Zephyrine\ud800")),
        ("primaryContact.firstName",),
    ),
    # --- phone
    Bad("phone-with-letters", event_with_contact(phoneNumber="555-CALL-NOW"), ("primaryContact.phoneNumber",)),
    Bad("phone-with-extension-x", event_with_contact(phoneNumber="+1 555 0147 x12"), ("primaryContact.phoneNumber",)),
    Bad("phone-only-punctuation", event_with_contact(phoneNumber="()"), ("primaryContact.phoneNumber",)),
    Bad(
        "phone-over-32-chars",
        event_with_contact(phoneNumber="+1 555 0147 " + "0" * MAX_PHONE_CHARS),
        ("primaryContact.phoneNumber",),
    ),
    # --- dates
    Bad("dateAgreed-tomorrow", event_doc(dateAgreed=future(timedelta(days=1))), ("dateAgreed",)),
    # Past the 5-minute skew by far: the table is built at collection, and the suite may run long after that.
    Bad("dateAgreed-past-clock-skew", event_doc(dateAgreed=future(timedelta(hours=2))), ("dateAgreed",)),
    Bad("dateAgreed-without-offset", event_doc(dateAgreed="2026-11-20T09:30:00"), ("dateAgreed",)),
    Bad("dateAgreed-date-only", event_doc(dateAgreed="2026-11-20"), ("dateAgreed",)),
    Bad("dateAgreed-us-format", event_doc(dateAgreed="11/20/2026 09:30 AM"), ("dateAgreed",)),
    Bad("dateAgreed-impossible-day", event_doc(dateAgreed="2026-02-30T09:30:00Z"), ("dateAgreed",)),
    Bad("dateAgreed-overflows-utc", event_doc(dateAgreed="0001-01-01T00:00:00+14:00"), ("dateAgreed",)),
    # --- identifiers, agreement type, unknown fields
    Bad("eventId-with-spaces", event_doc(eventId="crm 42"), ("eventId",)),
    Bad("eventId-with-illegal-chars", event_doc(eventId="crm#42;drop"), ("eventId",)),
    Bad("eventId-starting-with-dash", event_doc(eventId="-crm-42"), ("eventId",)),
    Bad("eventId-empty", event_doc(eventId=""), ("eventId",)),
    Bad("eventId-over-128-chars", event_doc(eventId="e" * (MAX_ID_CHARS + 1)), ("eventId",)),
    Bad("correlationId-with-spaces", event_doc(correlationId="corr 1"), ("correlationId",)),
    Bad("unknown-agreementType", event_doc(agreementType="MicrosoftPartnerAgreement"), ("agreementType",)),
    Bad("agreementType-wrong-case", event_doc(agreementType="microsoftcustomeragreement"), ("agreementType",)),
    Bad(
        "typo-dateAgred",
        event_doc(dateAgreed=..., dateAgred="2026-11-20T09:30:00Z"),
        ("dateAgreed", "dateAgred"),
    ),
    Bad("unknown-top-level-field", event_doc(customerName=f"{FIRST} {LAST}"), ("customerName",)),
    Bad("unknown-contact-field", event_with_contact(mobile=PHONE), ("primaryContact.mobile",)),
    # --- duplicate keys: the last one would silently win
    Bad("duplicate-eventId", with_duplicate_key(event_doc(), "eventId", "crm-43"), ("eventId",)),
    Bad(
        "duplicate-customerTenantId",
        with_duplicate_key(event_doc(), "customerTenantId", "9d0c6a57-1b2e-4f3a-8c4d-5e6f7a8b9c0d"),
        ("customerTenantId",),
    ),
    Bad(
        "duplicate-contact-email",
        with_duplicate_key(event_doc(), "primaryContact.email", "other@example.com"),
        ("primaryContact.email",),
    ),
    Bad(
        "duplicate-key-in-cloudevent-data",
        with_duplicate_key(cloud_event(), "data.primaryContact.lastName", LAST),
        ("data.primaryContact.lastName",),
    ),
    Bad("duplicate-cloudevent-id", with_duplicate_key(cloud_event(), "id", "ce-7f3b"), ("id",)),
    Bad(
        "duplicate-keys-at-two-depths",
        with_duplicate_key(event_doc(), "primaryContact.firstName", FIRST)[:-1] + ', "eventId": "crm-43"}',
        ("eventId", "primaryContact.firstName"),
    ),
    # Duplicates are refused before the fields are validated, so the unknown `notes` is not reported here.
    Bad(
        "duplicate-key-in-a-list",
        dumps(event_doc(notes=[{"a": 1}])).replace('{"a": 1}', '{"a": 1, "a": 2}'),
        ("notes.0.a",),
    ),
    # --- CloudEvents envelope
    Bad("cloudevent-without-data", cloud_event(data=...), ("data",)),
    Bad("cloudevent-null-data", cloud_event(data=None), ("data",)),
    Bad("cloudevent-data-is-a-list", cloud_event(data=[event_doc()]), ("data",)),
    Bad("cloudevent-data-is-a-json-string", cloud_event(data=dumps(event_doc())), ("data",)),
    Bad("cloudevent-specversion-0.3", cloud_event(specversion="0.3"), ("body",)),
    Bad("cloudevent-specversion-number", cloud_event(specversion=1.0), ("body",)),
    Bad("cloudevent-wrong-type", cloud_event(type="mca.customer.signed.v2"), ("type",)),
    Bad("cloudevent-missing-source", cloud_event(source=...), ("source",)),
    Bad("cloudevent-xml-content-type", cloud_event(datacontenttype="application/xml"), ("datacontenttype",)),
    Bad(
        "cloudevent-json-lookalike-content-type",
        cloud_event(datacontenttype="application/jsonp; charset=utf-8"),
        ("datacontenttype",),
    ),
    Bad("cloudevent-data-and-data-base64", {**with_data_base64(cloud_event()), "data": event_doc()}, ("data_base64",)),
    Bad("cloudevent-data-base64-not-base64", with_data_base64(cloud_event(), "not base64!"), ("data_base64",)),
    Bad("cloudevent-data-base64-number", with_data_base64(cloud_event(), 42), ("data_base64",)),  # type: ignore[arg-type]  # a number is the bad input
    Bad("cloudevent-data-base64-not-json", with_data_base64(cloud_event(), b"<event/>"), ("data_base64",)),
    Bad("cloudevent-data-base64-not-utf8", with_data_base64(cloud_event(), b"\xff\xfe{}"), ("data_base64",)),
    Bad("cloudevent-data-base64-array", with_data_base64(cloud_event(), b"[]"), ("data_base64",)),
    Bad(
        "cloudevent-data-base64-bad-fields",
        with_data_base64(cloud_event(data=event_with_contact(email="zephyrine@@example.com"))),
        ("data_base64.primaryContact.email",),
    ),
    Bad(
        "cloudevent-data-base64-duplicate-key",
        with_data_base64(
            cloud_event(), with_duplicate_key(event_doc(eventId=...), "customerTenantId", TENANT).encode()
        ),
        ("data_base64.customerTenantId",),
    ),
    # --- Event Grid schema
    Bad("eventgrid-wrong-eventType", event_grid_event(eventType="mca.customer.signed.v2"), ("eventType",)),
    Bad("eventgrid-missing-subject", event_grid_event(subject=...), ("subject",)),
    Bad("eventgrid-missing-eventTime", event_grid_event(eventTime=...), ("eventTime",)),
    Bad("eventgrid-missing-data", event_grid_event(data=...), ("data",)),
    Bad("eventgrid-data-is-a-list", event_grid_event(data=[event_doc()]), ("data",)),
    Bad("eventgrid-dataVersion-number", event_grid_event(dataVersion=1), ("dataVersion",)),
    Bad("eventgrid-bad-id", event_grid_event(id="eg 5c1d"), ("id",)),
    Bad("eventgrid-missing-id", event_grid_event(id=...), ("id",)),
    Bad(
        "eventgrid-bad-data-fields",
        event_grid_event(data=event_doc(eventId=..., customerTenantId="x", dateAgreed="2026-11-20")),
        ("data.customerTenantId", "data.dateAgreed"),
    ),
    # --- neither a bare event nor a supported envelope: one error naming the supported forms
    Bad("array-of-event-grid-events", dumps([event_grid_event()]), ("body",)),
    Bad("cloudevent-without-specversion", cloud_event(specversion=...), ("body",)),
    Bad("only-data", {"data": event_doc()}, ("body",)),
    Bad("only-envelope-members", {"id": "x", "subject": "y", "topic": "z"}, ("body",)),
    Bad("bare-event-with-an-envelope-member", event_doc(source="/crm"), ("source",)),
    Bad("cloudevent-missing-id", cloud_event(id=...), ("id",)),
    Bad("cloudevent-id-with-spaces", cloud_event(id="ce 7f3a"), ("id",)),
    Bad("cloudevent-id-over-128-chars", cloud_event(id="c" * (MAX_ID_CHARS + 1)), ("id",)),
    Bad("cloudevent-id-is-a-number", cloud_event(id=7), ("id",)),
    Bad(
        "cloudevent-bad-id-and-bad-data-eventId",
        cloud_event(data=event_doc(eventId="crm 42"), id="ce 7f3a"),
        ("id", "data.eventId"),
    ),
    Bad(
        "cloudevent-data-with-bad-fields",
        cloud_event(
            data={**event_with_contact(email="zephyrine@@example.com"), "eventId": "crm 42", "customerTenantId": "x"}
        ),
        ("data.eventId", "data.customerTenantId", "data.primaryContact.email"),
    ),
    Bad(
        "cloudevent-data-missing-contact",
        cloud_event(data=event_doc(eventId=..., primaryContact=...)),
        ("data.primaryContact",),
    ),
    Bad(
        "cloudevent-bad-envelope-and-bad-data",
        cloud_event(type="other", data=event_doc(dateAgreed="2026-11-20")),
        ("type", "data.dateAgreed"),
    ),
)


def _strings_under_personal_keys(doc: object) -> Iterator[str]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in PERSONAL_KEYS and isinstance(value, str):
                yield value
            else:
                yield from _strings_under_personal_keys(value)
    elif isinstance(doc, list):
        for item in doc:
            yield from _strings_under_personal_keys(item)


def personal_values(case: Bad) -> set[str]:
    """Every name, email and phone the input carries (plus the fixtures' own), worth searching for."""
    found = {FIRST, LAST, EMAIL, PHONE, *case.extra_personal}
    doc: object = case.raw
    if isinstance(doc, bytes):
        try:
            doc = doc.decode("utf-8")
        except UnicodeDecodeError:
            doc = None
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except (ValueError, RecursionError):
            doc = None
    found.update(_strings_under_personal_keys(doc))
    # Whitespace-only or one-letter values cannot be searched for meaningfully; "555" alone is too common.
    return {value.strip() for value in found if len(value.strip()) >= 4}


def rejection(raw: bytes | str | dict[str, Any]) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(raw)
    return caught.value


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD])
def test_bad_event_names_failing_fields(case: Bad) -> None:
    """A bad event raises InvalidEventError naming exactly (or, where the row says so, at least) its bad fields."""
    reported = {e.field for e in rejection(case.raw).errors}
    if case.exact:
        assert reported == set(case.fields)
    else:
        assert set(case.fields) <= reported, case.why


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD])
def test_bad_event_reasons_are_readable(case: Bad) -> None:
    """Every reported field comes with a short human sentence, not pydantic's raw message or error code."""
    error = rejection(case.raw)
    assert error.errors
    for item in error.errors:
        assert item.field
        assert len(item.reason) >= 8
        assert "(string_" not in item.reason
        assert "is not valid (" not in item.reason  # the fallback for an unmapped pydantic error type
        assert "Input should" not in item.reason
        assert "pydantic" not in item.reason.lower()
    assert str(error) == "; ".join(f"{e.field}: {e.reason}" for e in error.errors)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD])
def test_bad_event_error_echoes_no_personal_data(case: Bad) -> None:
    """The error text never contains a name, email or phone number from the input."""
    text = str(rejection(case.raw)).casefold()
    for value in personal_values(case):
        assert value.casefold() not in text


def test_bad_table_is_large_enough() -> None:
    """The table keeps at least 45 distinct bad events with unique ids."""
    assert len(BAD) >= 45
    assert len({c.id for c in BAD}) == len(BAD)


def test_every_failing_field_is_listed_at_once() -> None:
    """An event with many problems reports every one of them in a single error, in field order."""
    event = {
        "eventId": "crm 42",
        "customerTenantId": "not-a-guid",
        "dateAgreed": "2026-11-20",
        "primaryContact": {
            "firstName": " ",
            "lastName": LAST * 10,
            "email": "zephyrine@@example.com",
            "phoneNumber": "CALL",
        },
        "agreementType": "MicrosoftPartnerAgreement",
        "correlationId": "a b",
        "templateId": "latest",
        "dateAgred": "2026-11-20T09:30:00Z",
    }
    error = rejection(dumps(event))
    assert [e.field for e in error.errors] == [
        "eventId",
        "customerTenantId",
        "dateAgreed",
        "primaryContact.firstName",
        "primaryContact.lastName",
        "primaryContact.email",
        "primaryContact.phoneNumber",
        "agreementType",
        "correlationId",
        "templateId",
        "dateAgred",
    ]
    assert LAST.casefold() not in str(error).casefold()


UNSUPPORTED_FORMS = {
    "cloudevents-0.3": cloud_event(specversion="0.3"),
    "array": [event_doc()],
    "string": "crm-42",
    "null": None,
    "cloudevent-without-specversion": cloud_event(specversion=...),
    "unknown-envelope": {"id": "x", "type": "mca.customer.signed.v1", "data": event_doc(), "time": "now"},
}


@pytest.mark.parametrize("doc", UNSUPPORTED_FORMS.values(), ids=UNSUPPORTED_FORMS.keys())
def test_unsupported_form_gets_one_error_naming_the_supported_forms(doc: object) -> None:
    """A body that is no supported form gets one body error naming the forms, not a list of unknown fields."""
    error = rejection(dumps(doc))

    assert [e.field for e in error.errors] == ["body"]
    for form in ("bare contract v1 event", "CloudEvents 1.0", "Event Grid"):
        assert form in error.errors[0].reason


def test_size_limits_are_the_documented_ones() -> None:
    """The limits docs/event-contract.md quotes are the ones the parser enforces."""
    assert (MAX_BODY_BYTES, MAX_NAME_CHARS, MAX_EMAIL_CHARS, MAX_PHONE_CHARS, MAX_ID_CHARS) == (
        65536,
        100,
        254,
        32,
        128,
    )


# Whitespace and Unicode format characters (category Cf), alone or mixed: all render as nothing.
INVISIBLE_NAMES = {
    "zwsp": "\u200b",
    "zwnj": "\u200c",
    "zwj": "\u200d",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
    "lrm-rlm": "\u200e\u200f",
    "bidi-overrides": "\u202a\u202b\u202c\u202d\u202e",
    "bidi-isolates": "\u2066\u2067\u2068\u2069",
    "arabic-letter-mark": "\u061c",
    "soft-hyphen": "\u00ad",
    "tag-characters": "\U000e0041\U000e007f",
    "mixed-with-spaces": " \u200b\u00a0\ufeff\t\u2060 ",
}


@pytest.mark.parametrize("name", INVISIBLE_NAMES.values(), ids=INVISIBLE_NAMES.keys())
def test_invisible_only_name_is_empty(name: str) -> None:
    """A name made only of whitespace and format (Cf) characters is refused as empty."""
    error = rejection(event_with_contact(firstName=name, lastName=name))

    assert [(e.field, e.reason) for e in error.errors] == [
        ("primaryContact.firstName", "must not be empty"),
        ("primaryContact.lastName", "must not be empty"),
    ]


@pytest.mark.parametrize("char", ["\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u200f"])
def test_bidi_control_inside_name_is_refused(char: str) -> None:
    """A bidi control inside a name (which could make it display as another name) is a field-level error."""
    error = rejection(event_with_contact(firstName=f"Zephy{char}rine"))

    assert [(e.field, e.reason) for e in error.errors] == [
        ("primaryContact.firstName", "must not contain invisible format characters such as bidi controls")
    ]


def test_name_at_limit_is_accepted_and_one_over_is_not() -> None:
    """A 100-character name passes; 101 characters fail on that field."""
    parse_event(event_with_contact(firstName="Z" * MAX_NAME_CHARS))
    error = rejection(event_with_contact(firstName="Z" * (MAX_NAME_CHARS + 1)))
    assert [(e.field, e.reason) for e in error.errors] == [
        ("primaryContact.firstName", "must be at most 100 characters")
    ]


# --- the unknown-templateId rule, through the use case -------------------------------------------------


async def test_unknown_template_id_is_dead_lettered_without_a_call() -> None:
    """An override templateId that the metadata does not list dead-letters as InvalidEvent naming templateId."""
    attestation, metadata = FakeAttestation(), FakeMetadata()
    body = dumps(event_doc(templateId="9d0c6a57-1b2e-4f3a-8c4d-5e6f7a8b9c0d"))

    outcome = await Attestor(attestation, metadata).attest_body(body)

    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.INVALID_EVENT
    assert "templateId" in outcome.description
    assert outcome.event_id == "crm-42"
    assert attestation.requests == []
    assert metadata.asked == [MCA]


async def test_known_template_id_in_other_case_is_posted() -> None:
    """An override templateId the metadata lists (in any letter case) is posted, canonicalised to lowercase."""
    attestation = FakeAttestation()
    body = dumps(event_doc(templateId=CURRENT_TEMPLATE.upper()))

    outcome = await Attestor(attestation, FakeMetadata()).attest_body(body)

    assert not isinstance(outcome, DeadLetter)
    assert [request.template_id for request in attestation.requests] == [CURRENT_TEMPLATE]


async def test_invalid_body_is_dead_lettered_without_metadata_or_call() -> None:
    """A body failing the contract dead-letters as InvalidEvent listing the field, echoing no personal data."""
    attestation, metadata = FakeAttestation(), FakeMetadata()
    body = dumps(event_with_contact(email="zephyrine@@example.com"))

    outcome = await Attestor(attestation, metadata).attest_body(body)

    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.INVALID_EVENT
    assert "primaryContact.email" in outcome.description
    assert "zephyrine" not in outcome.description.casefold()
    assert (attestation.requests, metadata.asked) == ([], [])


READABLE_IDS = {
    "bare-bad-email": (dumps(event_with_contact(email="zephyrine@@example.com")), "crm-42"),
    "bare-duplicate-key": (with_duplicate_key(event_doc(), "customerTenantId", TENANT), "crm-42"),
    "cloudevent-envelope-id": (cloud_event(data=event_doc(eventId=..., dateAgreed="2026-11-20")), "ce-7f3a"),
    "cloudevent-data-eventId": (cloud_event(type="other", data=event_doc(eventId="crm-9")), "crm-9"),
    "eventgrid-envelope-id": (event_grid_event(subject=...), "eg-5c1d"),
    "data-base64-eventId": (with_data_base64(cloud_event(data=event_doc(dateAgreed="x"))), "crm-42"),
    "eventId-breaks-the-id-rule": (event_doc(eventId=f"{EMAIL} 42", dateAgreed="x"), ""),
    "eventId-not-a-string": (event_doc(eventId=42), ""),
    "not-json": (b"{", ""),
}


@pytest.mark.parametrize(("raw", "event_id"), READABLE_IDS.values(), ids=READABLE_IDS.keys())
def test_invalid_event_error_carries_the_readable_event_id(raw: bytes | str | dict[str, Any], event_id: str) -> None:
    """InvalidEventError.event_id is the body's event id when it follows the eventId rule, else ""."""
    assert rejection(raw).event_id == event_id


async def test_invalid_event_is_logged_with_its_event_id(caplog: pytest.LogCaptureFixture) -> None:
    """An invalid body with a readable eventId dead-letters and is logged (once, by the host) under that event id."""
    attestation, metadata = FakeAttestation(), FakeMetadata()
    body = dumps(event_with_contact(email="zephyrine@@example.com"))

    with caplog.at_level(logging.INFO, logger="shared.attestation"):
        outcome = (await process_with(Attestor(attestation, metadata), body.encode())).outcome

    assert isinstance(outcome, DeadLetter)
    assert outcome.event_id == "crm-42"
    assert [getattr(r, "event_id", None) for r in caplog.records] == ["crm-42"]
