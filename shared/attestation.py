"""The use case: ``attest(event) -> Outcome``. Hosts (function, worker, bulk command) act on the outcome.

Outcomes, and what a host does with each:

=================  ===========================================================  ======================
outcome            meaning                                                      host action
=================  ===========================================================  ======================
Attested           Partner Center recorded the attestation (201, with userId)   complete
AlreadyAttested    an identical attestation existed (600061)                    complete
RetryLater         Partner Center was busy or unreachable, or its clock lags a  schedule a copy / wait
                   fresh dateAgreed (600002); retry after a delay
DeadLetter         cannot succeed as it is; ``reason`` is from the vocabulary   dead-letter
Validated          dry run: everything but the POST succeeded                   report
=================  ===========================================================  ======================

Dead-letter reasons (``DeadLetterReason``) are stable codes operators filter and replay on; the
description says what to fix. See docs/dead-letter-reasons.md.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePath
from typing import Protocol

from shared.contract import ALLOWED_CLOCK_SKEW, InvalidEventError, SignedAgreementEvent, parse_event
from shared.metadata import MetadataSource, NoTemplateError
from shared.partner_center import errors as pc
from shared.partner_center.agreement_request import (
    AgreementRequest,
    derive_correlation_id,
    derive_request_id,
)
from shared.partner_center.client import CreatedAgreement

log = logging.getLogger(__name__)


class DeadLetterReason(StrEnum):
    """Why a message was dead-lettered. Stable: alerts, filters and replays key on these values."""

    INVALID_EVENT = "InvalidEvent"  # fails contract v1; the description lists every field
    FUTURE_DATE = "FutureDateAgreed"  # Partner Center 600002: dateAgreed after its clock
    UNKNOWN_CUSTOMER = "UnknownCustomer"  # 404 / 60003 / 900118: wrong customerTenantId?
    NO_RELATIONSHIP = "NoRelationship"  # 403: not this partner's customer, or missing role
    RETIRED_TEMPLATE = "RetiredTemplate"  # the template is no longer accepted
    REJECTED = "RejectedByPartnerCenter"  # any other 4xx: see the code and description
    CONSENT_REQUIRED = "ConsentRequired"  # refresh token refused: redo the consent, then replay
    AUTHENTICATION_FAILED = "AuthenticationFailed"  # 401 even with a fresh token (MFA? wrong app?)
    RETRIES_EXHAUSTED = "RetriesExhausted"  # transient failures outlasted the retry budget
    PARTNER_CENTER_UNREACHABLE = "PartnerCenterUnreachable"  # retries ran out on answers not from Partner Center


@dataclass(frozen=True, slots=True)
class Attested:
    event_id: str
    request_id: str
    correlation_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class AlreadyAttested:
    event_id: str
    request_id: str
    correlation_id: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    event_id: str
    request_id: str
    correlation_id: str
    retry_after: float | None  # Partner Center's Retry-After, when it gave one
    description: str
    # The dead-letter reason once the retry budget is spent: what an operator should look at then.
    exhausted_reason: DeadLetterReason = DeadLetterReason.RETRIES_EXHAUSTED


@dataclass(frozen=True, slots=True)
class DeadLetter:
    event_id: str
    request_id: str
    correlation_id: str
    reason: DeadLetterReason
    description: str


@dataclass(frozen=True, slots=True)
class Validated:
    """Dry run: the event is valid and its template resolved; nothing was posted."""

    event_id: str
    request_id: str
    correlation_id: str
    template_id: str


Outcome = Attested | AlreadyAttested | RetryLater | DeadLetter | Validated


class AttestationApi(Protocol):
    """The one Partner Center call the use case makes (the client implements it)."""

    async def create_customer_agreement(
        self, request: AgreementRequest, *, request_id: str, correlation_id: str
    ) -> CreatedAgreement: ...


_REASON_BY_ERROR: tuple[tuple[type[pc.PartnerCenterError], DeadLetterReason], ...] = (
    (pc.ConsentRequired, DeadLetterReason.CONSENT_REQUIRED),
    (pc.AuthError, DeadLetterReason.AUTHENTICATION_FAILED),
    (pc.FutureDate, DeadLetterReason.FUTURE_DATE),
    (pc.UnknownCustomer, DeadLetterReason.UNKNOWN_CUSTOMER),
    (pc.NoRelationship, DeadLetterReason.NO_RELATIONSHIP),
    (pc.RetiredTemplate, DeadLetterReason.RETIRED_TEMPLATE),
    (pc.PermanentError, DeadLetterReason.REJECTED),
)


def outcome_for_error(
    error: pc.PartnerCenterError,
    event_id: str,
    request_id: str,
    correlation_id: str,
    *,
    redact: Callable[[str], str] | None = None,
) -> Outcome:
    """Map a Partner Center failure to what the host should do. ``redact`` cleans Partner Center's text."""
    if isinstance(error, pc.AlreadyAttested):
        return AlreadyAttested(event_id, request_id, correlation_id)
    description = error.summary(redact)
    if isinstance(error, pc.TransientError):
        exhausted = (
            DeadLetterReason.PARTNER_CENTER_UNREACHABLE
            if isinstance(error, pc.Unreachable)
            else DeadLetterReason.RETRIES_EXHAUSTED
        )
        return RetryLater(event_id, request_id, correlation_id, error.retry_after, description, exhausted)
    for error_type, reason in _REASON_BY_ERROR:
        if isinstance(error, error_type):
            return DeadLetter(event_id, request_id, correlation_id, reason, description)
    return DeadLetter(event_id, request_id, correlation_id, DeadLetterReason.REJECTED, description)


