"""Customer resolution (conventions and configured sets), a customer's agreements, direct-signed status."""

from __future__ import annotations

import httpx
import pytest

from emulators.partner_center import (
    CLOUD_AGREEMENT,
    CLOUD_AGREEMENT_TEMPLATE_ID,
    MCA,
    SimulatorServer,
    UnknownCustomerResponse,
)

from .helpers import CUSTOMERS_PATH, attestation, contact, new_customer

pytestmark = pytest.mark.integration

UNKNOWN = "00000404-0000-4000-8000-000000000001"
FOREIGN = "00000403-0000-4000-8000-000000000001"
STATUS_PATH = "/v1/customers/{}/directSignedMicrosoftCustomerAgreementStatus"


def _every_route(api: httpx.Client, customer: str) -> list[httpx.Response]:
    return [
        api.post(CUSTOMERS_PATH.format(customer), json=attestation()),
        api.get(CUSTOMERS_PATH.format(customer), params={"agreementType": MCA}),
        api.get(STATUS_PATH.format(customer)),
    ]


def test_unknown_customer_prefix_is_404_60003(sim: SimulatorServer, api: httpx.Client) -> None:
    """A customer id starting 00000404 is unknown: 404 code 60003 "Tenant not found" on every route."""
    for response in _every_route(api, UNKNOWN):
        assert response.status_code == 404
        assert response.json()["code"] == 60003
        assert response.json()["description"] == "Tenant not found"
    assert sim.state.attestation_count() == 0


@pytest.mark.parametrize(
    ("variant", "status", "code"),
    [
        (UnknownCustomerResponse.NOT_FOUND_1000, 404, 1000),
        (UnknownCustomerResponse.TENANT_NOT_FOUND_60003, 404, 60003),
        (UnknownCustomerResponse.INVALID_CUSTOMER_900118, 400, 900118),
    ],
)
def test_unknown_customer_answer_is_configurable(
    sim: SimulatorServer, api: httpx.Client, variant: UnknownCustomerResponse, status: int, code: int
) -> None:
    """The unknown-customer answer can be 404/1000, 404/60003 or 400/900118."""
    sim.state.configure(unknown_customer_response=variant)
    response = api.post(CUSTOMERS_PATH.format(UNKNOWN), json=attestation())
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_foreign_customer_prefix_is_403_20002(api: httpx.Client) -> None:
    """A customer id starting 00000403 belongs to another partner: 403 code 20002 on every route."""
    for response in _every_route(api, FOREIGN):
        assert response.status_code == 403
        assert response.json()["code"] == 20002


def test_configured_unknown_and_foreign_customers(sim: SimulatorServer, api: httpx.Client) -> None:
    """Customers added to the unknown and foreign sets are refused like the conventional ones."""
    unknown, foreign = new_customer(), new_customer()
    sim.state.add_unknown_customer(unknown.upper())
    sim.state.add_foreign_customer(foreign)
    assert api.post(CUSTOMERS_PATH.format(unknown), json=attestation()).status_code == 404
    assert api.post(CUSTOMERS_PATH.format(foreign), json=attestation()).status_code == 403


def test_non_guid_customer_is_400_900118(api: httpx.Client) -> None:
    """A customer id that is not a GUID gets 400 code 900118 "Invalid Customer Id"."""
    for response in _every_route(api, "contoso"):
        assert response.status_code == 400
        assert response.json()["code"] == 900118
        assert response.json()["description"] == "Invalid Customer Id"


def test_customer_agreements_list_has_no_z_on_date(api: httpx.Client) -> None:
    """The customer's agreements list items with dateAgreed returned without the trailing Z."""
    customer = new_customer()
    api.post(CUSTOMERS_PATH.format(customer), json=attestation(dateAgreed="2024-06-14T08:30:00.000Z"))
    body = api.get(CUSTOMERS_PATH.format(customer), params={"agreementType": MCA}).json()
    assert body["totalCount"] == 1
    assert body["attributes"] == {"objectType": "Collection"}
    [item] = body["items"]
    assert item["dateAgreed"] == "2024-06-14T08:30:00"
    assert item["type"] == MCA
    assert item["agreementLink"] == "https://aka.ms/customeragreement"
    assert item["primaryContact"] == contact()
    assert set(item) == {"primaryContact", "templateId", "dateAgreed", "type", "agreementLink"}


def test_customer_agreements_default_to_cloud_agreement(api: httpx.Client) -> None:
    """Without agreementType only Cloud Agreement attestations are listed (quirk)."""
    customer = new_customer()
    api.post(CUSTOMERS_PATH.format(customer), json=attestation())
    api.post(
        CUSTOMERS_PATH.format(customer),
        json=attestation(templateId=CLOUD_AGREEMENT_TEMPLATE_ID, primaryContact=contact(firstName="Bob")),
    )
    items = api.get(CUSTOMERS_PATH.format(customer)).json()["items"]
    assert [i["type"] for i in items] == [CLOUD_AGREEMENT]
    everything = api.get(CUSTOMERS_PATH.format(customer), params={"agreementType": "*"}).json()
    assert everything["totalCount"] == 2


def test_customer_without_agreements_is_404_600009(api: httpx.Client) -> None:
    """A customer with no agreements of the asked type gets 404 code 600009 (agreement shape)."""
    response = api.get(CUSTOMERS_PATH.format(new_customer()), params={"agreementType": MCA})
    assert response.status_code == 404
    assert response.json()["code"] == 600009
    assert "errorName" in response.json()


def test_listing_delay_hides_new_attestations(sim: SimulatorServer, api: httpx.Client) -> None:
    """With a listing delay a new attestation is not listed yet (the real service: up to ~4 hours)."""
    sim.state.configure(listing_delay_seconds=3600)
    customer = new_customer()
    api.post(CUSTOMERS_PATH.format(customer), json=attestation())
    assert api.get(CUSTOMERS_PATH.format(customer), params={"agreementType": MCA}).status_code == 404


def test_direct_signed_status(sim: SimulatorServer, api: httpx.Client) -> None:
    """directSignedMicrosoftCustomerAgreementStatus is false by default and true once set."""
    customer = new_customer()
    assert api.get(STATUS_PATH.format(customer)).json() == {"isSigned": False}
    sim.state.set_direct_signed(customer)
    assert api.get(STATUS_PATH.format(customer)).json() == {"isSigned": True}
    sim.state.set_direct_signed(customer, signed=False)
    assert api.get(STATUS_PATH.format(customer)).json() == {"isSigned": False}
