"""Properties of ``parse_event``: total over any input, faithful on valid events, precise on broken ones."""

from __future__ import annotations

import contextlib
import json
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.attestation.contract import (
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    InvalidEventError,
    SignedAgreementEvent,
    parse_event,
)

# Modest example counts: the whole module stays well under ten seconds.
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIELDS = (
    "eventId",
    "customerTenantId",
    "dateAgreed",
    "primaryContact",
    "agreementType",
    "correlationId",
    "templateId",
    "specversion",
    "id",
    "type",
    "source",
    "data",
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(FIELDS) | st.text(max_size=12)
json_objects = st.dictionaries(field_names, json_values, max_size=8)


def parse_outcome(raw: bytes | str | dict[str, Any]) -> SignedAgreementEvent | InvalidEventError:
    """The event, or the InvalidEventError; any other exception escapes and fails the test."""
    try:
        return parse_event(raw)
    except InvalidEventError as exc:
        return exc


def parses_or_rejects(raw: bytes | str | dict[str, Any]) -> None:
    outcome = parse_outcome(raw)
    if isinstance(outcome, InvalidEventError):
        assert outcome.errors
        assert all(e.field and e.reason for e in outcome.errors)
    else:
        assert isinstance(outcome, SignedAgreementEvent)


@FAST
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_raise_invalid_event(raw: bytes) -> None:
    """Arbitrary bytes give an event or InvalidEventError, never another exception."""
    parses_or_rejects(raw)


@FAST
@given(json_values)
def test_any_json_value_parses_or_raises_invalid_event(value: object) -> None:
    """Any JSON document, as text, gives an event or InvalidEventError, never another exception."""
    parses_or_rejects(json.dumps(value))


@FAST
@given(json_objects)
def test_any_object_parses_or_raises_invalid_event(doc: dict[str, Any]) -> None:
    """Any JSON object, as a mapping or as bytes, gives an event or InvalidEventError."""
    parses_or_rejects(doc)
    parses_or_rejects(json.dumps(doc).encode())


any_offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
# The calendar's ends are where a UTC conversion can overflow; st.datetimes() alone rarely reaches them.
any_date_times = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes() | st.sampled_from([datetime.min, datetime.max]),
    st.none() | any_offsets,
)


@FAST
@given(any_date_times, st.sampled_from(["isoformat", "timestamp"]))
def test_any_date_time_parses_or_raises_invalid_event(value: datetime, form: str) -> None:
    """Any date-time from year 1 to 9999 with any offset, as text or a number, gives an event or InvalidEventError."""
    date_agreed: object = value.isoformat()
    if form == "timestamp" and value.tzinfo is not None:
        with contextlib.suppress(OverflowError):  # the calendar's ends have no timestamp: keep the text
            date_agreed = value.timestamp()
    contact = {"firstName": "Zephyrine", "lastName": "Quillfeather", "email": "zq@example.com"}
    event = {
        "eventId": "e-1",
        "customerTenantId": str(uuid.UUID(int=1)),
        "dateAgreed": date_agreed,
        "primaryContact": contact,
    }

    parses_or_rejects(json.dumps(event))


# --- valid events --------------------------------------------------------------------------------------

identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,40}", fullmatch=True)
letters = st.characters(categories=["L"])
names = st.builds(
    lambda first, rest: first + rest,
    st.text(letters, min_size=1, max_size=1),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzéøß'- "), max_size=MAX_NAME_CHARS - 2),
).map(str.strip)
emails = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,8}){0,2}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    st.sampled_from(["example.com", "contoso.com", "fabrikam.org"]),
)
phones = st.from_regex(r"\+?[1-9][0-9]{0,2}( [0-9]{3,4}){1,4}", fullmatch=True)
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
dates = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 1)),
    offsets,
)


def guid_text(value: uuid.UUID, upper: bool) -> str:
    return str(value).upper() if upper else str(value)


