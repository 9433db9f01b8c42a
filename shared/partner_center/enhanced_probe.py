"""``mca-attest probe enhanced``: one round trip of the enhanced attestation, and a verdict per assumed field.

The configuration (``enhanced_api.py``) holds the best reading of Microsoft's outline; this module checks it
against a real endpoint (the CSP integration sandbox) for one test customer, through the same adapter the flow
uses (``EnhancedAttestationApi``), with app-only tokens:

1. create the enhanced attestation (skipped with an existing ``attestation_id``);
2. read its status;
3. only when asked (``finalize``) and only once Partner Center reports the customer's acceptance: create the
   agreement with the attestation id. The probe never accepts on the customer's behalf.

Every HTTP exchange (the token request too) is recorded by ``RecordingTransport`` and printed with personal data
and credentials masked (``probe_mask.Masker``). Each *assumed* key of the configuration gets a verdict:

- ``found``: the call using it succeeded, or the answer had it as the configuration says;
- ``missing``: the answer lacks the field, or the route answered 404;
- ``different shape``: the field is there with another type, a status value falls in no (or another) list, or
  Partner Center refused the request naming the field;
- ``not checked``: this run could not reach it (an earlier call failed; ``statusAccepted`` and the attestation
  id's place need ``--finalize`` after the customer accepted; ``statusExpired`` / ``statusRejected`` need an
  expired or declined attestation, re-read with ``--attestation-id``).

A ``not checked`` verdict is either left for *another kind of run* (``Verdict.another_run``: the request fields
in a re-read, the status lists other than the one read, the attestation id's place without ``--finalize``) or a
gap of this run (an empty field of the configuration, a test customer without a phone number, a call that
failed first).

The report is ``ok`` when every call succeeded and no verdict is ``missing`` or ``different shape``; it passes
strictly (``passed(strict=True)``) when it is ``ok`` and has no gaps: every key this kind of run reaches was
``found``. No single run finds every key (a status reads one list at a time), so strict cannot mean that.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from shared.attestation.errors import AlreadyAttested, PartnerCenterError
from shared.attestation.metadata import MCA
from shared.attestation.ports import StatusKind
from shared.partner_center.client import DEFAULT_TIMEOUT, PartnerCenterClient
from shared.partner_center.enhanced_api import ITEMS, EnhancedApiSettings
from shared.partner_center.enhanced_attestation import (
    EnhancedAttestationApi,
    EnhancedAttestationRequest,
    EnhancedResponseMismatch,
    derive_enhanced_request_id,
    signatory_agreement_request,
)
from shared.partner_center.probe_mask import Masker
from shared.partner_center.retry import RetryPolicy
from shared.settings import AuthMode, Settings

VerdictKind = Literal["found", "missing", "different shape", "not checked"]
FAILING: frozenset[str] = frozenset({"missing", "different shape"})

ASSUMED_KEYS: tuple[str, ...] = tuple(item.key for item in ITEMS if item.status == "assumed")
_STATUS_LISTS = {
    StatusKind.PENDING: "statusPending",
    StatusKind.ACCEPTED: "statusAccepted",
    StatusKind.EXPIRED: "statusExpired",
    StatusKind.REJECTED: "statusRejected",
}
REQUEST_HEADERS = ("Authorization", "MS-RequestId", "MS-CorrelationId", "MS-PartnerCenter-Application", "Content-Type")
RESPONSE_HEADERS = (
    "Content-Type",
    "MS-CV",
    "MS-RequestId",
    "MS-CorrelationId",
    "Retry-After",
    "Location",
    "WWW-Authenticate",
)


@dataclass(frozen=True, slots=True)
class Verdict:
    key: str
    verdict: VerdictKind
    detail: str
    another_run: bool = False  # "not checked" because only another kind of run reaches it (not a gap of this one)


@dataclass(slots=True)
class Exchange:
    """One HTTP request and its response (or the transport error), as sent and received."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    error: str = ""

    def response_json(self) -> dict[str, Any] | None:
        try:
            document = json.loads(self.response_body)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None


