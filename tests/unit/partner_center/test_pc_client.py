"""PartnerCenterClient over httpx.MockTransport: headers, retries, re-authentication, parsing and logs."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import pytest
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from shared.attestation.errors import (
    AlreadyAttested,
    AuthError,
    ConnectionFailed,
    Paused,
    ServerError,
    Throttled,
    UnknownCustomer,
    Unreachable,
)
from shared.attestation.metadata import MCA, MCLOUDA
from shared.partner_center.agreement_request import AgreementRequest
from shared.partner_center.client import CreatedAgreement, CustomerAgreement, PartnerCenterClient
from shared.partner_center.retry import RetryPolicy
from shared.partner_center.throttle import AdaptiveLimiter, LimiterPolicy
from tests.builders import FakeTokens, ManualClock, RecordingSleep

BASE_URL = "https://pc.example"
TENANT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
MCA_TEMPLATE = "117a77b0-9360-443b-8795-c6dedc750cf9"
REQUEST_ID = "8f872cff-b0e3-5dd3-beb9-e627b1cea74a"
CORRELATION_ID = "8bd33da7-e431-5a51-9ec6-ff6f91ee9f93"
REQUEST = AgreementRequest(
    customer_tenant_id=TENANT,
    first_name="Zoë",
    last_name="Okafor",
    email="zoe.okafor@contoso.example",
    phone_number="+44 20 7946 0000",
    template_id=MCA_TEMPLATE,
    date_agreed=datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
    agreement_type=MCA,
)
PERSONAL_DATA = ("Zoë", "Okafor", "zoe.okafor", "7946")

Answer = Callable[[httpx.Request], httpx.Response]


class FakePartnerCenter:
    """A MockTransport handler that records every request and answers from a script (last answer repeats)."""

    def __init__(self, *answers: Answer | httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return answer(request) if callable(answer) else answer

    def header(self, name: str) -> list[str]:
        return [request.headers.get(name, "") for request in self.requests]


def _drop_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection reset by peer", request=request)


def _created(user_id: str = "user-7") -> httpx.Response:
    body = {**REQUEST.body(), "userId": user_id, "agreementLink": "https://aka.ms/customeragreement"}
    return httpx.Response(201, json=body, headers={"MS-CV": "cv-created.1"})


def _fault(status: int, code: int, description: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "description": description}, headers=headers)


class Harness:
    """One client wired to a fake Partner Center, fake tokens and a recording sleep."""

    def __init__(
        self, server: FakePartnerCenter, retry: RetryPolicy | None = None, limiter: AdaptiveLimiter | None = None
    ) -> None:
        self.server = server
        self.tokens = FakeTokens()
        self.sleep = RecordingSleep()
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(server))
        self.client = PartnerCenterClient(
            self.http,
            base_url=BASE_URL + "/",
            tokens=self.tokens,
            application_name="mca-attest-tests",
            retry=retry or RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0, max_total_delay=20.0),
            sleep=self.sleep,
            rng=random.Random(1),
            limiter=limiter,
        )

    async def __aenter__(self) -> Harness:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.http.aclose()

    async def attest(self) -> CreatedAgreement:
        return await self.client.create_customer_agreement(
            REQUEST, request_id=REQUEST_ID, correlation_id=CORRELATION_ID
        )


# --- headers and request shape ---------------------------------------------------------------------------------


async def test_post_sends_headers_and_canonical_body() -> None:
    """The attestation POST carries Bearer, the given ids, the app name, JSON headers and the canonical body."""
    server = FakePartnerCenter(_created())
    async with Harness(server) as h:
        await h.attest()

    [request] = server.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/v1/customers/{TENANT}/agreements"
    assert request.headers["Authorization"] == "Bearer token-1"
    assert request.headers["MS-RequestId"] == REQUEST_ID
    assert request.headers["MS-CorrelationId"] == CORRELATION_ID
    assert request.headers["MS-PartnerCenter-Application"] == "mca-attest-tests"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == REQUEST.canonical_bytes()


async def test_get_calls_send_headers_without_content_type() -> None:
    """Every GET carries Bearer, fresh MS-RequestId and MS-CorrelationId, the app name and Accept, no Content-Type."""
    server = FakePartnerCenter(httpx.Response(200, json={"items": [], "isSigned": False}))
    async with Harness(server) as h:
        await h.client.get_agreement_metadata(MCA)
        await h.client.list_customer_agreements(TENANT)
        await h.client.get_direct_signed_status(TENANT)

    assert len(server.requests) == 3
    for request in server.requests:
        assert request.method == "GET"
        assert request.headers["Authorization"] == "Bearer token-1"
        assert request.headers["MS-PartnerCenter-Application"] == "mca-attest-tests"
        assert request.headers["Accept"] == "application/json"
        assert "Content-Type" not in request.headers
        assert uuid.UUID(request.headers["MS-RequestId"])
        assert uuid.UUID(request.headers["MS-CorrelationId"])
    assert len(set(server.header("MS-RequestId"))) == 3  # a new logical call gets a new id


# --- retries -----------------------------------------------------------------------------------------------------


async def test_same_request_id_on_every_retry() -> None:
    """All attempts of one call carry the same MS-RequestId and MS-CorrelationId."""
    server = FakePartnerCenter(httpx.Response(503), httpx.Response(502), _created())
    async with Harness(server) as h:
        created = await h.attest()

    assert created.user_id == "user-7"
    assert server.header("MS-RequestId") == [REQUEST_ID] * 3
    assert server.header("MS-CorrelationId") == [CORRELATION_ID] * 3
    assert len(h.sleep.delays) == 2


async def test_generated_request_id_is_kept_across_retries() -> None:
    """A GET's generated MS-RequestId is reused by its retries."""
    server = FakePartnerCenter(httpx.Response(500), httpx.Response(200, json={"isSigned": True}))
    async with Harness(server) as h:
        assert await h.client.get_direct_signed_status(TENANT) is True

    first, second = server.header("MS-RequestId")
    assert first == second


