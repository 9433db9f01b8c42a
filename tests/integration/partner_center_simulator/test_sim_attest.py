"""POST /v1/customers/{id}/agreements: attestation rules, error codes and MS-RequestId replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from emulators.partner_center import (
    CLOUD_AGREEMENT,
    CLOUD_AGREEMENT_TEMPLATE_ID,
    DEFAULT_USER_ID,
    MCA,
    MCA_TEMPLATE_ID,
    SimulatorServer,
)

from .helpers import CUSTOMERS_PATH, attestation, contact, new_customer

pytestmark = pytest.mark.integration


def test_attestation_is_created_and_echoed(sim: SimulatorServer, api: httpx.Client) -> None:
    """A valid POST answers 201 with the agreement echoed plus userId and agreementLink, and is recorded."""
    customer = new_customer()
    body = attestation()
    response = api.post(CUSTOMERS_PATH.format(customer), json=body)
    assert response.status_code == 201
    assert response.json() == body | {"userId": DEFAULT_USER_ID, "agreementLink": "https://aka.ms/customeragreement"}
    [recorded] = sim.state.attestations(customer)
    assert recorded.template_id == MCA_TEMPLATE_ID
    assert recorded.contact.email == "ada@example.com"
    assert sim.state.attestation_count() == 1


def test_phone_number_is_optional(api: httpx.Client) -> None:
    """A contact without phoneNumber is accepted."""
    body = attestation(primaryContact={"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"})
    assert api.post(CUSTOMERS_PATH.format(new_customer()), json=body).status_code == 201


def test_identical_contact_is_600061(sim: SimulatorServer, api: httpx.Client) -> None:
    """The same contact (email case-insensitive) for the same customer gets 400 code 600061, not retryable."""
    customer = new_customer()
    assert api.post(CUSTOMERS_PATH.format(customer), json=attestation()).status_code == 201
    again = attestation(primaryContact=contact(email="ADA@Example.com"), dateAgreed="2024-07-01T00:00:00Z")
    response = api.post(CUSTOMERS_PATH.format(customer), json=again)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 600061
    assert body["errorName"] == "PartnerConfirmedAgreementAlreadyExists"
    assert body["isRetryable"] is False
    assert body["errorMessageExtended"] == "InternalErrorCode=600061"
    assert sim.state.attestation_count(customer) == 1


@pytest.mark.parametrize(
    "changed",
    [{"firstName": "Augusta"}, {"lastName": "King"}, {"email": "ada@other.example"}, {"phoneNumber": "+1 555 0199"}],
    ids=["firstName", "lastName", "email", "phone"],
)
def test_different_contact_creates_another_attestation(
    sim: SimulatorServer, api: httpx.Client, changed: dict[str, str]
) -> None:
    """A contact differing in any compared field creates a second attestation for the customer."""
    customer = new_customer()
    api.post(CUSTOMERS_PATH.format(customer), json=attestation())
    response = api.post(CUSTOMERS_PATH.format(customer), json=attestation(primaryContact=contact(**changed)))
    assert response.status_code == 201
    assert sim.state.attestation_count(customer) == 2


def test_same_contact_for_another_customer_is_created(api: httpx.Client) -> None:
    """The duplicate rule is per customer."""
    api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation())
    assert api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation()).status_code == 201


def test_template_decides_the_agreement_type(sim: SimulatorServer, api: httpx.Client) -> None:
    """A Cloud Agreement templateId with type MicrosoftCustomerAgreement records a Cloud Agreement."""
    customer = new_customer()
    response = api.post(
        CUSTOMERS_PATH.format(customer), json=attestation(templateId=CLOUD_AGREEMENT_TEMPLATE_ID, type=MCA)
    )
    assert response.status_code == 201
    assert response.json()["type"] == CLOUD_AGREEMENT
    assert sim.state.attestations(customer)[0].agreement_type == CLOUD_AGREEMENT


@pytest.mark.parametrize("missing", ["templateId", "dateAgreed", "type", "primaryContact"])
def test_missing_field_is_800002_naming_it(api: httpx.Client, missing: str) -> None:
    """A missing required field gets 400 code 800002 (classic shape) naming the field."""
    body = attestation()
    del body[missing]
    response = api.post(CUSTOMERS_PATH.format(new_customer()), json=body)
    assert response.status_code == 400
    assert response.json()["code"] == 800002
    assert response.json()["data"] == [missing]
    assert missing in response.json()["description"]


def test_missing_contact_field_is_800002_naming_it(api: httpx.Client) -> None:
    """A contact without email gets 400 code 800002 naming primaryContact.email."""
    body = attestation(primaryContact={"firstName": "Ada", "lastName": "Lovelace"})
    response = api.post(CUSTOMERS_PATH.format(new_customer()), json=body)
    assert response.status_code == 400
    assert response.json()["data"] == ["primaryContact.email"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"primaryContact": contact(email="not-an-email")}, "primaryContact.email"),
        ({"primaryContact": contact(firstName=" ")}, "primaryContact.firstName"),
        ({"templateId": "not-a-guid"}, "templateId"),
        ({"dateAgreed": "14/06/2024"}, "dateAgreed"),
        ({"type": 7}, "type"),
    ],
    ids=["email", "firstName", "templateId", "dateAgreed", "type"],
)
def test_invalid_field_is_3000_naming_it(api: httpx.Client, overrides: dict[str, object], field: str) -> None:
    """A field of the wrong format gets 400 code 3000 (agreement shape) naming the field."""
    response = api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation(**overrides))
    assert response.status_code == 400
    assert response.json()["code"] == 3000
    assert response.json()["parameters"] == {"property": field}


def test_body_not_json_is_800002(api: httpx.Client) -> None:
    """A body that is not JSON gets 400 code 800002."""
    response = api.post(
        CUSTOMERS_PATH.format(new_customer()), content=b"<xml/>", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 800002


def test_future_date_is_600002(sim: SimulatorServer, api: httpx.Client) -> None:
    """dateAgreed more than a few seconds ahead gets 400 code 600002 and creates nothing."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    response = api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation(dateAgreed=tomorrow))
    assert response.status_code == 400
    assert response.json()["code"] == 600002
    assert response.json()["description"] == "Date of agreement cannot be greater than the current date."
    assert sim.state.attestation_count() == 0