def redact_personal_data(text: str, personal_data: Mapping[str, str | None]) -> str:
    """``text`` with every occurrence of each value, in any case, replaced by ``[key]``.

    ``personal_data`` maps a placeholder name to a value (``{"firstName": "Zoë", ...}``). Longer values are
    matched first, so a name inside a longer name or inside the email is replaced as the longer value; a
    value appearing under two names gets the first one's placeholder. Values are literal (regex
    metacharacters match themselves); empty, blank or None values are skipped.
    """
    names_by_value: dict[str, str] = {}
    for name, value in personal_data.items():
        if value and value.strip():
            names_by_value.setdefault(value.casefold(), name)
    if not names_by_value:
        return text
    ordered = sorted(names_by_value.items(), key=lambda item: len(item[0]), reverse=True)
    pattern = re.compile(
        "|".join(f"(?P<v{index}>{re.escape(value)})" for index, (value, _) in enumerate(ordered)), re.IGNORECASE
    )
    placeholders = {f"v{index}": f"[{name}]" for index, (_, name) in enumerate(ordered)}
    return pattern.sub(lambda match: placeholders[str(match.lastgroup)], text)


def _personal_data(event: SignedAgreementEvent) -> dict[str, str | None]:
    contact = event.primary_contact
    return {
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": str(contact.email),
        "phoneNumber": contact.phone_number,
    }


def invalid_event_outcome(error: InvalidEventError, event_id: str = "") -> DeadLetter:
    return DeadLetter(event_id or error.event_id, "", "", DeadLetterReason.INVALID_EVENT, f"invalid event: {error}")


def build_request(event: SignedAgreementEvent, template_id: str) -> AgreementRequest:
    contact = event.primary_contact
    return AgreementRequest(
        customer_tenant_id=event.customer_tenant_id,
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=str(contact.email),
        phone_number=contact.phone_number,
        template_id=template_id,
        date_agreed=event.date_agreed,
        agreement_type=event.agreement_type,
    )