async def test_throttled_then_created_waits_retry_after() -> None:
    """429 with Retry-After then 201: success after one recorded sleep of at least Retry-After."""
    throttled = httpx.Response(
        429,
        json={"statusCode": 429, "message": "Rate limit is exceeded. Try again in 2 seconds."},
        headers={"Retry-After": "2"},
    )
    server = FakePartnerCenter(throttled, _created())
    async with Harness(server) as h:
        created = await h.attest()

    assert created.user_id == "user-7"
    assert created.ids.request_id == REQUEST_ID
    [delay] = h.sleep.delays
    assert 2.0 <= delay <= 2.5
    assert len(server.requests) == 2


async def test_unavailable_then_created_waits_retry_after() -> None:
    """503 with Retry-After then 201: the in-call wait honours Retry-After as it does on a 429."""
    server = FakePartnerCenter(httpx.Response(503, headers={"Retry-After": "3"}), _created())
    async with Harness(server) as h:
        created = await h.attest()

    assert created.user_id == "user-7"
    [delay] = h.sleep.delays
    assert 3.0 <= delay <= 3.5


async def test_long_retry_after_on_503_goes_back_to_the_caller() -> None:
    """A 503 whose Retry-After exceeds max_delay raises ServerError at once, carrying it for the host."""
    server = FakePartnerCenter(httpx.Response(503, headers={"Retry-After": "120"}))
    async with Harness(server) as h:
        with pytest.raises(ServerError) as caught:
            await h.attest()

    assert caught.value.retry_after == 120.0
    assert h.sleep.delays == []
    assert len(server.requests) == 1


async def test_long_retry_after_goes_back_to_the_caller() -> None:
    """A Retry-After longer than max_delay raises Throttled at once, with no sleep and no second request."""
    server = FakePartnerCenter(httpx.Response(429, headers={"Retry-After": "57"}))
    async with Harness(server) as h:
        with pytest.raises(Throttled) as caught:
            await h.attest()

    assert caught.value.retry_after == 57.0
    assert h.sleep.delays == []
    assert len(server.requests) == 1


@pytest.mark.parametrize("attempts", [1, 3, 5])
async def test_server_errors_exhaust_attempts(attempts: int) -> None:
    """5xx on every attempt raises ServerError after exactly `attempts` requests and attempts-1 sleeps."""
    server = FakePartnerCenter(_fault(500, 800003, "Unexpected service error"))
    retry = RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.1, max_total_delay=10.0)
    async with Harness(server, retry) as h:
        with pytest.raises(ServerError) as caught:
            await h.attest()

    assert len(server.requests) == attempts
    assert len(h.sleep.delays) == attempts - 1
    assert caught.value.code == "800003"
    assert caught.value.ids.request_id == REQUEST_ID


async def test_permanent_error_is_not_retried() -> None:
    """A 4xx goes straight back to the caller after one request."""
    server = FakePartnerCenter(_fault(404, 60003, "Tenant not found"))
    async with Harness(server) as h:
        with pytest.raises(UnknownCustomer):
            await h.attest()

    assert len(server.requests) == 1
    assert h.sleep.delays == []


