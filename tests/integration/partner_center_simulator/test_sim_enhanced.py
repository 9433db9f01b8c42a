"""The enhanced attestation in the simulator, over TCP: create, status, the customer's side, finalize, faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from emulators.partner_center import SimulatorServer
from emulators.partner_center.conventions import FOREIGN_CUSTOMER_PREFIX
from emulators.partner_center.enhanced import EnhancedWorld

from .helpers import CUSTOMERS_PATH, attestation, client_credentials_grant, new_customer

pytestmark = pytest.mark.integration

ENHANCED = "/v1/attestations/enhanced"


@pytest.fixture
def app_only(sim: SimulatorServer) -> Iterator[httpx.Client]:
    """A client of the simulator's Partner Center with an app-only (client credentials) token."""
    response = httpx.post(sim.token_url(), data=client_credentials_grant())
    response.raise_for_status()
    headers = {"Authorization": f"Bearer {response.json()['access_token']}", "Accept": "application/json"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=10) as http:
        yield http


def create_body(customer: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "customerTenantId": customer,
        "country": "DE",
        "language": "de-DE",
        "companyName": "Contoso GmbH",
        "signatoryFirstName": "Ada",
        "signatoryLastName": "Lovelace",
        "signatoryEmail": "ada@example.com",
        "signatoryPhoneNumber": "+1 555 0100",
    }
    return {key: value for key, value in (body | overrides).items() if value is not ...}


def create(http: httpx.Client, customer: str, **headers: str) -> dict[str, Any]:
    response = http.post(ENHANCED, json=create_body(customer), headers=headers)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def control(client: httpx.Client, attestation_id: str, action: str) -> httpx.Response:
    return client.post(f"/_simulator/enhanced/{attestation_id}/{action}")


def finalize(http: httpx.Client, customer: str, attestation_id: object) -> httpx.Response:
    return http.post(CUSTOMERS_PATH.format(customer), json=attestation(attestationId=attestation_id))


def test_create_answers_an_id_a_link_and_required(app_only: httpx.Client) -> None:
    """A valid create is 201 with attestationId, acceptanceLink, linkExpiresAt in the future and status Required."""
    customer = new_customer()
    created = create(app_only, customer)

    assert created["status"] == "Required"
    assert created["customerTenantId"] == customer
    assert created["acceptanceLink"].endswith(created["attestationId"])
    assert datetime.fromisoformat(created["linkExpiresAt"]) > datetime.now(UTC) + timedelta(days=6)
    status = app_only.get(f"{ENHANCED}/{created['attestationId']}")
    assert status.status_code == 200
    assert status.json() == created


def test_app_user_tokens_are_refused(sim: SimulatorServer, api: httpx.Client) -> None:
    """The scenario is app-only: an app+user token gets 401 (1002) and nothing is created."""
    response = api.post(ENHANCED, json=create_body(new_customer()))

    assert response.status_code == 401
    assert response.json()["code"] == 1002
    assert sim.state.enhanced.all() == []


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"signatoryEmail": ...}, 400, 800002, "signatoryEmail"),
        ({"companyName": ...}, 400, 800002, "companyName"),
        ({"country": "DEU"}, 400, 3000, "country"),
        ({"signatoryEmail": "not-an-email"}, 400, 3000, "signatoryEmail"),
        ({"language": 7}, 400, 3000, "language"),
    ],
)
def test_bad_create_bodies_are_refused_by_field(
    app_only: httpx.Client, overrides: dict[str, Any], status: int, code: int, field: str
) -> None:
    """A missing field is 800002 naming it in data; a malformed one is 3000 naming it in parameters."""
    response = app_only.post(ENHANCED, json=create_body(new_customer(), **overrides))

    assert response.status_code == status
    document = response.json()
    assert document["code"] == code
    assert field in (document.get("data") or [document.get("parameters", {}).get("property")])


def test_a_foreign_customer_is_403(app_only: httpx.Client) -> None:
    """A customer of another partner gets 403 (20002), as the agreement POST does."""
    response = app_only.post(ENHANCED, json=create_body(f"{FOREIGN_CUSTOMER_PREFIX}-0000-4000-8000-000000000001"))

    assert response.status_code == 403
    assert response.json()["code"] == 20002


