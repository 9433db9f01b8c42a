"""Everything Partner Center can answer besides success, as one small tree.

::

    PartnerCenterError                 status, code, description, request ids — on every error
    ├── AlreadyAttested                600061: an identical attestation exists (an idempotent success)
    ├── TransientError                 worth retrying, later or now
    │   ├── Throttled                  429; retry_after from Retry-After (seconds or HTTP-date) or the body
    │   ├── ServerError                5xx, 408, or a body that says isRetryable: true; retry_after likewise
    │   ├── Unreachable                an answer that is not Partner Center's: a 401/403/404 whose body is none
    │   │                              of its error shapes (empty, HTML, JSON without a code), a 3xx, or a
    │   │                              2xx without its JSON object (``success_document``; for the POST: no
    │   │                              proof of attestation) — a gateway, proxy or wrong base URL answered
    │   └── ConnectionFailed           no usable answer (no status): timeouts, refused or dropped connections,
    │                                  a malformed status line, headers or body, a body its Content-Encoding
    │                                  does not match — whatever the HTTP stack raises (``HTTP_STACK_ERRORS``)
    ├── AuthError                      401 in Partner Center's shape that a fresh token did not cure, or a
    │                                  token endpoint refusal
    │   └── ConsentRequired            invalid_grant / AADSTS700082: an admin must redo the consent
    └── PermanentError                 retrying the same request cannot succeed
        ├── FutureDate                 600002 "Date of agreement cannot be greater than the current date"
        │                              (the use case retries it while dateAgreed is within the clock skew)
        ├── RetiredTemplate            400 "… Template ID '…' is no longer supported."
        ├── UnknownCustomer            404 (1000, 60003) in Partner Center's shape, or 400 900118
        ├── NoRelationship             403 in Partner Center's shape: not this partner's customer (e.g. 20002)
        └── InvalidRequest             any other 4xx

Foreign exceptions are translated into this tree in one place, ``classify_response`` for answers and
``translate_transport_error`` for everything ``HTTP_STACK_ERRORS`` names (httpx's, and aiohttp's that
httpx-aiohttp lets through), with ``raise … from exc``. Nothing else escapes the client.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import httpx


@dataclass(frozen=True, slots=True)
class RequestIds:
    """The identifiers that let Microsoft support find one call."""

    request_id: str = ""
    correlation_id: str = ""
    ms_cv: str = ""


class PartnerCenterError(Exception):
    """Base of every Partner Center failure; see the module docstring for the tree."""

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        code: str = "",
        error_name: str = "",
        ids: RequestIds | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.code = code
        self.error_name = error_name
        self.ids = ids or RequestIds()

    def summary(self, redact: Callable[[str], str] | None = None) -> str:
        """One line an operator can act on: status, Partner Center code, description, request id.

        ``redact`` rewrites the description only (free text that may quote the request), never the codes
        or the request ids an operator quotes to Microsoft.
        """
        parts = [f"HTTP {self.status}" if self.status is not None else "no response"]
        if self.code:
            parts.append(f"code {self.code}")
        if self.error_name:
            parts.append(self.error_name)
        text = " ".join(parts) + f": {redact(self.description) if redact else self.description}"
        if self.ids.request_id:
            text += f" (MS-RequestId {self.ids.request_id}"
            text += f", MS-CV {self.ids.ms_cv})" if self.ids.ms_cv else ")"
        return text

    def __str__(self) -> str:
        return self.summary()


class AlreadyAttested(PartnerCenterError):
    """600061: this customer already has an identical attestation. The goal is reached."""


class TransientError(PartnerCenterError):
    """A failure that the same request may get past later, after ``retry_after`` seconds when the answer said."""

    def __init__(self, description: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(description, **kwargs)
        self.retry_after = retry_after


class Throttled(TransientError):
    """429: Partner Center asks the caller to wait ``retry_after`` seconds."""

    def __init__(self, description: str, *, retry_after: float | None, **kwargs: Any) -> None:
        super().__init__(description, retry_after=retry_after, **kwargs)


class ServerError(TransientError):
    """5xx, 408 or an error body marked ``isRetryable``; ``retry_after`` when the answer carried Retry-After."""


class Unreachable(TransientError):
    """Something other than Partner Center's agreement service answered: a gateway, a proxy or a wrong base URL.

    Transient (the route may come back), but when it lasts the fix is configuration, not the event.
    """


class ConnectionFailed(TransientError):
    """No usable response: timeout, refused, reset or dropped connection."""


class AuthError(PartnerCenterError):
    """Authentication failed and a fresh token did not help."""


class ConsentRequired(AuthError):
    """The refresh token is no longer accepted (invalid_grant, AADSTS700082): redo the consent."""


class PermanentError(PartnerCenterError):
    """The same request will fail the same way; a person must change something."""


class FutureDate(PermanentError):
    """600002: dateAgreed is later than Partner Center's clock."""