async def test_already_attested_is_raised_without_retry() -> None:
    """600061 raises AlreadyAttested after one request."""
    server = FakePartnerCenter(_fault(400, 600061, "Partner confirmed agreement already exists."))
    async with Harness(server) as h:
        with pytest.raises(AlreadyAttested):
            await h.attest()

    assert len(server.requests) == 1


async def test_dropped_connection_is_retried_then_connection_failed() -> None:
    """A dropped connection is retried; when it keeps failing, ConnectionFailed carries the request ids."""
    server = FakePartnerCenter(_drop_connection)
    async with Harness(server) as h:
        with pytest.raises(ConnectionFailed) as caught:
            await h.attest()

    assert len(server.requests) == 3
    assert server.header("MS-RequestId") == [REQUEST_ID] * 3
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.ids.request_id == REQUEST_ID
    assert caught.value.ids.correlation_id == CORRELATION_ID


def _undecodable_body(request: httpx.Request) -> httpx.Response:
    raise httpx.DecodingError("Error -3 while decompressing data: incorrect header check", request=request)


def _malformed_status_line(request: httpx.Request) -> httpx.Response:
    url = yarl.URL(str(request.url))
    info = aiohttp.RequestInfo(url, request.method, CIMultiDictProxy(CIMultiDict()), url)
    raise aiohttp.ClientResponseError(info, (), status=400, message="Bad status line")


@pytest.mark.parametrize("fail", [_undecodable_body, _malformed_status_line], ids=["decoding", "aiohttp-parser"])
async def test_http_stack_errors_that_are_not_transport_errors_are_connection_failed(fail: Answer) -> None:
    """httpx's DecodingError and aiohttp's own parser errors are retried, then raised as ConnectionFailed."""
    server = FakePartnerCenter(fail)
    async with Harness(server) as h:
        with pytest.raises(ConnectionFailed) as caught:
            await h.attest()

    assert len(server.requests) == 3
    assert caught.value.__cause__ is not None
    assert caught.value.ids.request_id == REQUEST_ID


async def test_dropped_connection_then_success() -> None:
    """A connection dropped once is retried and the call succeeds."""
    server = FakePartnerCenter(_drop_connection, _created())
    async with Harness(server) as h:
        assert (await h.attest()).user_id == "user-7"

    assert len(h.sleep.delays) == 1


# --- re-authentication ---------------------------------------------------------------------------------------------


async def test_one_401_reacquires_the_token_and_retries() -> None:
    """401 once: the token is invalidated, a new one acquired, the call retried once without sleeping."""
    server = FakePartnerCenter(_fault(401, 900420, "Invalid Token"), _created())
    async with Harness(server) as h:
        assert (await h.attest()).user_id == "user-7"

    assert h.tokens.invalidated == ["token-1"]
    assert server.header("Authorization") == ["Bearer token-1", "Bearer token-2"]
    assert server.header("MS-RequestId") == [REQUEST_ID] * 2
    assert h.sleep.delays == []


async def test_two_401s_raise_auth_error() -> None:
    """401 again with a fresh token raises AuthError after exactly two requests."""
    server = FakePartnerCenter(_fault(401, 10001, "MFA required"))
    async with Harness(server) as h:
        with pytest.raises(AuthError) as caught:
            await h.attest()

    assert len(server.requests) == 2
    assert h.tokens.invalidated == ["token-1"]
    assert caught.value.code == "10001"


async def test_401_without_partner_center_body_reauthenticates_then_is_unreachable() -> None:
    """A 401 with an empty body is first retried once with a fresh token; still 401, it is Unreachable (retried)."""
    server = FakePartnerCenter(httpx.Response(401))
    async with Harness(server) as h:
        with pytest.raises(Unreachable) as caught:
            await h.attest()

    assert h.tokens.invalidated == ["token-1"]
    assert server.header("Authorization")[:2] == ["Bearer token-1", "Bearer token-2"]
    assert len(server.requests) == 4  # the re-authenticated try, then the policy's three attempts
    assert caught.value.status == 401


async def test_401_without_partner_center_body_cured_by_a_fresh_token() -> None:
    """A 401 with an HTML body followed, with a fresh token, by 201 is a success."""
    server = FakePartnerCenter(httpx.Response(401, content=b"<html>Unauthorized</html>"), _created())
    async with Harness(server) as h:
        assert (await h.attest()).user_id == "user-7"

    assert h.tokens.invalidated == ["token-1"]