def test_unknown_attestation_status_is_404(app_only: httpx.Client) -> None:
    """The status of an id the simulator never issued is 404."""
    assert app_only.get(f"{ENHANCED}/{new_customer()}").status_code == 404


def test_accepted_attestation_finalizes_into_an_agreement(
    sim: SimulatorServer, app_only: httpx.Client, client: httpx.Client
) -> None:
    """After the customer accepts (control API), the agreement POST with the attestationId is 201 and recorded."""
    customer = new_customer()
    attestation_id = create(app_only, customer)["attestationId"]

    assert control(client, attestation_id, "accept").json()["status"] == "Accepted"
    assert app_only.get(f"{ENHANCED}/{attestation_id}").json()["status"] == "Accepted"
    response = finalize(app_only, customer, attestation_id)

    assert response.status_code == 201
    assert sim.state.attestation_count(customer) == 1
    listed = client.get("/_simulator/enhanced").json()["items"]
    assert [(item["attestationId"], item["agreementCreated"]) for item in listed] == [(attestation_id, True)]


def test_finalize_before_acceptance_is_refused(sim: SimulatorServer, app_only: httpx.Client) -> None:
    """An agreement POST with an attestation the customer has not accepted is 400 600070; nothing is created."""
    customer = new_customer()
    attestation_id = create(app_only, customer)["attestationId"]

    response = finalize(app_only, customer, attestation_id)

    assert response.status_code == 400
    assert response.json()["errorName"] == "AttestationNotAccepted"
    assert sim.state.attestation_count(customer) == 0


def test_finalize_with_a_foreign_or_unknown_attestation_is_3000(app_only: httpx.Client, client: httpx.Client) -> None:
    """An attestationId unknown, or issued for another customer, is an invalid property."""
    attestation_id = create(app_only, new_customer())["attestationId"]
    control(client, attestation_id, "accept")

    for customer, given in ((new_customer(), attestation_id), (new_customer(), "no-such-id"), (new_customer(), 42)):
        response = finalize(app_only, customer, given)
        assert response.status_code == 400
        assert response.json()["parameters"] == {"property": "attestationId"}


def test_an_expired_link_cannot_be_accepted_or_finalized(app_only: httpx.Client, client: httpx.Client) -> None:
    """Expiring the link makes the status Expired; accepting then is 409 and finalizing 600070."""
    customer = new_customer()
    attestation_id = create(app_only, customer)["attestationId"]

    assert control(client, attestation_id, "expire").json()["status"] == "Expired"
    assert app_only.get(f"{ENHANCED}/{attestation_id}").json()["status"] == "Expired"
    assert control(client, attestation_id, "accept").status_code == 409
    assert finalize(app_only, customer, attestation_id).json()["code"] == 600070


def test_a_rejected_attestation_reports_rejected(app_only: httpx.Client, client: httpx.Client) -> None:
    """The customer declining makes the status Rejected."""
    attestation_id = create(app_only, new_customer())["attestationId"]

    control(client, attestation_id, "reject")

    assert app_only.get(f"{ENHANCED}/{attestation_id}").json()["status"] == "Rejected"


def test_link_lifetime_applies_to_new_links(app_only: httpx.Client, client: httpx.Client) -> None:
    """PUT link-lifetime sets how long links created afterwards stay valid."""
    assert client.put("/_simulator/enhanced/link-lifetime", json={"seconds": 60}).status_code == 200
    expires = datetime.fromisoformat(create(app_only, new_customer())["linkExpiresAt"])

    assert timedelta(seconds=50) < expires - datetime.now(UTC) <= timedelta(seconds=61)
    assert client.put("/_simulator/enhanced/link-lifetime", json={"seconds": 0}).status_code == 400


def test_the_same_request_id_creates_one_attestation(sim: SimulatorServer, app_only: httpx.Client) -> None:
    """A repeated create with the same MS-RequestId is answered from the replay cache with the same id."""
    customer = new_customer()
    first = create(app_only, customer, **{"MS-RequestId": "enhanced-1"})
    again = app_only.post(ENHANCED, json=create_body(customer), headers={"MS-RequestId": "ENHANCED-1"})

    assert again.json()["attestationId"] == first["attestationId"]
    assert again.headers["X-Simulator-Replayed"] == "true"
    assert len(sim.state.enhanced.all()) == 1


