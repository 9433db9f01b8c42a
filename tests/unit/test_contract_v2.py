"""Contract v2 ("MCA acceptance requested"): parsing, routing by contract, field-level errors, the committed schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.attestation.contract import InvalidEventError, SignedAgreementEvent, parse_event
from shared.attestation.contract.codes import ISO_639_1, ISO_3166_1_ALPHA_2
from shared.attestation.contract.schema import render_v2
from shared.attestation.contract.v2 import (
    EVENT_TYPE_V2,
    AcceptanceRequestedEvent,
    event_v2_json_schema,
    parse_acceptance_requested,
    parse_any_event,
)
from tests.builders import (
    COMPANY,
    EMAIL,
    EVENT_ID,
    FIRST,
    LAST,
    PHONE,
    TENANT,
    acceptance_requested_doc,
    as_body,
    cloud_event,
    event_doc,
    event_grid_event,
    signatory,
)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "event-schema.v2.json"
PERSONAL = (FIRST, LAST, EMAIL, PHONE, COMPANY)


def _errors(doc: Any) -> dict[str, str]:
    with pytest.raises(InvalidEventError) as caught:
        parse_any_event(doc)
    return {error.field: error.reason for error in caught.value.errors}


def _v2_payload() -> dict[str, Any]:
    return acceptance_requested_doc(contractVersion=..., eventId=...)


# --- good input -------------------------------------------------------------------------------------------------


def test_bare_v2_event_parses_with_every_field() -> None:
    """A bare event with contractVersion 2 becomes an AcceptanceRequestedEvent carrying every field."""
    event = parse_any_event(as_body(acceptance_requested_doc(correlationId="crm-batch-1")))

    assert isinstance(event, AcceptanceRequestedEvent)
    assert (event.event_id, event.customer_tenant_id, event.correlation_id) == (EVENT_ID, TENANT, "crm-batch-1")
    assert (event.country, event.language, event.company_name) == ("DE", "de-DE", COMPANY)
    assert (event.signatory.first_name, event.signatory.last_name) == (FIRST, LAST)
    assert (str(event.signatory.email), event.signatory.phone_number) == (EMAIL, PHONE)


def test_codes_are_normalised_to_canonical_case() -> None:
    """Country becomes upper case; a language tag becomes language-Script-REGION; whitespace is trimmed."""
    event = parse_acceptance_requested(acceptance_requested_doc(country=" at ", language="ZH-hant-tw"))

    assert (event.country, event.language) == ("AT", "zh-Hant-TW")


@pytest.mark.parametrize("language", ["en", "pt-BR", "es-419", "sr-Latn", "nb-NO"])
def test_language_tags_of_iso_639_1_are_accepted(language: str) -> None:
    """A bare ISO 639-1 code, or one with a script, a country or a UN M.49 region, is a valid language."""
    assert parse_acceptance_requested(acceptance_requested_doc(language=language)).language == language


def test_phone_is_optional() -> None:
    """A signatory without phoneNumber (or with a blank one) is valid, and the phone is absent."""
    without = parse_acceptance_requested(acceptance_requested_doc(signatory=signatory(phoneNumber=...)))
    blank = parse_acceptance_requested(acceptance_requested_doc(signatory=signatory(phoneNumber="  ")))

    assert without.signatory.phone_number is None
    assert blank.signatory.phone_number is None


def test_cloud_event_of_type_v2_is_routed_to_contract_v2() -> None:
    """A CloudEvent of type mca.acceptance.requested.v2 is v2; its id stands in for eventId and no marker is needed."""
    event = parse_any_event(cloud_event(type=EVENT_TYPE_V2, data=_v2_payload()))

    assert isinstance(event, AcceptanceRequestedEvent)
    assert event.event_id == "ce-7f3a"


def test_event_grid_event_of_type_v2_is_routed_to_contract_v2() -> None:
    """An Event Grid event whose eventType is the v2 type is parsed as contract v2."""
    event = parse_any_event(event_grid_event(eventType=EVENT_TYPE_V2, data=_v2_payload()))

    assert isinstance(event, AcceptanceRequestedEvent)
    assert event.event_id == "eg-5c1d"


def test_v1_events_are_still_routed_to_contract_v1() -> None:
    """A bare v1 event and v1 envelopes parse through the router exactly as parse_event parses them."""
    for doc in (event_doc(), cloud_event(), event_grid_event()):
        assert parse_any_event(doc) == parse_event(doc)
        assert isinstance(parse_any_event(doc), SignedAgreementEvent)


def test_the_repr_shows_no_personal_data() -> None:
    """Names, email, phone and company name are kept out of the event's repr."""
    text = repr(parse_acceptance_requested(acceptance_requested_doc()))

    assert not [value for value in PERSONAL if value in text]