async def test_reauthentication_does_not_use_up_attempts() -> None:
    """After a 401, the call still has its full retry budget for transient errors."""
    server = FakePartnerCenter(
        _fault(401, 1002, "Authorization Failed"), httpx.Response(503), httpx.Response(503), _created()
    )
    async with Harness(server) as h:
        assert (await h.attest()).user_id == "user-7"

    assert len(server.requests) == 4


# --- parsing -------------------------------------------------------------------------------------------------------


async def test_metadata_always_sends_agreement_type_and_ignores_other_types() -> None:
    """get_agreement_metadata sends agreementType and keeps only well-formed items of the asked type."""
    items: list[Any] = [
        {"templateId": MCA_TEMPLATE, "agreementType": MCA, "agreementLink": "https://aka.ms/customeragreement"},
        {"templateId": "0c9b5c3f-0a1e-4f6c-9f55-3a3f4c7d0a11", "agreementType": MCLOUDA, "versionRank": 3},
        {"templateId": "11111111-1111-1111-1111-111111111111", "agreementType": "MicrosoftPartnerAgreement"},
        {"agreementType": MCA, "versionRank": 9},
        "not an object",
        {"templateId": "22222222-2222-2222-2222-222222222222", "agreementType": MCA, "versionRank": 1},
    ]
    server = FakePartnerCenter(
        httpx.Response(200, json={"totalCount": len(items), "items": items, "attributes": {"objectType": "Collection"}})
    )
    async with Harness(server) as h:
        metadata = await h.client.get_agreement_metadata(MCA)

    [request] = server.requests
    assert request.url.path == "/v1/agreements"
    assert request.url.params["agreementType"] == MCA
    assert metadata.agreement_type == MCA
    assert [t.template_id for t in metadata.templates] == [MCA_TEMPLATE, "22222222-2222-2222-2222-222222222222"]
    assert metadata.current.template_id == "22222222-2222-2222-2222-222222222222"
    assert metadata.templates[0].agreement_link == "https://aka.ms/customeragreement"
    assert metadata.fetched_at.tzinfo is UTC


async def test_metadata_with_no_items() -> None:
    """An empty or missing items list gives metadata with no templates."""
    server = FakePartnerCenter(httpx.Response(200, json={"totalCount": 0}))
    async with Harness(server) as h:
        assert (await h.client.get_agreement_metadata(MCA)).templates == ()


async def test_list_customer_agreements_parses_dates_as_utc() -> None:
    """dateAgreed with Z, without Z, or with 7 fractional digits is parsed as UTC; agreementType is sent."""
    items: list[Any] = [
        {"templateId": MCA_TEMPLATE, "type": MCA, "dateAgreed": "2018-06-14T00:00:00.000Z"},
        {"templateId": MCA_TEMPLATE, "type": MCA, "dateAgreed": "2019-10-24T08:15:00"},
        {"templateId": MCA_TEMPLATE, "dateAgreed": "2019-08-13T17:43:18.4433333"},
        "not an object",
    ]
    server = FakePartnerCenter(httpx.Response(200, json={"totalCount": 3, "items": items}))
    async with Harness(server) as h:
        agreements = await h.client.list_customer_agreements(TENANT)

    [request] = server.requests
    assert request.url.path == f"/v1/customers/{TENANT}/agreements"
    assert request.url.params["agreementType"] == MCA
    assert agreements == [
        CustomerAgreement(MCA_TEMPLATE, MCA, datetime(2018, 6, 14, tzinfo=UTC)),
        CustomerAgreement(MCA_TEMPLATE, MCA, datetime(2019, 10, 24, 8, 15, tzinfo=UTC)),
        CustomerAgreement(MCA_TEMPLATE, MCA, datetime(2019, 8, 13, 17, 43, 18, 443333, tzinfo=UTC)),
    ]


async def test_list_customer_agreements_with_odd_dates() -> None:
    """A missing or unparseable dateAgreed does not escape the error tree: it reads as the earliest date."""
    items: list[Any] = [{"templateId": MCA_TEMPLATE, "type": MCA}, {"templateId": MCA_TEMPLATE, "dateAgreed": "soon"}]
    server = FakePartnerCenter(httpx.Response(200, json={"items": items}))
    async with Harness(server) as h:
        agreements = await h.client.list_customer_agreements(TENANT)

    assert [a.date_agreed for a in agreements] == [datetime.min.replace(tzinfo=UTC)] * 2


