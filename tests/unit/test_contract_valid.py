"""Good events: what ``parse_event`` accepts and how it normalises what it accepts."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.attestation.contract import InvalidEventError, SignedAgreementEvent, parse_event
from shared.attestation.ports import AttestationRequest
from shared.partner_center.agreement_attestation import agreement_request_for
from shared.partner_center.agreement_request import derive_request_id
from tests.builders import EMAIL, FIRST, LAST, PHONE, TEMPLATE, TENANT, cloud_event, event_doc, event_grid_event


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda doc: json.dumps(doc).encode(), id="bytes"),
        pytest.param(json.dumps, id="text"),
        pytest.param(lambda doc: doc, id="mapping"),
    ],
)
def test_good_event_parses_from_bytes_text_or_mapping(encode: Any) -> None:
    """A valid event parses the same from UTF-8 bytes, text or an already-decoded mapping."""
    event = parse_event(encode(event_doc(correlationId="corr-1", templateId=TEMPLATE)))

    assert isinstance(event, SignedAgreementEvent)
    assert event.event_id == "crm-42"
    assert event.customer_tenant_id == TENANT
    assert event.date_agreed == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert event.primary_contact.first_name == FIRST
    assert event.primary_contact.last_name == LAST
    assert event.primary_contact.email == EMAIL
    assert event.primary_contact.phone_number == PHONE
    assert event.correlation_id == "corr-1"
    assert event.template_id == TEMPLATE


def test_optional_fields_may_be_absent_or_null() -> None:
    """phoneNumber, correlationId and templateId are optional and may be null."""
    contact = {"firstName": FIRST, "lastName": LAST, "email": EMAIL}
    absent = parse_event(event_doc(primaryContact=contact))
    null = parse_event(event_doc(primaryContact={**contact, "phoneNumber": None}, correlationId=None, templateId=None))

    for event in (absent, null):
        assert (event.primary_contact.phone_number, event.correlation_id, event.template_id) == (None, None, None)


@pytest.mark.parametrize("blank", ["", " ", "\t \u00a0", "\u200b"])
def test_blank_phone_number_means_absent(blank: str) -> None:
    """An optional phoneNumber sent as "" or whitespace (or invisible characters) only is treated as absent."""
    contact = {"firstName": FIRST, "lastName": LAST, "email": EMAIL, "phoneNumber": blank}

    event = parse_event(event_doc(primaryContact=contact))

    assert event.primary_contact.phone_number is None


@pytest.mark.parametrize(
    ("date_agreed", "expected_utc"),
    [
        pytest.param("2026-11-20T09:30:00+01:00", datetime(2026, 11, 20, 8, 30, tzinfo=UTC), id="plus-one-hour"),
        pytest.param("2026-11-20T09:30:00-05:00", datetime(2026, 11, 20, 14, 30, tzinfo=UTC), id="minus-five-hours"),
        pytest.param("2026-11-20T00:30:00+05:30", datetime(2026, 11, 19, 19, 0, tzinfo=UTC), id="crosses-midnight"),
        pytest.param("2026-11-20T09:30:00.250Z", datetime(2026, 11, 20, 9, 30, 0, 250_000, tzinfo=UTC), id="millis-z"),
    ],
)
def test_date_agreed_is_normalised_to_utc(date_agreed: str, expected_utc: datetime) -> None:
    """dateAgreed with any offset is stored as the same instant in UTC."""
    event = parse_event(event_doc(dateAgreed=date_agreed))

    assert event.date_agreed == expected_utc
    assert event.date_agreed.tzinfo is UTC


def test_date_within_clock_skew_is_accepted() -> None:
    """A dateAgreed up to five minutes ahead of our clock (here one minute) is accepted."""
    ahead = datetime.now(UTC) + timedelta(minutes=1)

    event = parse_event(event_doc(dateAgreed=ahead.isoformat()))

    assert event.date_agreed == ahead


@pytest.mark.parametrize(
    "tenant",
    [
        pytest.param("3FA85F64-5717-4562-B3FC-2C963F66AFA6", id="upper-case"),
        pytest.param("3Fa85f64-5717-4562-B3fc-2C963f66afA6", id="mixed-case"),
        pytest.param("{3fa85f64-5717-4562-b3fc-2c963f66afa6}", id="braces"),
        pytest.param("3fa85f6457174562b3fc2c963f66afa6", id="no-hyphens"),
        pytest.param("  3fa85f64-5717-4562-b3fc-2c963f66afa6 ", id="surrounding-spaces"),
    ],
)
def test_guid_is_normalised_to_lowercase_canonical(tenant: str) -> None:
    """customerTenantId and templateId are stored as lowercase hyphenated GUIDs whatever form they came in."""
    event = parse_event(event_doc(customerTenantId=tenant, templateId=tenant))

    assert event.customer_tenant_id == TENANT
    assert event.template_id == TENANT


def test_default_agreement_type_is_mca() -> None:
    """Without agreementType the event is a Microsoft Customer Agreement."""
    assert parse_event(event_doc()).agreement_type == "MicrosoftCustomerAgreement"


def test_microsoft_cloud_agreement_is_allowed() -> None:
    """agreementType MicrosoftCloudAgreement is accepted as is."""
    event = parse_event(event_doc(agreementType="MicrosoftCloudAgreement"))

    assert event.agreement_type == "MicrosoftCloudAgreement"


def test_names_and_phone_are_trimmed() -> None:
    """Surrounding whitespace is removed from names and the phone number."""
    event = parse_event(
        event_doc(
            primaryContact={
                "firstName": f" {FIRST}\t",
                "lastName": f"{LAST} ",
                "email": EMAIL,
                "phoneNumber": f" {PHONE} ",
            }
        )
    )

    assert (event.primary_contact.first_name, event.primary_contact.last_name) == (FIRST, LAST)
    assert event.primary_contact.phone_number == PHONE


def test_names_may_use_any_script() -> None:
    """Names with accents, apostrophes, hyphens and non-Latin scripts are kept unchanged."""
    contact = {"firstName": "Zoë-Anne", "lastName": "O'Brien 山田", "email": EMAIL}

    event = parse_event(event_doc(primaryContact=contact))

    assert (event.primary_contact.first_name, event.primary_contact.last_name) == ("Zoë-Anne", "O'Brien 山田")


def test_joiners_inside_a_name_are_kept() -> None:
    """Zero-width (non-)joiners, which some scripts need for correct spelling, are kept inside a name."""
    contact = {"firstName": "مهر\u200cناز", "lastName": "क्\u200dष", "email": EMAIL}

    event = parse_event(event_doc(primaryContact=contact))

    assert (event.primary_contact.first_name, event.primary_contact.last_name) == ("مهر\u200cناز", "क्\u200dष")


def test_invisible_characters_around_a_name_are_trimmed() -> None:
    """Format characters at either end of a name (a BOM, a zero-width space, a mark) are trimmed like spaces."""
    contact = {"firstName": f"\ufeff{FIRST}\u200b", "lastName": f"\u200e {LAST}\u2060", "email": EMAIL}

    event = parse_event(event_doc(primaryContact=contact))

    assert (event.primary_contact.first_name, event.primary_contact.last_name) == (FIRST, LAST)


def test_nfd_and_nfc_spellings_give_the_same_request() -> None:
    """Names and email in NFD or NFC parse to NFC, so both give the same POST body and MS-RequestId."""
    contact = {"firstName": "Zoë-Anne", "lastName": "Ångström Nguyễn", "email": "zoë.ångström@bücher.example.com"}
    spellings = [{key: unicodedata.normalize(form, value) for key, value in contact.items()} for form in ("NFC", "NFD")]
    assert spellings[0] != spellings[1]

    events = [parse_event(json.dumps(event_doc(primaryContact=spelling))) for spelling in spellings]
    requests = [agreement_request_for(AttestationRequest(event, TEMPLATE, "")) for event in events]

    assert events[0] == events[1]
    assert events[1].primary_contact.first_name == contact["firstName"]
    assert requests[0].body() == requests[1].body()
    assert requests[0].canonical_bytes() == requests[1].canonical_bytes()
    assert derive_request_id("crm-42", requests[0]) == derive_request_id("crm-42", requests[1])


def test_cloud_event_takes_event_id_from_envelope_id() -> None:
    """A CloudEvents envelope whose data has no eventId uses the envelope `id` as the event id."""
    event = parse_event(json.dumps(cloud_event(data=event_doc(eventId=...))))

    assert event.event_id == "ce-7f3a"
    assert event.customer_tenant_id == TENANT
    assert event.primary_contact.email == EMAIL


def test_cloud_event_prefers_event_id_from_data() -> None:
    """A CloudEvents envelope whose data carries eventId keeps the data's eventId."""
    event = parse_event(json.dumps(cloud_event(data=event_doc(eventId="crm-42"))))

    assert event.event_id == "crm-42"


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8", "APPLICATION/json ; x=1"],
)
def test_cloud_event_accepts_json_content_type_with_parameters(content_type: str) -> None:
    """datacontenttype application/json is accepted in any case and with parameters such as charset=utf-8."""
    event = parse_event(cloud_event(data=event_doc(eventId=...), datacontenttype=content_type))

    assert event.event_id == "ce-7f3a"