# --- bad input --------------------------------------------------------------------------------------------------


def test_every_missing_field_is_reported() -> None:
    """An empty v2 event names each required field, including those of the signatory."""
    errors = _errors({"contractVersion": 2, "signatory": {}})

    assert set(errors) == {
        *("eventId", "customerTenantId", "country", "language", "companyName"),
        *("signatory.firstName", "signatory.lastName", "signatory.email"),
    }
    assert set(errors.values()) == {"is required"}


@pytest.mark.parametrize("country", ["UK", "XK", "EU", "ZZ", "DEU", "D", "", "276"])
def test_unknown_country_codes_are_refused(country: str) -> None:
    """A code that is not an assigned ISO 3166-1 alpha-2 country (UK, XK, EU…) is refused with the rule."""
    assert _errors(acceptance_requested_doc(country=country)) == {
        "country": "must be an ISO 3166-1 alpha-2 country code such as DE or US (GB, not UK)"
    }


@pytest.mark.parametrize("language", ["xx", "eng", "english", "en_US", "en-XX", "de-", "", "en-US-x-private"])
def test_unknown_language_tags_are_refused(language: str) -> None:
    """A tag that is not an ISO 639-1 code with an optional script and region is refused."""
    errors = _errors(acceptance_requested_doc(language=language))

    assert list(errors) == ["language"]
    assert errors["language"].startswith("must be a language tag")


def test_mis_typed_fields_are_reported_by_field() -> None:
    """Numbers, lists and strings where another type belongs are each reported on their own path."""
    doc = acceptance_requested_doc(country=49, language=["de"], companyName=7, signatory="someone")

    assert _errors(doc) == {
        "country": "must be a string",
        "language": "must be a string",
        "companyName": "must be a string",
        "signatory": "must be an object",
    }


def test_unknown_fields_are_not_fields_of_contract_v2() -> None:
    """An unknown member, at the top or in the signatory, is named as not a field of contract v2."""
    doc = acceptance_requested_doc(dateAgreed="2026-11-20T09:30:00Z", signatory=signatory(title="CFO"))

    assert _errors(doc) == {
        "dateAgreed": "is not a field of contract v2",
        "signatory.title": "is not a field of contract v2",
    }


def test_a_wrong_contract_version_is_refused() -> None:
    """contractVersion other than the number 2 (1, "2", true) is refused: v1 events leave it out."""
    for version in (1, "2", True, None):
        assert _errors(acceptance_requested_doc(contractVersion=version)) == {
            "contractVersion": "must be 2 (contract v2), or left out for contract v1"
        }


def test_an_unknown_envelope_type_names_both_contracts() -> None:
    """A CloudEvent or Event Grid event of another type is refused naming both known types, with its id."""
    with pytest.raises(InvalidEventError) as caught:
        parse_any_event(cloud_event(type="mca.acceptance.requested.v3", data=_v2_payload()))

    assert [str(e) for e in caught.value.errors] == [
        "type: must be one of ['mca.customer.signed.v1', 'mca.acceptance.requested.v2']"
    ]
    assert caught.value.event_id == "ce-7f3a"
    assert list(_errors(event_grid_event(eventType="other", data=_v2_payload()))) == ["eventType"]


def test_errors_inside_an_envelope_carry_the_data_prefix() -> None:
    """A bad v2 payload in a CloudEvent is reported as data.<field>, like v1."""
    errors = _errors(cloud_event(type=EVENT_TYPE_V2, data={**_v2_payload(), "country": "UK"}))

    assert list(errors) == ["data.country"]