class RecordingTransport(httpx.AsyncBaseTransport):
    """Sends through ``inner`` and keeps every exchange, bodies read in full."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = Exchange(request.method, str(request.url), _raw(request.headers), request.content)
        self.exchanges.append(exchange)
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            exchange.error = type(exc).__name__
            raise
        exchange.response_body = await response.aread()
        exchange.status = response.status_code
        exchange.response_headers = _raw(response.headers)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _raw(headers: httpx.Headers) -> list[tuple[str, str]]:
    """Header pairs as sent, in their own spelling."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.raw]


_NOT_REACHED = "not reached in this run"
_HINTS = {
    "statusPending": "seen on a new attestation: run without --attestation-id",
    "statusAccepted": "seen once the customer accepted: --attestation-id ID --finalize",
    "statusExpired": "seen on an attestation whose link expired: --attestation-id ID",
    "statusRejected": "seen on an attestation the customer declined: --attestation-id ID",
}


@dataclass(slots=True)
class ProbeReport:
    """The verdicts (in the configuration's order), what failed, and what the round trip learnt."""

    verdicts: dict[str, Verdict]
    failures: list[str] = field(default_factory=list)
    attestation_id: str = ""
    raw_status: str = ""
    acceptance_link: str = field(default="", repr=False)
    agreement_created: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not any(v.verdict in FAILING for v in self.verdicts.values())

    def gaps(self) -> list[str]:
        """The keys this run reaches and did not find: every verdict but ``found``, bar those left for another run."""
        return [v.key for v in self.verdicts.values() if v.verdict != "found" and not v.another_run]

    def left_for_other_runs(self) -> list[str]:
        return [v.key for v in self.verdicts.values() if v.another_run]

    def passed(self, *, strict: bool) -> bool:
        """``ok``; and, when ``strict``, no gaps."""
        return self.ok and not (strict and self.gaps())

    def set(self, key: str, verdict: VerdictKind, detail: str) -> None:
        self.verdicts[key] = Verdict(key, verdict, detail)

    def leave(self, key: str, detail: str) -> None:
        """``key`` is not checked because only another kind of run reaches it."""
        self.verdicts[key] = Verdict(key, "not checked", detail, another_run=True)


@asynccontextmanager
async def open_probe_client(
    settings: Settings, *, base_url: str = "", transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[tuple[PartnerCenterClient, RecordingTransport]]:
    """An app-only ``PartnerCenterClient`` whose every exchange is recorded; one attempt per call (no retries)."""
    from shared.bootstrap import build_token_provider
    from shared.partner_center.secrets import open_secret_sources

    settings = replace(settings, auth_mode=AuthMode.APP_ONLY)  # the enhanced attestation supports nothing else
    recorder = RecordingTransport(transport or httpx.AsyncHTTPTransport())
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(transport=recorder, timeout=DEFAULT_TIMEOUT))
        refresh, credential = await open_secret_sources(settings, stack)
        client = PartnerCenterClient(
            http,
            base_url=base_url or settings.partner_center_base_url,
            tokens=build_token_provider(settings, http, refresh, credential),
            application_name=settings.application_name,
            retry=RetryPolicy(attempts=1),
        )
        yield client, recorder


async def probe_enhanced(
    client: PartnerCenterClient,
    settings: EnhancedApiSettings,
    request: EnhancedAttestationRequest,
    recorder: RecordingTransport,
    *,
    event_id: str,
    attestation_id: str = "",
    finalize: bool = False,
) -> ProbeReport:
    """The round trip; never raises a ``PartnerCenterError`` (each failure is a line of the report)."""
    report = ProbeReport({key: Verdict(key, "not checked", _HINTS.get(key, _NOT_REACHED)) for key in ASSUMED_KEYS})
    api = EnhancedAttestationApi(client, settings)
    correlation_id = str(uuid.uuid4())
    created = not attestation_id
    if created:
        attestation_id = await _create(api, request, recorder, report, event_id, correlation_id)
        if not attestation_id:
            return report
    else:
        for key in _CREATE_KEYS:
            report.leave(key, "no create in this run (--attestation-id)")
    report.attestation_id = attestation_id
    kind = await _status(api, recorder, report, attestation_id, correlation_id, created=created, finalize=finalize)
    if finalize and kind is StatusKind.ACCEPTED:
        await _finalize(client, api, request, report, event_id, correlation_id)
    elif not finalize:
        for key in ("attestationIdLocation", "attestationIdName"):
            report.leave(key, "needs --finalize after the customer accepted")
    return report


