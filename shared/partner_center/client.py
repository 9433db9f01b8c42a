"""The Partner Center client: four calls over one shared ``httpx.AsyncClient``.

The client never builds its HTTP client: it receives one (pooled, with explicit timeouts — see
``new_http_client``), so a process keeps a single connection pool, and tests can hand it a client
bound to the local simulator or an ``httpx.MockTransport``.

Every call sends ``MS-RequestId`` (the caller's, for the attestation POST; one per logical call
otherwise) and keeps it across retries, ``MS-CorrelationId``, ``MS-PartnerCenter-Application`` and JSON
headers; logs status, Partner Center code, ``MS-CV`` and the request ids — never the token or the body.

With an ``AdaptiveLimiter`` (``throttle.py``; ``bootstrap`` passes one unless the setting turns it off),
every attempt of every call — the POST and the GETs — first takes the limiter's permit, and a 429 is waited
out by the process-wide pause instead of the retry policy's backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.attestation.errors import (
    AuthError,
    PartnerCenterError,
    Paused,
    RequestIds,
    Throttled,
    TransientError,
    Unreachable,
)
from shared.attestation.metadata import KNOWN_AGREEMENT_TYPES, AgreementMetadata, AgreementTemplate
from shared.partner_center.agreement_request import AgreementRequest
from shared.partner_center.auth import TokenProvider
from shared.partner_center.responses import (
    HTTP_STACK_ERRORS,
    classify_response,
    success_document,
    translate_transport_error,
)
from shared.partner_center.retry import RetryPolicy
from shared.partner_center.throttle import AdaptiveLimiter, LongPause, Permit

log = logging.getLogger(__name__)

NO_AGREEMENTS = "600009"  # GET a customer's agreements: "no agreements found" (404), i.e. an empty list
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)


def new_http_client(*, max_connections: int = 100, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    """The process's one pooled HTTP client. Keep-alive connections are reused across calls.

    The httpx API on an aiohttp connection pool (``httpx-aiohttp``): httpcore's pool degrades sharply
    beyond ~32 concurrent requests (bench/bench_attestation.py measured 0.15 of the ideal rate at 64,
    with ~10 ms CPU per call); aiohttp's pool holds the ideal rate there.
    """
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits), timeout=timeout, limits=limits, follow_redirects=False
    )


@dataclass(frozen=True, slots=True)
class CreatedAgreement:
    """Partner Center's answer to a successful attestation."""

    user_id: str
    ids: RequestIds


@dataclass(frozen=True, slots=True)
class CustomerAgreement:
    """One of a customer's recorded attestations. ``contact`` (first name, last name, email, phone) is personal
    data: the pre-check hashes it at once (``shared.partner_center.acceptance``); it is never logged or shown."""

    template_id: str
    agreement_type: str
    date_agreed: datetime
    contact: tuple[str, str, str, str] = field(default=("", "", "", ""), repr=False)


