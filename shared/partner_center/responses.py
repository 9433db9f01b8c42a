"""Partner Center's answers, read at one edge: HTTP responses and HTTP-stack failures → the error tree.

Every failure of the HTTP stack (httpx's transport errors, aiohttp's own exceptions, decoding errors) and
every unsuccessful answer is translated here, once, into ``shared.attestation.errors``; nothing from
httpx or aiohttp travels further. A new Partner Center error code goes into ``classify_response``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import httpx

from shared.attestation.errors import (
    AlreadyAttested,
    AuthError,
    ConnectionFailed,
    FutureDate,
    InvalidRequest,
    NoRelationship,
    PartnerCenterError,
    RequestIds,
    RetiredTemplate,
    ServerError,
    Throttled,
    UnknownCustomer,
    Unreachable,
)

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
