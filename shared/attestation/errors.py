"""Everything Partner Center can answer besides success, as one small tree.

::

    PartnerCenterError                 status, code, description, request ids — on every error
    ├── AlreadyAttested                600061: an identical attestation exists (an idempotent success)
    ├── TransientError                 worth retrying, later or now
    │   ├── Throttled                  429; retry_after from Retry-After (seconds or HTTP-date) or the body
    │   │   └── Paused                 a throttling pause (this instance's or another's) outlasts what one
    │   │                              call waits: nothing more was sent; retry_after = the pause left
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

Foreign exceptions are translated into this tree in one place, ``shared/partner_center/responses.py``:
``classify_response`` for answers and ``translate_transport_error`` for everything ``HTTP_STACK_ERRORS``
names (httpx's, and aiohttp's that httpx-aiohttp lets through); the client raises the result with
``raise … from exc``. Nothing else escapes the client. This module imports no HTTP library: the core
(``shared.attestation``) speaks this tree only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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


class Paused(Throttled):
    """Every instance is paused by a Retry-After longer than one call waits; retry after ``retry_after`` seconds.

    Not a failure of the event: the host schedules it for the end of the pause (plus jitter), not on the
    exponential backoff meant for outages.
    """


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