class PartnerCenterClient:
    """Typed calls to Partner Center with bounded retries and one re-authentication on 401."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        tokens: TokenProvider,
        application_name: str = "mca-attest",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        limiter: AdaptiveLimiter | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._application_name = application_name
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.limiter = limiter

    async def create_customer_agreement(
        self, request: AgreementRequest, *, request_id: str, correlation_id: str
    ) -> CreatedAgreement:
        """POST the attestation. Raises ``AlreadyAttested`` (600061) or another ``PartnerCenterError``.

        Only a 200/201 carrying a JSON object (Partner Center echoes the agreement, plus ``userId``) proves the
        attestation. Any other success — an empty body, a proxy's HTML page, JSON that is not an object — proves
        nothing: it is ``Unreachable`` and retried with the same MS-RequestId, so if the first POST did land
        the retry gets 600061 (``AlreadyAttested``). The echo's fields are read leniently (``userId`` may be
        missing); that it is a JSON object is the proof.
        """
        doc, ids = await self._call(
            "POST",
            f"/v1/customers/{request.customer_tenant_id}/agreements",
            content=request.canonical_bytes(),
            request_id=request_id,
            correlation_id=correlation_id,
        )
        return CreatedAgreement(user_id=str(doc.get("userId") or ""), ids=ids)

    async def get_agreement_metadata(self, agreement_type: str) -> AgreementMetadata:
        """Templates of ``agreement_type``. Always sends agreementType: without it the service answers
        Cloud Agreement templates only. Items of other or unknown types are ignored."""
        doc, _ = await self._call("GET", "/v1/agreements", params={"agreementType": agreement_type})
        items = doc.get("items") or []
        templates = tuple(
            AgreementTemplate.from_json(item)
            for item in items
            if isinstance(item, Mapping)
            and item.get("agreementType") == agreement_type
            and item.get("agreementType") in KNOWN_AGREEMENT_TYPES
            and item.get("templateId")
        )
        return AgreementMetadata(agreement_type=agreement_type, templates=templates, fetched_at=datetime.now(UTC))

    async def list_customer_agreements(
        self, customer_tenant_id: str, agreement_type: str = "MicrosoftCustomerAgreement"
    ) -> list[CustomerAgreement]:
        """A customer's attestations of one type. New ones may take hours to appear (documented lag)."""
        try:
            doc, _ = await self._call(
                "GET",
                f"/v1/customers/{customer_tenant_id}/agreements",
                params={"agreementType": agreement_type},
                expected_codes=frozenset({NO_AGREEMENTS}),
            )
        except PartnerCenterError as error:
            if error.code == NO_AGREEMENTS:  # Partner Center's answer for a customer with none: an empty list
                return []
            raise
        result = []
        for item in doc.get("items") or []:
            if not isinstance(item, Mapping):
                continue
            result.append(
                CustomerAgreement(
                    template_id=str(item.get("templateId") or ""),
                    agreement_type=str(item.get("type") or agreement_type),
                    date_agreed=_parse_date_agreed(str(item.get("dateAgreed") or "")),
                    contact=_contact_of(item.get("primaryContact")),
                )
            )
        return result

    async def get_direct_signed_status(self, customer_tenant_id: str) -> bool:
        """Whether the customer accepted the MCA itself in the Microsoft 365 admin center."""
        doc, _ = await self._call(
            "GET", f"/v1/customers/{customer_tenant_id}/directSignedMicrosoftCustomerAgreementStatus"
        )
        return bool(doc.get("isSigned"))

    async def call_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
    ) -> tuple[dict[str, Any], RequestIds]:
        """A route this client has no typed method for (the enhanced attestation's adapter): the same headers,
        retries, re-authentication and error translation; returns the success's JSON object and the ids."""
        return await self._call(
            method, path, params=params, content=body, request_id=request_id, correlation_id=correlation_id
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
        expected_codes: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Any], RequestIds]:
        """Send with retries; every attempt of one call carries the same MS-RequestId. Returns the success's
        JSON object; any other answer is an error of the tree, retried when transient. An error whose Partner
        Center code is in ``expected_codes`` is an answer the caller turns into a result: logged at INFO, not
        as a warning.

        With a limiter, every attempt first takes a permit (pacing, the concurrency cap, pauses), and a 429 is
        waited out by the next permit (the limiter paused the process) within ``max_pause_wait`` per call,
        without spending an attempt; a longer pause raises ``Paused``."""
        request_id = request_id or str(uuid.uuid4())
        correlation_id = correlation_id or str(uuid.uuid4())
        attempt, waited, reauthenticated, throttled_rounds = 0, 0.0, False, 0
        pause_budget = self.limiter.policy.max_pause_wait if self.limiter is not None else 0.0
        while True:
            attempt += 1
            ids = RequestIds(request_id=request_id, correlation_id=correlation_id)
            permit = await self._permit(pause_budget, ids)
            if permit is not None:
                pause_budget -= permit.paused_for
            try:
                answer = await self._attempt(
                    method, path, params, content, request_id, correlation_id, attempt, expected_codes
                )
            except BaseException:  # the token provider's errors, cancellation: the permit goes back first
                if permit is not None and self.limiter is not None:
                    self.limiter.failed(permit)
                raise
            await self._release(permit, answer.error)
            error, ids = answer.error, answer.ids
            if error is None:
                assert answer.doc is not None
                return answer.doc, ids
            if error.status == 401 and isinstance(error, AuthError | Unreachable) and not reauthenticated:
                # The token may have expired or been revoked since it was cached: one fresh try, whatever
                # the 401's body, before deciding what the 401 means.
                reauthenticated = True
                self._tokens.invalidate(answer.token)
                attempt -= 1
                continue
            if isinstance(error, Throttled) and self.limiter is not None:
                # The limiter paused the process: the next permit waits it out, or raises Paused. Each pause lasts
                # at least ``default_pause``, so the budget bounds the 429s too; the count guards overlapping pauses.
                throttled_rounds += 1
                policy = self.limiter.policy
                if throttled_rounds <= policy.max_pause_wait / policy.default_pause:
                    attempt -= 1
                    continue
            delay = self._retry.next_delay(attempt, error, waited, self._rng)
            if delay is None:
                raise error from answer.cause
            waited += delay
            await self._sleep(delay)

    async def _permit(self, pause_budget: float, ids: RequestIds) -> Permit | None:
        """The limiter's permit for one attempt (None without a limiter); a pause too long to wait is ``Paused``."""
        if self.limiter is None:
            return None
        try:
            return await self.limiter.acquire(pause_budget)
        except LongPause as pause:
            raise Paused(
                f"Partner Center throttling paused every call for another {pause.seconds:.0f} s, "
                "longer than one call waits",
                retry_after=pause.seconds,
                ids=ids,
            ) from None

    async def _release(self, permit: Permit | None, error: PartnerCenterError | None) -> None:
        """Tell the limiter how the attempt went: a 429, an answer (any non-transient one counts), or neither."""
        if permit is None or self.limiter is None:
            return
        if isinstance(error, Throttled):
            await self.limiter.throttled(permit, error.retry_after)
        elif error is None or not isinstance(error, TransientError):
            self.limiter.succeeded(permit)
        else:
            self.limiter.failed(permit)

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        request_id: str,
        correlation_id: str,
        attempt: int,
        expected_codes: frozenset[str] = frozenset(),
    ) -> _Answer:
        """One HTTP exchange, translated: the success's JSON object or an error of the tree."""
        token = await self._tokens.get_token()
        ids = RequestIds(request_id=request_id, correlation_id=correlation_id)
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method,
                self._base_url + path,
                params=params,
                content=content,
                headers=self._headers(token, request_id, correlation_id, has_body=content is not None),
            )
        except HTTP_STACK_ERRORS as exc:  # the one edge where the HTTP stack's failures enter the tree
            error: PartnerCenterError = translate_transport_error(exc, ids)
            self._log(method, path, attempt, started, ids, status=None, error=error)
            return _Answer(token, ids, error=error, cause=exc)
        ids = RequestIds(request_id, correlation_id, response.headers.get("MS-CV", ""))
        doc = success_document(response)
        if doc is not None:
            self._log(method, path, attempt, started, ids, status=response.status_code)
            return _Answer(token, ids, doc=doc)
        error = classify_response(response, ids)
        expected = error.code in expected_codes
        self._log(method, path, attempt, started, ids, status=response.status_code, error=error, expected=expected)
        return _Answer(token, ids, error=error)

    def _headers(self, token: str, request_id: str, correlation_id: str, *, has_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "MS-RequestId": request_id,
            "MS-CorrelationId": correlation_id,
            "MS-PartnerCenter-Application": self._application_name,
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    @staticmethod
    def _log(
        method: str,
        path: str,
        attempt: int,
        started: float,
        ids: RequestIds,
        *,
        status: int | None,
        error: PartnerCenterError | None = None,
        expected: bool = False,
    ) -> None:
        level = logging.INFO if error is None or expected else logging.WARNING
        if level < log.getEffectiveLevel():  # skip building the record on the hot path
            return
        log.log(
            level,
            "partner center %s %s -> %s",
            method,
            path,
            status if status is not None else "no response",
            extra={
                "event": "partner_center.response",
                "status": status,
                "pc_code": error.code if error else "",
                # An expected code (e.g. 600009, "no agreements") is an answer, not an error of some kind.
                "error_kind": type(error).__name__ if error and not expected else "",
                "retryable": isinstance(error, TransientError),
                "attempt": attempt,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "ms_request_id": ids.request_id,
                "ms_correlation_id": ids.correlation_id,
                "ms_cv": ids.ms_cv,
            },
        )


def _contact_of(raw: object) -> tuple[str, str, str, str]:
    if not isinstance(raw, Mapping):
        return ("", "", "", "")
    first, last, email, phone = (str(raw.get(k) or "") for k in ("firstName", "lastName", "email", "phoneNumber"))
    return (first, last, email, phone)


@dataclass(frozen=True, slots=True)
class _Answer:
    """One attempt's result: the success's document, or the error (with the HTTP stack's exception, if any)."""

    token: str
    ids: RequestIds
    doc: dict[str, Any] | None = None
    error: PartnerCenterError | None = None
    cause: BaseException | None = None  # chained with ``raise … from``


def _parse_date_agreed(raw: str) -> datetime:
    """The service may omit the trailing Z: a date without an offset is UTC. Missing or unreadable: the earliest."""
    try:
        date = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else datetime.min
    except ValueError:
        date = datetime.min
    return date if date.tzinfo else date.replace(tzinfo=UTC)