@pytest.mark.parametrize(
    ("payload", "event_id"),
    [
        pytest.param(event_doc(eventId=...), "ce-7f3a", id="id-from-envelope"),
        pytest.param(event_doc(), "crm-42", id="id-from-data"),
    ],
)
def test_cloud_event_with_data_base64(payload: dict[str, Any], event_id: str) -> None:
    """A CloudEvent carrying the payload as data_base64 (base64 of its UTF-8 JSON) parses like one with data."""
    envelope = cloud_event(data=payload, datacontenttype="application/json; charset=utf-8")
    del envelope["data"]
    envelope["data_base64"] = base64.b64encode(json.dumps(payload, ensure_ascii=False).encode()).decode()

    event = parse_event(json.dumps(envelope).encode())

    assert event.event_id == event_id
    assert event.customer_tenant_id == TENANT
    assert event.primary_contact.email == EMAIL


@pytest.mark.parametrize(
    ("payload", "event_id"),
    [
        pytest.param(event_doc(eventId=...), "eg-5c1d", id="id-from-envelope"),
        pytest.param(event_doc(), "crm-42", id="id-from-data"),
    ],
)
def test_event_grid_event_parses(payload: dict[str, Any], event_id: str) -> None:
    """An Event Grid schema event of type mca.customer.signed.v1 parses; data.eventId wins over its id."""
    event = parse_event(json.dumps(event_grid_event(data=payload)).encode())

    assert event.event_id == event_id
    assert event.customer_tenant_id == TENANT
    assert event.primary_contact.first_name == FIRST