class RetiredTemplate(PermanentError):
    """The templateId is one Partner Center no longer accepts."""


class UnknownCustomer(PermanentError):
    """Partner Center does not know the customer tenant."""


class NoRelationship(PermanentError):
    """403: the customer is not this partner's, or the caller lacks the role."""


class InvalidRequest(PermanentError):
    """Any other client error."""


# A Retry-After beyond this is not a wait but a mistake (an epoch such as 1735689600, or 1e12, which overflows
# datetime arithmetic downstream): treated as absent. A day is far beyond any throttling window Partner Center
# documents, and the host caps the scheduled redelivery delay separately.
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
_UNKNOWN_CUSTOMER_CODES = frozenset({"60003", "900118", "1000"})
# Statuses that name the customer or the caller only when Partner Center's agreement service says so in one of
# its error shapes; from anything else (a gateway, a proxy, a wrong base URL) they say nothing about the event.
_SERVICE_STATUSES = frozenset({401, 403, 404})
_MAX_DESCRIPTION = 500  # a proxy's HTML page must not flood a dead-letter description
# "date" as a word start ("Date of agreement", "current date", "dateAgreed"), not inside "update" or "validated".
_MENTIONS_DATE = re.compile(r"\bdate", re.IGNORECASE)
# The throttling gateway's body: "Rate limit is exceeded. Try again in 57 seconds."
_TRY_AGAIN_IN = re.compile(r"\btry again in (\d{1,12}) seconds?\b", re.IGNORECASE)


def parse_error_body(body: bytes) -> tuple[str, str, str, bool | None]:
    """Read any of the three error shapes (or an empty / non-JSON body) into (code, description, name, retryable).

    1. classic fault       {"code": 1002, "description": "...", "data": [], "source": "PartnerFD"}
    2. agreement service   {"code": 600061, "message", "description", "errorName", "isRetryable", ...}
    3. throttling gateway  {"statusCode": 429, "message": "Rate limit is exceeded. ..."}
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "", "", "", None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return "", _shorten(" ".join(text.split())), "", None
    if not isinstance(doc, dict):
        return "", _shorten(text), "", None
    raw_code = doc.get("code", doc.get("statusCode", ""))
    code = "" if raw_code is None else str(raw_code)
    description = str(doc.get("description") or doc.get("message") or "")
    name = str(doc.get("errorName") or "")
    retryable = doc.get("isRetryable")
    return code, _shorten(description), name, retryable if isinstance(retryable, bool) else None


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_DESCRIPTION else text[: _MAX_DESCRIPTION - 1] + "…"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After in seconds: delay-seconds (Partner Center sends whole seconds) or an HTTP-date.

    An HTTP-date counts from ``now`` (default: this machine's clock); one already passed means "now" (0).
    Anything else — unparseable, negative, not finite, or more than ``MAX_RETRY_AFTER_SECONDS`` — is absent
    (None): the caller then falls back to its own backoff.
    """
    text = (value or "").strip()
    if not text:
        return None
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until_http_date(text, now or datetime.now(UTC))
    return _sane_delay(seconds)