@pytest.mark.parametrize("signed", [True, False])
async def test_get_direct_signed_status(signed: bool) -> None:
    """get_direct_signed_status reads isSigned from the customer's direct-signed status resource."""
    server = FakePartnerCenter(httpx.Response(200, json={"isSigned": signed}))
    async with Harness(server) as h:
        assert await h.client.get_direct_signed_status(TENANT) is signed

    assert server.requests[0].url.path == f"/v1/customers/{TENANT}/directSignedMicrosoftCustomerAgreementStatus"


@pytest.mark.parametrize("body", [b"[1]", b"<html>ok</html>", b"null", b""])
async def test_get_with_unexpected_success_body_is_unreachable(body: bytes) -> None:
    """A 200 whose body is not a JSON object is Unreachable (a proxy answered), retried, with the request ids."""
    server = FakePartnerCenter(httpx.Response(200, content=body))
    async with Harness(server) as h:
        with pytest.raises(Unreachable) as caught:
            await h.client.get_direct_signed_status(TENANT)

    assert len(server.requests) == 3
    assert caught.value.ids.request_id == server.header("MS-RequestId")[0]
    assert caught.value.status == 200


@pytest.mark.parametrize(
    ("status", "body", "user_id"),
    [
        (201, b'{"userId": null}', ""),
        (201, b'{"templateId": "117a77b0-9360-443b-8795-c6dedc750cf9"}', ""),
        (200, b'{"userId": "user-9"}', "user-9"),
    ],
)
async def test_created_with_a_json_object_is_proof(status: int, body: bytes, user_id: str) -> None:
    """A 200/201 whose body is a JSON object (the echoed agreement) is a CreatedAgreement; userId when present."""
    server = FakePartnerCenter(httpx.Response(status, content=body, headers={"MS-CV": "cv-9"}))
    async with Harness(server) as h:
        created = await h.attest()

    assert created.user_id == user_id
    assert (created.ids.request_id, created.ids.correlation_id, created.ids.ms_cv) == (
        REQUEST_ID,
        CORRELATION_ID,
        "cv-9",
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (201, b""),
        (200, b"   "),
        (201, b"<html>Created</html>"),
        (200, b"<!DOCTYPE html><html><body>Access policy: allowed</body></html>"),
        (201, b"[]"),
        (201, b"null"),
        (201, b'"created"'),
        (202, b'{"userId": "user-9"}'),
    ],
)
async def test_success_without_the_agreement_is_not_proof(status: int, body: bytes) -> None:
    """A 2xx to the POST without the echoed agreement (empty, HTML, JSON that is not an object, 202) is Unreachable."""
    server = FakePartnerCenter(httpx.Response(status, content=body))
    async with Harness(server) as h:
        with pytest.raises(Unreachable) as caught:
            await h.attest()

    assert len(server.requests) == 3  # transient: retried with the same MS-RequestId
    assert server.header("MS-RequestId") == [REQUEST_ID] * 3
    assert caught.value.status == status


async def test_odd_success_then_already_attested() -> None:
    """An HTML 201 is retried; the second POST's 600061 shows the first landed: AlreadyAttested, not a loss."""
    server = FakePartnerCenter(
        httpx.Response(201, content=b"<html>OK</html>"),
        _fault(400, 600061, "A partner confirmed agreement already exists."),
    )
    async with Harness(server) as h:
        with pytest.raises(AlreadyAttested):
            await h.attest()

    assert len(server.requests) == 2


# --- logs ------------------------------------------------------------------------------------------------------------