_CREATE_KEYS = (
    "apiVersion",
    "emailField",
    "phoneField",
    "customerIdField",
    "responseIdField",
    "responseLinkField",
    "responseLinkExpiryField",
)


async def _create(
    api: EnhancedAttestationApi,
    request: EnhancedAttestationRequest,
    recorder: RecordingTransport,
    report: ProbeReport,
    event_id: str,
    correlation_id: str,
) -> str:
    settings = api.settings
    body = request.body(settings)
    mark = len(recorder.exchanges)
    try:
        state = await api.create_attestation(
            request,
            request_id=derive_enhanced_request_id(event_id, "probe-create", body),
            correlation_id=correlation_id,
        )
    except EnhancedResponseMismatch as exc:
        _request_fields_accepted(report, settings, body)
        _response_fields(report, settings, _last_json(recorder, mark))
        report.failures.append(f"create attestation: {exc.description}")
        return ""
    except PartnerCenterError as exc:
        _request_fields_refused(report, settings, body, exc)
        report.failures.append(f"create attestation: {exc.summary()}")
        return ""
    _request_fields_accepted(report, settings, body)
    _response_fields(report, settings, _last_json(recorder, mark))
    report.acceptance_link = state.acceptance_link
    return state.attestation_id


def _request_fields_accepted(report: ProbeReport, settings: EnhancedApiSettings, body: Mapping[str, str]) -> None:
    report.set("apiVersion", "found", f"POST {settings.create_url_path()} answered with success")
    for key, name in _request_fields(settings):
        if not name:
            report.set(key, "not checked", "empty in the configuration: not sent")
        elif name not in body:
            report.set(key, "not checked", f"{name!r} not sent: the test customer has no value for it")
        else:
            report.set(key, "found", f"the create accepted a body with {name!r}")


def _request_fields_refused(
    report: ProbeReport, settings: EnhancedApiSettings, body: Mapping[str, str], error: PartnerCenterError
) -> None:
    if error.status == 404:
        report.set("apiVersion", "missing", f"POST {settings.create_url_path()} answered 404: no such route")
        return
    if error.status != 400:
        return  # auth, relationship, throttling: nothing learnt about the shape
    report.set("apiVersion", "found", f"POST {settings.create_url_path()} exists (it answered 400)")
    text = f"{error.description} {error.error_name}".casefold()
    for key, name in _request_fields(settings):
        if name and name in body and name.casefold() in text:
            report.set(
                key,
                "different shape",
                f"the create was refused (HTTP 400) with a message mentioning {name!r}: see the answer above",
            )


def _request_fields(settings: EnhancedApiSettings) -> tuple[tuple[str, str], ...]:
    return (
        ("emailField", settings.email_field),
        ("phoneField", settings.phone_field),
        ("customerIdField", settings.customer_id_field),
    )


def _response_fields(report: ProbeReport, settings: EnhancedApiSettings, doc: dict[str, Any] | None) -> None:
    for key, name in (
        ("responseIdField", settings.response_id_field),
        ("responseLinkField", settings.response_link_field),
        ("responseLinkExpiryField", settings.response_link_expiry_field),
    ):
        if not name:
            report.set(key, "not checked", "empty in the configuration: not read")
        else:
            report.verdicts[key] = _text_field(key, name, doc, "the create's answer")


def _text_field(key: str, name: str, doc: Mapping[str, Any] | None, where: str) -> Verdict:
    if doc is None:
        return Verdict(key, "different shape", f"{where} is not a JSON object")
    if name not in doc:
        present = ", ".join(sorted(str(k) for k in doc)) or "none"
        return Verdict(key, "missing", f"{where} has no {name!r} (fields: {present})")
    value = doc[name]
    if not isinstance(value, str) or not value:
        return Verdict(key, "different shape", f"{where} has {name!r} as {type(value).__name__}, not a text")
    return Verdict(key, "found", f"{where} has {name!r}")