def _seconds_until_http_date(text: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # the obsolete asctime form has no zone; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _sane_delay(seconds: float | None) -> float | None:
    if seconds is None or not math.isfinite(seconds) or not 0.0 <= seconds <= MAX_RETRY_AFTER_SECONDS:
        return None
    return seconds


def _retry_after(response: httpx.Response, description: str) -> float | None:
    """The header when usable; else the gateway body's "Try again in N seconds"; else None."""
    from_header = parse_retry_after(response.headers.get("Retry-After"))
    if from_header is not None:
        return from_header
    hint = _TRY_AGAIN_IN.search(description)
    return _sane_delay(float(hint.group(1))) if hint else None


def success_document(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object of a Partner Center success (200 or 201), or None when the answer is not one.

    Partner Center answers every call this project makes with a JSON object: the POST echoes the agreement,
    the GETs return a collection or a status. An empty body, a proxy's HTML page, JSON that is not an object
    or another 2xx (202, 204) is not that answer, and for the POST it is no proof of the attestation.
    """
    if response.status_code not in (200, 201):
        return None
    try:
        doc = json.loads(response.content)
    except (ValueError, RecursionError):  # ValueError covers bad JSON and bytes that are not text
        return None
    return doc if isinstance(doc, dict) else None


def classify_response(response: httpx.Response, ids: RequestIds) -> PartnerCenterError:
    """Translate a response without a usable ``success_document`` into the error tree."""
    status = response.status_code
    code, description, name, retryable = parse_error_body(response.content)
    description = description or response.reason_phrase or f"HTTP {status}"
    kwargs: dict[str, Any] = {"status": status, "code": code, "error_name": name, "ids": ids}

    if 200 <= status < 300:  # a "success" that is not Partner Center's answer: no proof of anything
        return Unreachable(f"{description} (a success without Partner Center's JSON answer)", **kwargs)
    if code == "600061":
        return AlreadyAttested(description, **kwargs)
    if status == 429:
        return Throttled(description, retry_after=_retry_after(response, description), **kwargs)
    if status >= 500 or status == 408 or retryable is True:
        return ServerError(description, retry_after=_retry_after(response, description), **kwargs)
    # All three shapes carry a code (``code`` or ``statusCode``): without one, the agreement service did not answer.
    if (status in _SERVICE_STATUSES and not code) or 300 <= status < 400:
        return Unreachable(f"{description} (not a Partner Center error: a gateway or proxy answered)", **kwargs)
    if status == 401:
        return AuthError(description, **kwargs)
    if status == 403:
        return NoRelationship(description, **kwargs)
    if status == 404 or code in _UNKNOWN_CUSTOMER_CODES:
        return UnknownCustomer(description, **kwargs)
    # 600002 is reused elsewhere for an unrelated error: classify by the description as well.
    if code == "600002" and _MENTIONS_DATE.search(description):
        return FutureDate(description, **kwargs)
    if "no longer supported" in description.lower():
        return RetiredTemplate(description, **kwargs)
    return InvalidRequest(description, **kwargs)


# Everything the HTTP stack raises when an exchange fails (httpx on aiohttp, see client.new_http_client):
# - httpx.HTTPError: TransportError (timeouts, network, protocol) and also DecodingError (a body that does not
#   match its Content-Encoding), which is a RequestError but *not* a TransportError;
# - httpx.InvalidURL: a URL that cannot be sent (from a malformed base URL);
# - aiohttp.ClientError: httpx-aiohttp maps only some of aiohttp's exceptions; a malformed status line, header
#   or chunk (ClientResponseError) escapes as aiohttp's own;
# - TimeoutError: asyncio timeouts that a library did not wrap.
HTTP_STACK_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx.InvalidURL, aiohttp.ClientError, TimeoutError)


def translate_transport_error(exc: Exception, ids: RequestIds) -> ConnectionFailed:
    """Any of ``HTTP_STACK_ERRORS``: no usable answer, always transient. Described on one short line."""
    text = " ".join(str(exc).split())
    return ConnectionFailed(_shorten(f"{type(exc).__name__}: {text}" if text else type(exc).__name__), ids=ids)