def test_parse_acceptance_requested_refuses_a_v1_envelope() -> None:
    """The v2 parser checks the envelope type: a v1 CloudEvent is refused by its type attribute."""
    with pytest.raises(InvalidEventError) as caught:
        parse_acceptance_requested(cloud_event(data=_v2_payload()))

    assert [e.field for e in caught.value.errors] == ["type"]


def test_errors_never_echo_personal_data() -> None:
    """Reasons for bad names, email, phone and company name name the rule, never the value sent."""
    doc = acceptance_requested_doc(
        companyName=COMPANY[:5] + "\u202e" + COMPANY[5:],
        signatory=signatory(
            firstName=FIRST[:3] + "\n" + FIRST[3:], lastName=LAST * 9, email=EMAIL + "@", phoneNumber=PHONE + "x"
        ),
        country=FIRST[:2],
    )
    with pytest.raises(InvalidEventError) as caught:
        parse_any_event(doc)

    message = str(caught.value)
    assert len(caught.value.errors) == 6
    assert not [value for value in PERSONAL if value in message]


def test_company_name_follows_the_name_rules() -> None:
    """A company name made only of invisible characters is empty; control characters inside are refused."""
    assert _errors(acceptance_requested_doc(companyName="\u200b ")) == {"companyName": "must not be empty"}
    assert _errors(acceptance_requested_doc(companyName="A\tB")) == {
        "companyName": "must not contain control characters"
    }


# --- the code lists and the schema ------------------------------------------------------------------------------


def test_code_lists_have_the_iso_sizes() -> None:
    """249 assigned ISO 3166-1 alpha-2 countries and 184 ISO 639-1 languages, in their canonical case."""
    assert len(ISO_3166_1_ALPHA_2) == 249
    assert len(ISO_639_1) == 184
    assert all(code.isupper() and len(code) == 2 for code in ISO_3166_1_ALPHA_2)
    assert all(code.islower() and len(code) == 2 for code in ISO_639_1)
    assert {"GB", "DE", "US", "SS", "CW"} <= ISO_3166_1_ALPHA_2
    assert not {"UK", "XK", "EU", "AN"} & ISO_3166_1_ALPHA_2  # user-assigned, reserved, or withdrawn


def test_committed_v2_schema_matches_contract() -> None:
    """docs/event-schema.v2.json is exactly what shared.attestation.contract.v2 generates today."""
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_v2(), (
        "docs/event-schema.v2.json is stale; regenerate it with: "
        ".venv/bin/python -m shared.attestation.contract.schema v2 > docs/event-schema.v2.json"
    )


def test_v2_schema_states_required_fields_and_codes() -> None:
    """The v2 schema requires the marker and fields, forbids unknown ones and lists the country codes."""
    schema = event_v2_json_schema()

    assert schema["required"] == [
        *("contractVersion", "eventId", "customerTenantId", "country", "language", "companyName", "signatory")
    ]
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Signatory"]["required"] == ["firstName", "lastName", "email"]
    assert schema["properties"]["contractVersion"]["const"] == 2
    assert schema["properties"]["country"]["enum"] == sorted(ISO_3166_1_ALPHA_2)
    assert json.loads(render_v2()) == schema


V2_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "acceptance-requests.jsonl"


def test_example_acceptance_requests_parse_as_documented() -> None:
    """Each line of examples/acceptance-requests.jsonl is valid, or fails on the field examples/README.md names."""
    outcomes = {}
    for line in V2_EXAMPLES.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        event_id = doc.get("eventId") or doc["id"]
        try:
            event = parse_any_event(line)
        except InvalidEventError as exc:
            outcomes[event_id] = ",".join(error.field for error in exc.errors)
        else:
            assert isinstance(event, AcceptanceRequestedEvent)
            outcomes[event_id] = "valid"
    assert outcomes == {
        "crm-2026-0101": "valid",
        "crm-2026-0102": "valid",
        "crm-2026-0103": "valid",
        "crm-2026-0104": "country",
        "crm-2026-0105": "signatory.email",
    }