async def _status(
    api: EnhancedAttestationApi,
    recorder: RecordingTransport,
    report: ProbeReport,
    attestation_id: str,
    correlation_id: str,
    *,
    created: bool,
    finalize: bool,
) -> StatusKind | None:
    settings = api.settings
    path = settings.status_url_path(attestation_id)
    mark = len(recorder.exchanges)
    try:
        state = await api.get_status(attestation_id, correlation_id=correlation_id)
    except EnhancedResponseMismatch as exc:
        report.set("statusPath", "found", f"GET {path} answered with success")
        report.verdicts["statusField"] = _text_field(
            "statusField", settings.status_field, _last_json(recorder, mark), "the status answer"
        )
        report.failures.append(f"read status: {exc.description}")
        return None
    except PartnerCenterError as exc:
        if exc.status == 404:
            report.set("statusPath", "missing", f"GET {path} answered 404: no such route (or attestation)")
        report.failures.append(f"read status: {exc.summary()}")
        return None
    report.set("statusPath", "found", f"GET {path} answered with success")
    report.set("statusField", "found", f"the status answer has {settings.status_field!r}")
    report.raw_status = state.raw_status
    report.acceptance_link = report.acceptance_link or state.acceptance_link
    expected = StatusKind.ACCEPTED if finalize else StatusKind.PENDING
    kind = state.status
    if kind is StatusKind.UNKNOWN:
        report.set(
            _STATUS_LISTS[expected],
            "different shape",
            f"status {state.raw_status!r} is in no status list (expected one of {_STATUS_LISTS[expected]})",
        )
        _leave_other_status_lists(report)
        return kind
    report.set(_STATUS_LISTS[kind], "found", f"status {state.raw_status!r} reads {kind.value}")
    _leave_other_status_lists(report)
    _accepted_at_field(report, settings, kind, _last_json(recorder, mark))
    if finalize and kind is not StatusKind.ACCEPTED:
        report.failures.append(
            f"not finalized: the attestation reads {kind.value} ({state.raw_status!r}), not accepted; "
            "the customer accepts on Microsoft's page, never the tool"
        )
    elif created and kind is not StatusKind.PENDING:
        report.failures.append(f"a new attestation reads {kind.value} ({state.raw_status!r}), not pending")
    return kind


def _accepted_at_field(
    report: ProbeReport, settings: EnhancedApiSettings, kind: StatusKind, doc: dict[str, Any] | None
) -> None:
    """When the customer accepted is in an accepted attestation's status answer only."""
    key, name = "responseAcceptedAtField", settings.response_accepted_at_field
    if not name:
        report.set(key, "not checked", "empty in the configuration: not read")
    elif kind is StatusKind.ACCEPTED:
        report.verdicts[key] = _text_field(key, name, doc, "the accepted attestation's status answer")
    else:
        report.leave(key, "needs a status read after the customer accepted (--finalize)")


def _leave_other_status_lists(report: ProbeReport) -> None:
    """One status read confirms one list at most: the others are for runs that see another status."""
    for key in _STATUS_LISTS.values():
        verdict = report.verdicts[key]
        if verdict.verdict == "not checked":
            report.leave(key, verdict.detail)


async def _finalize(
    client: PartnerCenterClient,
    api: EnhancedAttestationApi,
    request: EnhancedAttestationRequest,
    report: ProbeReport,
    event_id: str,
    correlation_id: str,
) -> None:
    try:
        template_id = (await client.get_agreement_metadata(MCA)).current.template_id
    except PartnerCenterError as exc:
        report.failures.append(f"read the MCA template: {exc.summary()}")
        return
    agreement = signatory_agreement_request(request, template_id=template_id, date_agreed=datetime.now(UTC))
    where = api.settings.attestation_id_location
    name = api.settings.attestation_id_name
    try:
        await api.create_agreement(
            agreement,
            report.attestation_id,
            request_id=derive_enhanced_request_id(
                event_id, "probe-agreement", {"attestationId": report.attestation_id}
            ),
            correlation_id=correlation_id,
        )
    except AlreadyAttested as exc:
        report.failures.append(f"create agreement: {exc.summary()}")
        return
    except PartnerCenterError as exc:
        if exc.status == 400:
            detail = f"the agreement POST with {name!r} in the {where} was refused (HTTP 400, see above)"
            report.set("attestationIdLocation", "different shape", detail)
            report.set("attestationIdName", "different shape", detail)
        report.failures.append(f"create agreement: {exc.summary()}")
        return
    report.agreement_created = True
    report.set("attestationIdLocation", "found", f"the agreement was created with the id in the {where}")
    report.set("attestationIdName", "found", f"the agreement was created with {name!r}")


