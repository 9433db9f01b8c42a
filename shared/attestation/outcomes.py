"""What an attestation comes to, and the dead-letter reason vocabulary.

Outcomes, and what a host does with each:

=================  ===========================================================  ======================
outcome            meaning                                                      host action
=================  ===========================================================  ======================
Attested           Partner Center recorded the attestation (201, with userId)   complete
AlreadyAttested    an identical attestation existed (600061), or the ledger     complete
                   holds the event as done under the same MS-RequestId
AlreadyAccepted    the pre-check found the customer accepted: directly in the   complete
                   admin center, or attested for the same contact; no POST
RetryLater         Partner Center was busy or unreachable, or its clock lags a  schedule a copy / wait
                   fresh dateAgreed (600002); retry after a delay
AwaitingAcceptance enhanced attestation: the customer has the link; check the   schedule a status check
                   attestation's status again after ``check_in_seconds``        , then complete
DeadLetter         cannot succeed as it is; ``reason`` is from the vocabulary   dead-letter
Validated          dry run: everything but the submission succeeded             report
=================  ===========================================================  ======================

Dead-letter reasons (``DeadLetterReason``) are stable codes operators filter and replay on; the
description says what to fix. A new reason goes into ``DeadLetterReason`` here, into the error mapping
below if a Partner Center error leads to it, and into docs/dead-letter-reasons.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from shared.attestation import errors as pc
from shared.attestation.contract import InvalidEventError

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
    # The enhanced attestation (contract v2); each description names the attestation id.
    ACCEPTANCE_TIMED_OUT = "AcceptanceTimedOut"  # the customer did not accept before the deadline
    ACCEPTANCE_LINK_EXPIRED = "AcceptanceLinkExpired"  # Partner Center reports the link expired
    ACCEPTANCE_REJECTED = "AcceptanceRejected"  # the customer declined the agreement
    ATTESTATION_NOT_PERMITTED = "AttestationNotPermitted"  # 403 on create attestation (indirect reseller?)
    FLOW_NOT_ENABLED = "FlowNotEnabled"  # the event's contract is not enabled here (ATTESTATION_FLOWS)


@dataclass(frozen=True, slots=True)
class Attested:
    event_id: str
    request_id: str
    correlation_id: str
    user_id: str
    ms_cv: str = ""


@dataclass(frozen=True, slots=True)
class AlreadyAttested:
    event_id: str
    request_id: str
    correlation_id: str


@dataclass(frozen=True, slots=True)
class AlreadyAccepted:
    """The customer had accepted already (``via``: ``direct_signed`` or ``existing_attestation``); nothing posted."""

    event_id: str
    request_id: str
    correlation_id: str
    via: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    event_id: str
    request_id: str
    correlation_id: str
    retry_after: float | None  # Partner Center's Retry-After, when it gave one
    description: str
    # The dead-letter reason once the retry budget is spent: what an operator should look at then.
    exhausted_reason: DeadLetterReason = DeadLetterReason.RETRIES_EXHAUSTED
    # Partner Center throttling paused every instance for ``retry_after`` seconds: retry at the end of the pause
    # (plus jitter), not on the exponential backoff meant for outages.
    paused: bool = False


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


@dataclass(frozen=True, slots=True)
class AwaitingAcceptance:
    """Enhanced attestation: the customer has the acceptance link; check again after ``check_in_seconds``.

    ``check_identity`` identifies the scheduled check (equal for every delivery that schedules the same check,
    so the host gives it one message id and the queue's duplicate detection keeps one); ``check`` is its number
    within the wait."""

    event_id: str
    request_id: str
    correlation_id: str
    attestation_id: str
    check_in_seconds: float
    check: int
    check_identity: tuple[str | int, ...]


Outcome = Attested | AlreadyAttested | AlreadyAccepted | RetryLater | DeadLetter | Validated | AwaitingAcceptance


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
        paused = isinstance(error, pc.Paused)
        return RetryLater(event_id, request_id, correlation_id, error.retry_after, description, exhausted, paused)
    for error_type, reason in _REASON_BY_ERROR:
        if isinstance(error, error_type):
            return DeadLetter(event_id, request_id, correlation_id, reason, description)
    return DeadLetter(event_id, request_id, correlation_id, DeadLetterReason.REJECTED, description)


def invalid_event_outcome(error: InvalidEventError, event_id: str = "") -> DeadLetter:
    return DeadLetter(event_id or error.event_id, "", "", DeadLetterReason.INVALID_EVENT, f"invalid event: {error}")


def outcome_name(outcome: Outcome) -> str:
    """snake_case name used in logs, reports, metrics and the worker's counts."""
    return {
        Attested: "attested",
        AlreadyAttested: "already_attested",
        AlreadyAccepted: "already_accepted",
        RetryLater: "retry_later",
        DeadLetter: "dead_letter",
        Validated: "validated",
        AwaitingAcceptance: "awaiting_acceptance",
    }[type(outcome)]


def log_outcome(outcome: Outcome, started: float, *, reason: str = "", **host_fields: object) -> None:
    """The one log line per attested event (``event`` = ``attestation.outcome``), written by the host that
    acted on it: the outcome, its ids, the duration since ``started`` (``time.perf_counter()``) and what the
    host did (``host_fields``: the settlement, the attempt…). ``reason`` is the dead-letter reason the host
    applied (e.g. RetriesExhausted); by default the outcome's own. No personal data: ids and codes only."""
    extra: dict[str, object] = {
        "event": "attestation.outcome",
        "outcome": outcome_name(outcome),
        "event_id": outcome.event_id,
        "ms_request_id": outcome.request_id,
        "ms_correlation_id": outcome.correlation_id,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        **host_fields,
    }
    reason = reason or (outcome.reason.value if isinstance(outcome, DeadLetter) else "")
    if reason:
        extra["reason"] = reason
    level = logging.WARNING if reason or isinstance(outcome, RetryLater) else logging.INFO
    log.log(level, "attestation %s", extra["outcome"], extra=extra)