def test_date_now_is_accepted(api: httpx.Client) -> None:
    """dateAgreed of the current moment is accepted (clock-skew tolerance)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation(dateAgreed=now)).status_code == 201


def test_retired_template_is_no_longer_supported(sim: SimulatorServer, api: httpx.Client) -> None:
    """A POST with a retired templateId gets 400 "… Template ID '<id>' is no longer supported."."""
    sim.state.retire_template(MCA_TEMPLATE_ID)
    response = api.post(CUSTOMERS_PATH.format(new_customer()), json=attestation())
    assert response.status_code == 400
    assert (
        response.json()["description"]
        == f"Microsoft Cloud Agreement Template ID '{MCA_TEMPLATE_ID}' is no longer supported."
    )


def test_unknown_template_is_400(api: httpx.Client) -> None:
    """A templateId no template has gets 400 naming templateId."""
    body = attestation(templateId="99999999-9999-4999-8999-999999999999")
    response = api.post(CUSTOMERS_PATH.format(new_customer()), json=body)
    assert response.status_code == 400
    assert response.json()["parameters"] == {"property": "templateId"}


def test_same_request_id_replays_first_response(sim: SimulatorServer, api: httpx.Client) -> None:
    """A POST repeating an MS-RequestId gets the first status and body, without processing again."""
    customer = new_customer()
    headers = {"MS-RequestId": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    first = api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)
    second = api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)
    assert (second.status_code, second.json()) == (first.status_code, first.json()) == (201, first.json())
    assert sim.state.replays == 1
    assert sim.state.attestation_count(customer) == 1


def test_replay_serves_a_first_error_too(sim: SimulatorServer, api: httpx.Client) -> None:
    """A repeated MS-RequestId whose first answer was 400 gets that 400 again, even if now valid."""
    customer = new_customer()
    headers = {"MS-RequestId": "replay-of-an-error"}
    first = api.post(CUSTOMERS_PATH.format(customer), json=attestation(type=None), headers=headers)
    second = api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)
    assert first.status_code == second.status_code == 400
    assert sim.state.attestation_count(customer) == 0


def test_new_request_id_is_processed(sim: SimulatorServer, api: httpx.Client) -> None:
    """A new MS-RequestId is a new call: the repeated contact gets 600061."""
    customer = new_customer()
    api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers={"MS-RequestId": "a"})
    response = api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers={"MS-RequestId": "b"})
    assert response.json()["code"] == 600061
    assert sim.state.replays == 0


def test_replay_window_is_configurable(sim: SimulatorServer, api: httpx.Client) -> None:
    """With a zero replay window a repeated MS-RequestId is processed again."""
    sim.state.configure(replay_window_seconds=0)
    customer = new_customer()
    headers = {"MS-RequestId": "same"}
    api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)
    response = api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)
    assert response.json()["code"] == 600061
    assert sim.state.replays == 0


def test_a_repost_under_a_new_request_id_is_a_raw_double(sim: SimulatorServer, api: httpx.Client) -> None:
    """600061 keeps one attestation, but the raw record count sees both POSTs: a double is visible."""
    customer = new_customer()
    api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers={"MS-RequestId": "first"})
    again = api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers={"MS-RequestId": "second"})
    assert again.json()["code"] == 600061
    assert sim.state.attestation_count(customer) == 1
    assert sim.state.raw_record_count(customer) == 2


def test_a_repost_under_the_same_request_id_is_one_raw_record(sim: SimulatorServer, api: httpx.Client) -> None:
    """The same MS-RequestId, answered from the replay cache or (after the window) with 600061, is one record."""
    customer = new_customer()
    headers = {"MS-RequestId": "same-call"}
    api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)
    api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)  # replayed
    sim.state.configure(replay_window_seconds=0)
    api.post(CUSTOMERS_PATH.format(customer), json=attestation(), headers=headers)  # processed again: 600061
    assert sim.state.raw_record_count(customer) == 1


def test_an_invalid_post_is_no_raw_record(sim: SimulatorServer, api: httpx.Client) -> None:
    """A POST refused for its content (here a future date) would not have created anything."""
    customer = new_customer()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    assert api.post(CUSTOMERS_PATH.format(customer), json=attestation(dateAgreed=future)).status_code == 400
    assert sim.state.raw_record_count(customer) == 0