class Attestor:
    """Resolves the template, posts the attestation and turns the answer into an ``Outcome``."""

    def __init__(
        self,
        api: AttestationApi,
        metadata: MetadataSource,
        *,
        dry_run: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._metadata = metadata
        self._dry_run = dry_run
        self._clock = clock

    async def attest_body(self, body: bytes | str) -> Outcome:
        """Parse a message body, then attest it. Bad input becomes an ``InvalidEvent`` dead letter; any
        input gets an outcome (see ``_answer``)."""
        return await self._answer(body)

    async def attest(self, event: SignedAgreementEvent) -> Outcome:
        """Attest a parsed event; always an outcome (see ``_answer``)."""
        return await self._answer(event)

    async def _answer(self, subject: bytes | str | SignedAgreementEvent) -> Outcome:
        """The outcome for a body or an event, whatever happens on the way, logged once.

        The final guard: an unexpected exception (a bug, or a library failing in a way nobody translated)
        becomes RetryLater instead of escaping. An escaped exception leaves the message unsettled: it
        bounces until MaxDeliveryCountExceeded with nothing said; RetryLater settles it, retries with
        backoff and ends in RetriesExhausted with the error's type. Only the type is kept: an exception's
        message may quote personal data. CancelledError and other BaseExceptions are not caught.
        """
        started = time.perf_counter()
        event: SignedAgreementEvent | None = None
        outcome: Outcome
        try:
            event = subject if isinstance(subject, SignedAgreementEvent) else parse_event(subject)
            outcome = await self._attest(event)
        except InvalidEventError as exc:
            outcome = invalid_event_outcome(exc)
        except Exception as exc:  # noqa: BLE001 — the one deliberate catch-all: see the docstring
            outcome = _unexpected_error_outcome(exc, event)
        _log_outcome(outcome, started)
        return outcome

    async def _attest(self, event: SignedAgreementEvent) -> Outcome:
        correlation_id = event.correlation_id or derive_correlation_id(event.event_id)
        try:
            metadata = await self._metadata.get(event.agreement_type)
            template_id = event.template_id or metadata.current.template_id
        except pc.PartnerCenterError as error:
            return self._outcome_for_error(error, event, "", correlation_id)
        except NoTemplateError as error:
            return RetryLater(event.event_id, "", correlation_id, None, str(error))
        if event.template_id and not metadata.knows(event.template_id):
            return DeadLetter(
                event.event_id,
                "",
                correlation_id,
                DeadLetterReason.INVALID_EVENT,
                f"invalid event: templateId: is not a current template of {event.agreement_type}",
            )

        request = build_request(event, template_id)
        request_id = derive_request_id(event.event_id, request)
        if self._dry_run:
            return Validated(event.event_id, request_id, correlation_id, template_id)
        try:
            created = await self._api.create_customer_agreement(
                request, request_id=request_id, correlation_id=correlation_id
            )
        except pc.PartnerCenterError as error:
            return self._outcome_for_error(error, event, request_id, correlation_id)
        return Attested(event.event_id, request_id, correlation_id, created.user_id)

    def _outcome_for_error(
        self, error: pc.PartnerCenterError, event: SignedAgreementEvent, request_id: str, correlation_id: str
    ) -> Outcome:
        """``outcome_for_error``, plus what only the event tells: a 600002 for a fresh dateAgreed, and the
        contact's names, email and phone, replaced by placeholders wherever Partner Center's text quotes them
        (the description goes on to dead letters, reports and logs)."""
        personal_data = _personal_data(event)

        def redact(text: str) -> str:
            return redact_personal_data(text, personal_data)

        if isinstance(error, pc.FutureDate):
            wait = self._wait_for_partner_center_clock(event.date_agreed)
            if wait is not None:
                description = error.summary(redact)
                return RetryLater(
                    event.event_id, request_id, correlation_id, wait, description, DeadLetterReason.FUTURE_DATE
                )
        return outcome_for_error(error, event.event_id, request_id, correlation_id, redact=redact)

    def _wait_for_partner_center_clock(self, date_agreed: datetime) -> float | None:
        """Seconds until a Partner Center clock lagging ours by up to ALLOWED_CLOCK_SKEW has passed
        ``date_agreed``; None when the date is not within that skew of now (then 600002 is the date's fault)."""
        now = self._clock()
        if not now - ALLOWED_CLOCK_SKEW <= date_agreed <= now + ALLOWED_CLOCK_SKEW:
            return None
        return (date_agreed + ALLOWED_CLOCK_SKEW - now).total_seconds()


def _unexpected_error_outcome(exc: Exception, event: SignedAgreementEvent | None) -> RetryLater:
    event_id = event.event_id if event is not None else ""
    correlation_id = (event.correlation_id or derive_correlation_id(event.event_id)) if event is not None else ""
    error_type = type(exc).__name__
    log.error(
        "attestation failed unexpectedly: %s",
        error_type,
        extra={
            "event": "attestation.unexpected_error",
            "error_type": error_type,
            "event_id": event_id,
            "ms_correlation_id": correlation_id,
            # Where it happened, without the exception's message or locals (they may hold personal data).
            "stack": " < ".join(
                f"{frame.name} ({PurePath(frame.filename).name}:{frame.lineno})"
                for frame in reversed(traceback.extract_tb(exc.__traceback__))
            ),
        },
    )
    return RetryLater(event_id, "", correlation_id, None, f"unexpected error: {error_type}")


def outcome_name(outcome: Outcome) -> str:
    """snake_case name used in logs, reports and metrics."""
    return {
        Attested: "attested",
        AlreadyAttested: "already_attested",
        RetryLater: "retry_later",
        DeadLetter: "dead_letter",
        Validated: "validated",
    }[type(outcome)]


def _log_outcome(outcome: Outcome, started: float) -> None:
    extra: dict[str, object] = {
        "event": "attestation.outcome",
        "outcome": outcome_name(outcome),
        "event_id": outcome.event_id,
        "ms_request_id": outcome.request_id,
        "ms_correlation_id": outcome.correlation_id,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if isinstance(outcome, DeadLetter):
        extra["reason"] = outcome.reason.value
    level = logging.WARNING if isinstance(outcome, DeadLetter | RetryLater) else logging.INFO
    log.log(level, "attestation %s", extra["outcome"], extra=extra)