guids = st.builds(guid_text, st.uuids(), st.booleans())


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    contact: dict[str, Any] = {"firstName": draw(names), "lastName": draw(names), "email": draw(emails)}
    phone = draw(st.none() | phones)
    if phone is not None:
        contact["phoneNumber"] = phone
    event: dict[str, Any] = {
        "eventId": draw(identifiers),
        "customerTenantId": draw(guids),
        "dateAgreed": draw(dates).isoformat(),
        "primaryContact": contact,
    }
    for key, strategy in (
        ("agreementType", st.sampled_from(["MicrosoftCustomerAgreement", "MicrosoftCloudAgreement"])),
        ("correlationId", identifiers),
        ("templateId", guids),
    ):
        if draw(st.booleans()):
            event[key] = draw(strategy)
    return event


@FAST
@given(valid_events())
def test_valid_event_round_trips_through_json(doc: dict[str, Any]) -> None:
    """A generated valid event survives json.dumps → parse_event with equal fields (names and email in Unicode
    NFC, as the contract normalises them) and a UTC date."""
    event = parse_event(json.dumps(doc))

    contact = doc["primaryContact"]
    assert event.event_id == doc["eventId"]
    assert event.customer_tenant_id == str(uuid.UUID(doc["customerTenantId"]))
    assert event.date_agreed == datetime.fromisoformat(doc["dateAgreed"])
    assert event.date_agreed.utcoffset() == timedelta(0)
    assert event.date_agreed.tzinfo is UTC
    assert event.primary_contact.first_name == unicodedata.normalize("NFC", contact["firstName"])
    assert event.primary_contact.last_name == unicodedata.normalize("NFC", contact["lastName"])
    assert event.primary_contact.email == unicodedata.normalize("NFC", contact["email"])
    assert event.primary_contact.phone_number == contact.get("phoneNumber")
    assert event.agreement_type == doc.get("agreementType", "MicrosoftCustomerAgreement")
    assert event.correlation_id == doc.get("correlationId")
    expected_template = doc.get("templateId")
    assert event.template_id == (str(uuid.UUID(expected_template)) if expected_template else None)


# --- one field broken ------------------------------------------------------------------------------------

BREAKERS: dict[str, st.SearchStrategy[object]] = {
    "eventId": st.sampled_from(["", " ", "a b", "-lead", "x" * (MAX_ID_CHARS + 1), 42, None, ["crm-42"]]),
    "customerTenantId": st.sampled_from(["", "not-a-guid", "3fa85f64-5717-4562-b3fc", 7, None, {}]),
    "dateAgreed": st.sampled_from(
        ["", "yesterday", "2026-11-20T09:30:00", "2026-11-20", "2099-01-01T00:00:00Z", 1_763_630_000, None, []]
    ),
    "primaryContact": st.sampled_from([None, "Zephyrine", [], 3]),
    "primaryContact.firstName": st.sampled_from(["", "   ", "a\nb", "x" * (MAX_NAME_CHARS + 1), 5, None]),
    "primaryContact.lastName": st.sampled_from(["", "\t", "a\x00b", "y" * (MAX_NAME_CHARS + 1), False, None]),
    "primaryContact.email": st.sampled_from(["", "no-at-sign", "a@@b.com", "a@b", "@example.com", 1, None]),
    "primaryContact.phoneNumber": st.sampled_from(["()", "call me", "+1 555 x", "5" * 40, 5550147, []]),
    "agreementType": st.sampled_from(["", "MicrosoftPartnerAgreement", "mca", 1, None]),
    "correlationId": st.sampled_from(["", "a b", "#x", 3, []]),
    "templateId": st.sampled_from(["", "latest", 0, []]),
}


@FAST
@given(valid_events(), st.sampled_from(sorted(BREAKERS)), st.data())
def test_one_broken_field_is_the_one_reported(doc: dict[str, Any], path: str, data: st.DataObject) -> None:
    """Replacing one field of a valid event with an invalid value yields an error naming exactly that field."""
    bad = data.draw(BREAKERS[path], label=path)
    target = doc
    *parents, leaf = path.split(".")
    for parent in parents:
        target = target[parent]
    target[leaf] = bad

    with pytest.raises(InvalidEventError) as caught:
        parse_event(json.dumps(doc))

    assert [e.field for e in caught.value.errors] == [path]
