"""The use case through the real client, token flow and file cache, against the simulator over TCP."""

from __future__ import annotations

import json
import uuid

import pytest

from emulators.partner_center.server import SimulatorServer
from shared.attestation.contract import parse_event
from shared.attestation.outcomes import AlreadyAttested, Attested, DeadLetter, DeadLetterReason, RetryLater
from shared.bootstrap import Services
from tests.builders import as_body, fresh_event_doc


async def test_good_event_is_attested_once_even_when_attested_again(
    simulator: SimulatorServer, services: Services
) -> None:
    """A valid event is attested (userId returned); the same event again posts the same request id, and the
    simulator still holds exactly one attestation for the customer."""
    body = as_body(fresh_event_doc())
    customer = json.loads(body)["customerTenantId"]
    first = await services.attestor.attest_body(body)
    second = await services.attestor.attest_body(body)
    assert isinstance(first, Attested)
    assert first.user_id
    assert isinstance(second, Attested | AlreadyAttested)
    assert second.request_id == first.request_id
    assert simulator.state.attestation_count(customer) == 1


async def test_identical_contact_under_a_new_event_id_is_already_attested(
    simulator: SimulatorServer, services: Services
) -> None:
    """A second event with the same contact for the same customer gets 600061 → AlreadyAttested."""
    doc = fresh_event_doc()
    await services.attestor.attest_body(json.dumps(doc).encode())
    again = await services.attestor.attest_body(json.dumps({**doc, "eventId": "another-id"}).encode())
    assert isinstance(again, AlreadyAttested)
    assert simulator.state.attestation_count(doc["customerTenantId"]) == 1


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [("00000404", DeadLetterReason.UNKNOWN_CUSTOMER), ("00000403", DeadLetterReason.NO_RELATIONSHIP)],
)
async def test_customer_problems_dead_letter_with_reason(
    simulator: SimulatorServer, services: Services, prefix: str, reason: DeadLetterReason
) -> None:
    """Unknown and foreign customers are dead-lettered with their reason and Partner Center's code."""
    customer = prefix + str(uuid.uuid4())[8:]
    outcome = await services.attestor.attest_body(as_body(fresh_event_doc(customerTenantId=customer)))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is reason
    assert "HTTP 40" in outcome.description
    assert simulator.state.attestation_count(customer) == 0


async def test_long_retry_after_becomes_retry_later_without_waiting(
    simulator: SimulatorServer, services: Services
) -> None:
    """A 429 with Retry-After 90 s (over the 60 s a call waits) is not slept through: a paused RetryLater for 90 s."""
    simulator.state.configure_faults(throttle_rate=1.0, retry_after_seconds=90)
    outcome = await services.attestor.attest_body(as_body(fresh_event_doc()))
    assert isinstance(outcome, RetryLater)
    assert outcome.paused
    assert outcome.retry_after == pytest.approx(90, abs=5)


async def test_server_error_storm_ends_in_retry_later(simulator: SimulatorServer, services: Services) -> None:
    """Every call failing with 5xx is retried in-call (bounded), then reported as RetryLater, not dead-lettered."""
    simulator.state.configure_faults(server_error_rate=1.0)
    outcome = await services.attestor.attest_body(as_body(fresh_event_doc()))
    assert isinstance(outcome, RetryLater)
    assert simulator.state.attestation_count() == 0


async def test_lost_response_is_retried_with_the_same_request_id_and_not_duplicated(
    simulator: SimulatorServer, services: Services
) -> None:
    """The POST is processed but its response lost, every time; each retry carries the same MS-RequestId, the
    simulator replays instead of posting again, and exactly one attestation exists."""
    await services.metadata.get("MicrosoftCustomerAgreement")  # warm the cache: only the POST is faulted below
    simulator.state.configure_faults(lost_response_rate=1.0)
    doc = fresh_event_doc()
    outcome = await services.attestor.attest(parse_event(doc))
    assert isinstance(outcome, RetryLater)  # no response ever arrived
    assert simulator.state.attestation_count(doc["customerTenantId"]) == 1
    assert simulator.state.replays == 2  # attempts 2 and 3 of ATTEST_IN_CALL_ATTEMPTS=3


async def test_expired_access_token_is_renewed_transparently(simulator: SimulatorServer, services: Services) -> None:
    """After Partner Center stops accepting the cached token (401), the client re-authenticates once."""
    await services.attestor.attest_body(as_body(fresh_event_doc()))
    exchanges_before = simulator.state.token_requests
    simulator.state.expire_access_tokens()
    outcome = await services.attestor.attest_body(as_body(fresh_event_doc()))
    assert isinstance(outcome, Attested)
    assert simulator.state.token_requests == exchanges_before + 1


async def test_revoked_consent_dead_letters_as_consent_required(simulator: SimulatorServer, services: Services) -> None:
    """A refused refresh token is an operator problem: ConsentRequired, never retried."""
    simulator.state.revoke_refresh_tokens()
    outcome = await services.attestor.attest_body(as_body(fresh_event_doc()))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.CONSENT_REQUIRED
    assert "consent" in outcome.description


async def test_metadata_is_fetched_once_for_many_events(simulator: SimulatorServer, services: Services) -> None:
    """With a warm cache, attesting 20 events sends one metadata GET in total."""
    for _ in range(20):
        await services.attestor.attest_body(as_body(fresh_event_doc()))
    assert simulator.state.request_count(route="GET /v1/agreements") == 1