def test_event_grid_optional_members_may_be_absent() -> None:
    """An Event Grid event without topic, dataVersion and metadataVersion (as published) parses."""
    envelope = event_grid_event(data=event_doc(eventId=...))
    for member in ("topic", "dataVersion", "metadataVersion"):
        del envelope[member]

    assert parse_event(envelope).event_id == "eg-5c1d"


def test_cloud_event_extension_attributes_are_ignored() -> None:
    """Extra CloudEvents attributes (time, subject, extensions) and a missing datacontenttype are fine."""
    envelope = cloud_event(data=event_doc(eventId=...), time="2026-11-20T09:31:00Z", subject=TENANT, traceparent="00-x")
    del envelope["datacontenttype"]

    assert parse_event(envelope).event_id == "ce-7f3a"


def test_repr_hides_contact_details() -> None:
    """repr and str of an event show ids and the date but no name, email or phone number."""
    event = parse_event(event_doc())

    for text in (repr(event), str(event), repr(event.primary_contact), str(event.primary_contact)):
        for personal in (FIRST, LAST, EMAIL, PHONE, "zephyrine", "555"):
            assert personal not in text
    assert "crm-42" in repr(event)


def test_event_is_frozen() -> None:
    """A parsed event cannot be changed after validation."""
    event = parse_event(event_doc())

    with pytest.raises(ValidationError):
        event.event_id = "other"  # type: ignore[misc]  # the frozen model refusing this is what is pinned


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "events.jsonl"
# eventId → the field examples/README.md says the line fails on; every other line is valid.
INVALID_EXAMPLES = {
    "crm-2026-0009": "primaryContact.email",
    "crm-2026-0010": "customerTenantId",
    "crm-2026-0011": "dateAgreed",
}


def test_example_events_parse_as_documented() -> None:
    """Each line of examples/events.jsonl is valid, or fails on the one field examples/README.md names."""
    outcomes: list[tuple[str, str]] = []
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        event_id = doc.get("eventId") or doc["id"]
        try:
            parse_event(line)
        except InvalidEventError as exc:
            outcomes.append((event_id, ",".join(e.field for e in exc.errors)))
        else:
            outcomes.append((event_id, "valid"))

    assert 12 <= len(outcomes) <= 20
    assert {eid: fields for eid, fields in outcomes if fields != "valid"} == INVALID_EXAMPLES
    assert len(outcomes) - len(dict(outcomes)) == 1  # exactly one duplicated eventId


@pytest.mark.parametrize("wrap", [bytearray, memoryview], ids=["bytearray", "memoryview"])
def test_a_body_as_bytearray_or_memoryview_parses_like_bytes(wrap: Any) -> None:
    """Hosts may hand the body over as a bytearray or memoryview: it parses exactly like bytes."""
    body = json.dumps(event_doc()).encode()
    assert parse_event(wrap(body)) == parse_event(body)