def _record_text(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + json.dumps({k: str(v) for k, v in record.__dict__.items()})


async def test_logs_carry_ids_and_no_secrets_or_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    """Each attempt logs status, code, MS-CV and request ids, never the bearer token or the contact."""
    caplog.set_level(logging.INFO, logger="shared.partner_center.client")
    server = FakePartnerCenter(
        _fault(503, 800003, "Unexpected service error", headers={"MS-CV": "cv-failed.1"}), _created()
    )
    async with Harness(server) as h:
        await h.attest()

    failed, created = caplog.records
    assert failed.levelno == logging.WARNING
    assert created.levelno == logging.INFO
    for record, status, cv in ((failed, 503, "cv-failed.1"), (created, 201, "cv-created.1")):
        fields = record.__dict__
        assert fields["event"] == "partner_center.response"
        assert fields["status"] == status
        assert fields["ms_cv"] == cv
        assert fields["ms_request_id"] == REQUEST_ID
        assert fields["ms_correlation_id"] == CORRELATION_ID
        text = _record_text(record)
        assert "token-1" not in text
        for personal in PERSONAL_DATA:
            assert personal not in text
    assert failed.__dict__["pc_code"] == "800003"
    assert failed.__dict__["error_kind"] == "ServerError"
    assert failed.__dict__["retryable"] is True
    assert [failed.__dict__["attempt"], created.__dict__["attempt"]] == [1, 2]


async def test_log_of_a_dropped_connection(caplog: pytest.LogCaptureFixture) -> None:
    """A dropped connection logs "no response" with the request ids."""
    caplog.set_level(logging.INFO, logger="shared.partner_center.client")
    server = FakePartnerCenter(_drop_connection, _created())
    async with Harness(server) as h:
        await h.attest()

    record = caplog.records[0]
    assert "no response" in record.getMessage()
    assert record.__dict__["status"] is None
    assert record.__dict__["error_kind"] == "ConnectionFailed"
    assert record.__dict__["ms_request_id"] == REQUEST_ID


# --- the adaptive limiter ----------------------------------------------------------------------------------------


class RefusingOnceTokens(FakeTokens):
    """The token endpoint refuses the first request (recorded in ``refused``), then hands out tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def get_token(self) -> str:
        if self.refused == 0:
            self.refused += 1
            raise AuthError("token endpoint refused")
        return await super().get_token()


def _limiter(clock: ManualClock) -> AdaptiveLimiter:
    return AdaptiveLimiter(LimiterPolicy(max_pause_wait=60.0), clock=clock, sleep=clock.sleep)


async def test_with_the_limiter_429s_are_waited_out_as_pauses_without_spending_attempts() -> None:
    """Three 429s (Retry-After 2) then 201 with 3 attempts: the limiter pauses 2 s each time and the call succeeds."""
    throttled = httpx.Response(429, headers={"Retry-After": "2"})
    server = FakePartnerCenter(throttled, throttled, throttled, _created())
    clock = ManualClock()
    async with Harness(server, limiter=_limiter(clock)) as h:
        created = await h.attest()

    assert created.user_id == "user-7"
    assert len(server.requests) == 4
    assert clock.sleeps.count(2.0) == 3
    assert h.sleep.delays == []  # the retry policy's own sleep is not used for 429s
    assert set(server.header("MS-RequestId")) == {REQUEST_ID}


async def test_with_the_limiter_a_pause_longer_than_a_call_waits_raises_paused() -> None:
    """Retry-After 120 (over the 60 s a call waits): ``Paused`` with the 120 s left, after one request only."""
    server = FakePartnerCenter(httpx.Response(429, headers={"Retry-After": "120"}))
    clock = ManualClock()
    async with Harness(server, limiter=_limiter(clock)) as h:
        with pytest.raises(Paused) as caught:
            await h.attest()

    assert caught.value.retry_after == pytest.approx(120.0)
    assert len(server.requests) == 1


async def test_with_the_limiter_a_token_failure_gives_the_permit_back() -> None:
    """The token provider fails inside a permit (maximum concurrency 1): the next call still gets one."""
    server = FakePartnerCenter(_created())
    clock = ManualClock()
    limiter = AdaptiveLimiter(LimiterPolicy(max_concurrency=1), clock=clock, sleep=clock.sleep)
    async with Harness(server, limiter=limiter) as h:
        h.client = PartnerCenterClient(h.http, base_url=BASE_URL, tokens=RefusingOnceTokens(), limiter=limiter)
        with pytest.raises(AuthError):
            await h.attest()
        created = await asyncio.wait_for(h.attest(), timeout=5)

    assert created.user_id == "user-7"


async def test_no_agreements_is_an_empty_list_logged_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """Partner Center's 404 600009 for a customer without agreements is an empty list, not a warning."""
    body = {"code": 600009, "description": "No agreements found for the customer.", "errorName": "AgreementsNotFound"}
    server = FakePartnerCenter(httpx.Response(404, json=body))
    with caplog.at_level(logging.INFO, logger="shared.partner_center"):
        async with Harness(server) as h:
            agreements = await h.client.list_customer_agreements(TENANT)
    assert agreements == []
    answers = [r for r in caplog.records if getattr(r, "event", "") == "partner_center.response"]
    assert [r.levelno for r in answers] == [logging.INFO]
    assert answers[0].__dict__["error_kind"] == ""  # an answer, not an UnknownCustomer
    assert answers[0].__dict__["pc_code"] == "600009"
