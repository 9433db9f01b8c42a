"""Responses as values, and builders for every body shape Partner Center and Entra answer with.

A ``Reply`` is what a handler decides; it becomes an aiohttp response only at the edge, which lets the
replay cache store and serve the *first* answer to an ``MS-RequestId`` byte for byte.

Error shapes (see the project's Partner Center reference):

- classic fault: ``{"code", "description", "data", "source"}``
- agreement service: ``{"code", "message", "description", "errorName", "isRetryable", "parameters",
  "errorMessageExtended"}``
- throttling gateway: ``{"statusCode": 429, "message"}`` with ``Retry-After``
- a proxy's HTML page, or nothing at all
- Entra: ``{"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}``
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

JSON_TYPE = "application/json"
HTML_TYPE = "text/html"


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer, decided but not yet sent."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_response(self) -> web.Response:
        response = web.Response(status=self.status, body=self.body, headers=dict(self.headers))
        if self.content_type is not None and self.body:
            response.content_type = self.content_type
            if self.content_type.startswith("text/") or self.content_type == JSON_TYPE:
                response.charset = "utf-8"
        return response


def json_reply(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(document).encode(), JSON_TYPE, dict(headers or {}))


def collection(items: Sequence[Mapping[str, Any]]) -> Reply:
    """Partner Center's list envelope."""
    return json_reply(200, {"totalCount": len(items), "items": list(items), "attributes": {"objectType": "Collection"}})


def classic_fault(status: int, code: int, description: str, data: Sequence[str] = ()) -> Reply:
    return json_reply(status, {"code": code, "description": description, "data": list(data), "source": "PartnerFD"})


def agreement_fault(
    status: int,
    code: int,
    message: str,
    *,
    error_name: str = "",
    retryable: bool = False,
    parameters: Mapping[str, str] | None = None,
) -> Reply:
    return json_reply(
        status,
        {
            "code": code,
            "message": message,
            "description": message,
            "errorName": error_name,
            "isRetryable": retryable,
            "parameters": dict(parameters or {}),
            "errorMessageExtended": f"InternalErrorCode={code}",
        },
    )


def throttled(retry_after_seconds: int) -> Reply:
    return json_reply(
        429,
        {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {retry_after_seconds} seconds."},
        {"Retry-After": str(retry_after_seconds)},
    )


def proxy_page(status: int, reason: str) -> Reply:
    page = (
        f"<!DOCTYPE html><html><head><title>{status} {reason}</title></head>"
        f"<body><h1>{status} {reason}</h1><p>The gateway could not complete the request.</p></body></html>"
    )
    return Reply(status, page.encode(), HTML_TYPE)


def empty(status: int) -> Reply:
    return Reply(status, b"", None)


def entra_error(status: int, error: str, aadsts: int, description: str) -> Reply:
    """Entra's OAuth error body; ``description`` follows the ``AADSTS<code>:`` prefix."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    return json_reply(
        status,
        {
            "error": error,
            "error_description": (
                f"AADSTS{aadsts}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {now}"
            ),
            "error_codes": [aadsts],
            "timestamp": now,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        },
    )