def _last_json(recorder: RecordingTransport, mark: int) -> dict[str, Any] | None:
    """The JSON object of the last answered exchange since ``mark`` (the call's final attempt)."""
    for exchange in reversed(recorder.exchanges[mark:]):
        if exchange.status is not None:
            return exchange.response_json()
    return None


def masker_for(request: EnhancedAttestationRequest, settings: EnhancedApiSettings, links: list[str]) -> Masker:
    """The masker of one probe: the test customer's values, the configured personal and link fields."""
    return Masker(
        values=(
            request.first_name,
            request.last_name,
            request.email,
            request.phone_number,
            request.company_name,
        ),
        keys=(settings.email_field, settings.phone_field),
        link_keys=("acceptanceLink", settings.response_link_field),
        links=links,
    )


def format_exchanges(exchanges: list[Exchange], masker: Masker) -> list[str]:
    """Each exchange: method and URL, headers of interest, the body; the response likewise; all masked."""
    lines: list[str] = []
    for number, exchange in enumerate(exchanges, start=1):
        lines.append(f"=== {number}. {exchange.method} {masker.text(exchange.url)}")
        for name, value in masker.headers(_of_interest(exchange.request_headers, REQUEST_HEADERS)):
            lines.append(f"> {name}: {value}")
        request_type = _header(exchange.request_headers, "content-type")
        lines += [f"> {line}" for line in masker.body(exchange.request_body, request_type).splitlines()]
        if exchange.status is None:
            lines.append(f"< no response: {exchange.error or 'unknown'}")
            continue
        lines.append(f"< HTTP {exchange.status}")
        for name, value in masker.headers(_of_interest(exchange.response_headers, RESPONSE_HEADERS)):
            lines.append(f"< {name}: {value}")
        response_type = _header(exchange.response_headers, "content-type")
        lines += [f"< {line}" for line in masker.body(exchange.response_body, response_type).splitlines()]
    return lines


def format_verdicts(report: ProbeReport, masker: Masker, *, strict: bool = False) -> list[str]:
    """One line per assumed key, then the failures and the summary; when ``strict``, a line naming the gaps."""
    width = max(len(key) for key in report.verdicts)
    lines = ["", "Verdicts (assumed fields of the enhanced-API configuration):"]
    for verdict in report.verdicts.values():
        lines.append(f"  {verdict.key:<{width}}  {verdict.verdict:<15}  {masker.text(verdict.detail)}")
    for failure in report.failures:
        lines.append(f"failed: {masker.text(failure)}")
    counts = {kind: sum(v.verdict == kind for v in report.verdicts.values()) for kind in _KINDS}
    lines.append(
        ", ".join(f"{counts[kind]} {kind}" for kind in _KINDS)
        + (f"; attestation {report.attestation_id}" if report.attestation_id else "")
        + (f"; status {report.raw_status!r}" if report.raw_status else "")
        + ("; agreement created" if report.agreement_created else "")
    )
    if strict:
        lines.append(_strict_summary(report))
    lines.append("result: " + ("confirmed" if report.passed(strict=strict) else "NOT confirmed"))
    return lines


def _strict_summary(report: ProbeReport) -> str:
    if gaps := report.gaps():
        return f"strict: not found in this run: {', '.join(gaps)}"
    others = report.left_for_other_runs()
    return "strict: every key this run reaches was found" + (
        f"; left for other runs: {', '.join(others)}" if others else ""
    )


_KINDS: tuple[VerdictKind, ...] = ("found", "missing", "different shape", "not checked")


def _of_interest(headers: list[tuple[str, str]], names: tuple[str, ...]) -> list[tuple[str, str]]:
    wanted = {name.casefold() for name in names}
    return [(name, value) for name, value in headers if name.casefold() in wanted]


def _header(headers: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key.casefold() == name), "")