def test_a_lost_create_response_is_recovered_by_the_same_request_id(
    sim: SimulatorServer, app_only: httpx.Client
) -> None:
    """A lost response creates the attestation; the retry with the same MS-RequestId gets that one, not a second."""
    customer = new_customer()
    sim.state.configure_faults(lost_response_rate=1.0)
    with pytest.raises(httpx.TransportError):
        app_only.post(ENHANCED, json=create_body(customer), headers={"MS-RequestId": "lost-1"})
    sim.state.configure_faults(lost_response_rate=0.0)

    retried = create(app_only, customer, **{"MS-RequestId": "lost-1"})

    assert [a.attestation_id for a in sim.state.enhanced.all()] == [retried["attestationId"]]


def test_throttling_applies_to_create(sim: SimulatorServer, app_only: httpx.Client) -> None:
    """An injected 429 hits the create like the agreement POST, and creates nothing."""
    sim.state.configure_faults(throttle_rate=1.0, retry_after_seconds=3)

    response = app_only.post(ENHANCED, json=create_body(new_customer()))

    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    assert sim.state.enhanced.all() == []


def test_a_contact_with_an_agreement_gets_600061(
    sim: SimulatorServer, api: httpx.Client, app_only: httpx.Client
) -> None:
    """Creating an attestation for a contact who already has the customer's agreement answers 600061."""
    customer = new_customer()
    assert api.post(CUSTOMERS_PATH.format(customer), json=attestation()).status_code == 201

    response = app_only.post(ENHANCED, json=create_body(customer))

    assert response.json()["code"] == 600061


def test_reset_forgets_enhanced_attestations(sim: SimulatorServer, app_only: httpx.Client) -> None:
    """reset() empties the enhanced attestations with the rest of the world."""
    create(app_only, new_customer())

    sim.state.reset(keep_tokens=True)

    assert sim.state.enhanced.all() == []


def test_links_expire_on_their_own() -> None:
    """A Required attestation reads Expired once its link's expiry has passed (no control call needed)."""
    world = EnhancedWorld(link_lifetime_seconds=60)
    reply = world.create(
        b'{"customerTenantId": "c", "country": "DE", "language": "de", "companyName": "C", '
        b'"signatoryFirstName": "A", "signatoryLastName": "B", "signatoryEmail": "a@b.example"}',
        None,
        check_customer=lambda customer: customer,
        agreements_of=lambda customer: [],
    )
    (found,) = world.all()

    assert reply.status == 201
    assert found.current_status(datetime.now(UTC)) == "Required"
    assert found.current_status(datetime.now(UTC) + timedelta(seconds=61)) == "Expired"


def test_a_scripted_create_answer_is_given_for_that_customer_only(
    sim: SimulatorServer, app_only: httpx.Client, client: httpx.Client
) -> None:
    """The control API scripts a create's answer for one customer (its reads still succeed): that customer's creates
    get it and create nothing, kept per MS-RequestId; another customer's create succeeds; status 0 forgets it."""
    customer = new_customer()
    route = f"/_simulator/enhanced/customers/{customer}/create-answer"
    assert client.put(route, json={"status": 403, "code": 20002}).status_code == 200

    refused = app_only.post(ENHANCED, json=create_body(customer), headers={"MS-RequestId": "scripted-1"})
    other = create(app_only, new_customer())["customerTenantId"]
    direct = app_only.get(f"/v1/customers/{customer}/directSignedMicrosoftCustomerAgreementStatus")
    assert client.put(route, json={"status": 0}).status_code == 200
    replayed = app_only.post(ENHANCED, json=create_body(customer), headers={"MS-RequestId": "scripted-1"})

    assert (refused.status_code, refused.json()["code"]) == (403, 20002)
    assert (replayed.status_code, replayed.headers["X-Simulator-Replayed"]) == (403, "true")
    assert direct.status_code == 200
    assert [a.customer_id for a in sim.state.enhanced.all()] == [other]
    assert create(app_only, customer)["customerTenantId"] == customer


def test_a_scripted_create_answer_must_be_an_error_status(client: httpx.Client) -> None:
    """A script that is not an HTTP error status (or 0) is refused with 400."""
    response = client.put(f"/_simulator/enhanced/customers/{new_customer()}/create-answer", json={"status": 201})

    assert response.status_code == 400
