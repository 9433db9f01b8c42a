"""The enhanced attestation adapter against the simulator over TCP: app-only tokens, the three calls, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from emulators.partner_center import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MCA, MCA_TEMPLATE_ID, SimulatorServer
from shared.attestation.contract.v2 import parse_acceptance_requested
from shared.attestation.errors import AuthError, InvalidRequest, NoRelationship
from shared.attestation.ports import StatusKind
from shared.partner_center.agreement_request import AgreementRequest
from shared.partner_center.auth import ClientCredentialsProvider, RefreshTokenProvider
from shared.partner_center.client import PartnerCenterClient
from shared.partner_center.enhanced_api import EnhancedApiSettings
from shared.partner_center.enhanced_attestation import (
    EnhancedAttestationApi,
    EnhancedAttestationRequest,
    EnhancedResponseMismatch,
    derive_enhanced_request_id,
    enhanced_request_for,
)
from shared.partner_center.retry import RetryPolicy
from shared.partner_center.secrets import InMemorySecret
from tests.builders import acceptance_requested_doc

from .helpers import new_customer

pytestmark = pytest.mark.integration

SCOPE = "https://api.partnercenter.microsoft.com/.default"


async def _no_sleep(seconds: float) -> None:
    """Retries in these tests need no real wait."""


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def _client(
    sim: SimulatorServer,
    http: httpx.AsyncClient,
    *,
    app_only: bool = True,
    sleep: Callable[[float], Awaitable[None]] = _no_sleep,
) -> PartnerCenterClient:
    tokens: ClientCredentialsProvider | RefreshTokenProvider
    if app_only:
        tokens = ClientCredentialsProvider(
            http,
            token_url=sim.token_url(),
            client_id=DEFAULT_CLIENT_ID,
            scope=SCOPE,
            client_secret=InMemorySecret(DEFAULT_CLIENT_SECRET),
        )
    else:
        tokens = RefreshTokenProvider(
            http,
            token_url=sim.token_url(),
            client_id=DEFAULT_CLIENT_ID,
            scope=SCOPE,
            refresh_token=InMemorySecret("local-simulator-refresh-token"),
            client_secret=InMemorySecret(DEFAULT_CLIENT_SECRET),
        )
    return PartnerCenterClient(http, base_url=sim.base_url, tokens=tokens, retry=RetryPolicy(attempts=3), sleep=sleep)


def _request(customer: str) -> EnhancedAttestationRequest:
    return enhanced_request_for(parse_acceptance_requested(acceptance_requested_doc(customerTenantId=customer)))


def _agreement(request: EnhancedAttestationRequest) -> AgreementRequest:
    return AgreementRequest(
        customer_tenant_id=request.customer_tenant_id,
        first_name=request.first_name,
        last_name=request.last_name,
        email=request.email,
        phone_number=request.phone_number,
        template_id=MCA_TEMPLATE_ID,
        date_agreed=datetime.now(UTC) - timedelta(minutes=1),
        agreement_type=MCA,
    )


async def test_create_status_accept_and_agreement_round_trip(sim: SimulatorServer, http: httpx.AsyncClient) -> None:
    """Create → Required with a link → (the customer accepts) → Accepted → the agreement is created with the id."""
    api = EnhancedAttestationApi(_client(sim, http))
    request = _request(new_customer())

    created = await api.create_attestation(request, request_id="create-1", correlation_id="corr-1")
    pending = await api.get_status(created.attestation_id, correlation_id="corr-1")
    sim.state.enhanced.accept(created.attestation_id)
    accepted = await api.get_status(created.attestation_id, correlation_id="corr-1")
    agreement = await api.create_agreement(
        _agreement(request), created.attestation_id, request_id="agreement-1", correlation_id="corr-1"
    )

    assert (created.status, created.raw_status) == (StatusKind.PENDING, "Required")
    assert created.acceptance_link.endswith(created.attestation_id)
    assert created.link_expires_at
    assert created.ids.ms_cv
    assert pending.status is StatusKind.PENDING
    assert accepted.status is StatusKind.ACCEPTED
    assert agreement.user_id == DEFAULT_CLIENT_ID  # app-only: the app is the caller
    assert sim.state.attestation_count(request.customer_tenant_id) == 1
    assert [a.agreement_created for a in sim.state.enhanced.all()] == [True]


async def test_expired_and_rejected_statuses_are_read(sim: SimulatorServer, http: httpx.AsyncClient) -> None:
    """An expired link reads EXPIRED, a declined attestation REJECTED."""
    api = EnhancedAttestationApi(_client(sim, http))
    first = await api.create_attestation(_request(new_customer()), request_id="e-1", correlation_id="c")
    second = await api.create_attestation(_request(new_customer()), request_id="e-2", correlation_id="c")

    sim.state.enhanced.expire(first.attestation_id)
    sim.state.enhanced.reject(second.attestation_id)

    assert (await api.get_status(first.attestation_id, correlation_id="c")).status is StatusKind.EXPIRED
    assert (await api.get_status(second.attestation_id, correlation_id="c")).status is StatusKind.REJECTED


async def test_an_agreement_before_acceptance_is_refused(sim: SimulatorServer, http: httpx.AsyncClient) -> None:
    """Creating the agreement before the customer accepted is a permanent InvalidRequest; nothing is created."""
    api = EnhancedAttestationApi(_client(sim, http))
    request = _request(new_customer())
    created = await api.create_attestation(request, request_id="b-1", correlation_id="c")

    with pytest.raises(InvalidRequest) as caught:
        await api.create_agreement(_agreement(request), created.attestation_id, request_id="b-2", correlation_id="c")

    assert caught.value.code == "600070"
    assert sim.state.attestation_count(request.customer_tenant_id) == 0


async def test_app_user_tokens_are_refused(sim: SimulatorServer, http: httpx.AsyncClient) -> None:
    """With an app+user client the create is refused as an AuthError (the scenario is app-only)."""
    api = EnhancedAttestationApi(_client(sim, http, app_only=False))

    with pytest.raises(AuthError):
        await api.create_attestation(_request(new_customer()), request_id="u-1", correlation_id="c")

    assert sim.state.enhanced.all() == []


async def test_a_foreign_customer_is_no_relationship(sim: SimulatorServer, http: httpx.AsyncClient) -> None:
    """A customer of another partner answers 403: NoRelationship, as for the agreement POST."""
    api = EnhancedAttestationApi(_client(sim, http))

    with pytest.raises(NoRelationship):
        await api.create_attestation(
            _request("00000403-0000-4000-8000-000000000001"), request_id="f", correlation_id="c"
        )


async def test_a_lost_response_is_retried_with_one_request_id(sim: SimulatorServer, http: httpx.AsyncClient) -> None:
    """The create's response is lost once; the retry carries the same MS-RequestId and gets the one attestation."""
    waits: list[float] = []

    async def heal(seconds: float) -> None:  # the retry's wait: the network recovers meanwhile
        waits.append(seconds)
        sim.state.configure_faults(lost_response_rate=0.0)

    api = EnhancedAttestationApi(_client(sim, http, sleep=heal))
    request = _request(new_customer())
    request_id = derive_enhanced_request_id("crm-1", "create", request.body(api.settings))
    sim.state.configure_faults(lost_response_rate=1.0)

    created = await api.create_attestation(request, request_id=request_id, correlation_id="c")

    assert len(waits) == 1
    assert [a.attestation_id for a in sim.state.enhanced.all()] == [created.attestation_id]
    assert sim.state.enhanced.replays == 1


async def test_a_wrong_id_field_is_a_mismatch(sim: SimulatorServer, http: httpx.AsyncClient) -> None:
    """Configured with an id field the service does not send, the create fails as EnhancedResponseMismatch."""
    api = EnhancedAttestationApi(_client(sim, http), EnhancedApiSettings(response_id_field="id"))

    with pytest.raises(EnhancedResponseMismatch, match="'id'"):
        await api.create_attestation(_request(new_customer()), request_id="m-1", correlation_id="c")
