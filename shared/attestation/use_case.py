"""The use case: ``attest(event) -> Outcome``. Hosts (function, worker, bulk command) act on the outcome.

``Attestor`` parses the event, resolves its agreement template (``MetadataSource``), asks the
``Attestation`` port to record the acceptance, and turns the answer — or the error — into an ``Outcome``
(``shared.attestation.outcomes`` lists them and what a host does with each). It never raises for an
input or an answer: a final guard turns the unexpected into a retry.

With a ledger (``AttestationJournal``) it is an Idempotent Consumer: an event the ledger already holds as a
success under the same ``MS-RequestId`` completes without calling Partner Center; otherwise the event is
recorded as in progress before the POST, and the host records what it did with the outcome (``settle``).
A ledger that cannot be reached is logged and passed over: the POST stays idempotent on its own (600061).

With a pre-check (``AcceptanceView``), a customer who already accepted — directly in the admin center, or by an
attestation for the same contact — gets ``AlreadyAccepted`` and no POST. A failing read is answered like a
failing POST (the same error tree: retry, or dead-letter).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from shared.attestation import errors as pc
from shared.attestation.contract import ALLOWED_CLOCK_SKEW, InvalidEventError, SignedAgreementEvent, parse_event
from shared.attestation.correlation import derive_correlation_id
from shared.attestation.ledger import SUCCESSFUL_STATES, AttestationJournal, LedgerEntry, LedgerError, LedgerState
from shared.attestation.metadata import MetadataSource, NoTemplateError
from shared.attestation.outcomes import (
    AlreadyAccepted,
    AlreadyAttested,
    Attested,
    DeadLetter,
    DeadLetterReason,
    Outcome,
    RetryLater,
    Validated,
    invalid_event_outcome,
    outcome_for_error,
)
from shared.attestation.ports import AcceptanceView, Attestation, AttestationRequest
from shared.attestation.redaction import personal_data_of, redact_personal_data

log = logging.getLogger(__name__)


class Attestor:
    """Resolves the template, asks the ``Attestation`` port to attest and turns the answer into an ``Outcome``."""

    def __init__(
        self,
        attestation: Attestation,
        metadata: MetadataSource,
        *,
        dry_run: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        journal: AttestationJournal | None = None,
        precheck: AcceptanceView | None = None,
    ) -> None:
        self._attestation = attestation
        self._metadata = metadata
        self._dry_run = dry_run
        self._clock = clock
        self._journal = None if dry_run else journal
        self._precheck = precheck

    @property
    def journal(self) -> AttestationJournal | None:
        """The ledger this attestor reads and writes (None: no ledger, or a dry run); hosts settle into it."""
        return self._journal

    async def attest_body(self, body: bytes | str | Mapping[str, Any]) -> Outcome:
        """Parse a message body, then attest it. Bad input becomes an ``InvalidEvent`` dead letter; any
        input gets an outcome (see ``_answer``)."""
        return await self._answer(body)

    async def attest(self, event: SignedAgreementEvent) -> Outcome:
        """Attest a parsed event; always an outcome (see ``_answer``)."""
        return await self._answer(event)

    async def _answer(self, subject: bytes | str | Mapping[str, Any] | SignedAgreementEvent) -> Outcome:
        """The outcome for a body or an event, whatever happens on the way (the host logs it, once).

        The final guard: an unexpected exception (a bug, or a library failing in a way nobody translated)
        becomes RetryLater instead of escaping. An escaped exception leaves the message unsettled: it
        bounces until MaxDeliveryCountExceeded with nothing said; RetryLater settles it, retries with
        backoff and ends in RetriesExhausted with the error's type. Only the type is kept: an exception's
        message may quote personal data. CancelledError and other BaseExceptions are not caught.
        """
        event: SignedAgreementEvent | None = None
        outcome: Outcome
        try:
            event = subject if isinstance(subject, SignedAgreementEvent) else parse_event(subject)
            outcome = await self._attest(event)
        except InvalidEventError as exc:
            outcome = invalid_event_outcome(exc)
        except Exception as exc:  # noqa: BLE001 — the one deliberate catch-all: see the docstring
            event_id = event.event_id if event is not None else ""
            correlation_id = (event.correlation_id or derive_correlation_id(event_id)) if event is not None else ""
            outcome = unexpected_error_outcome(exc, event_id, correlation_id)
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

        request = AttestationRequest(event, template_id, correlation_id)
        request_id = self._attestation.request_id(request)
        if self._dry_run:
            return Validated(event.event_id, request_id, correlation_id, template_id)
        prior = await self._ledger_lookup(event)
        if prior is not None and prior.state in SUCCESSFUL_STATES and prior.request_id == request_id:
            return self._duplicate(prior, correlation_id)
        await self._ledger_begin(event, template_id, request_id, correlation_id)
        if self._precheck is not None:
            try:
                acceptance = await self._precheck.acceptance(event.customer_tenant_id, event.agreement_type)
            except pc.PartnerCenterError as error:
                return self._outcome_for_error(error, event, request_id, correlation_id)
            via = acceptance.accepted_via(self._precheck.fingerprint(event.primary_contact))
            if via:
                return AlreadyAccepted(event.event_id, request_id, correlation_id, via)
        try:
            receipt = await self._attestation.attest(request)
        except pc.PartnerCenterError as error:
            return self._outcome_for_error(error, event, request_id, correlation_id)
        return Attested(event.event_id, request_id, correlation_id, receipt.user_id, receipt.ms_cv)

    async def _ledger_lookup(self, event: SignedAgreementEvent) -> LedgerEntry | None:
        if self._journal is None:
            return None
        try:
            return await self._journal.lookup(event.customer_tenant_id, event.event_id)
        except LedgerError as error:
            _log_ledger_unavailable(error, event.event_id, "lookup")
            return None

    async def _ledger_begin(
        self, event: SignedAgreementEvent, template_id: str, request_id: str, correlation_id: str
    ) -> None:
        if self._journal is None:
            return
        try:
            await self._journal.begin(
                event, template_id=template_id, request_id=request_id, correlation_id=correlation_id
            )
        except LedgerError as error:
            _log_ledger_unavailable(error, event.event_id, "begin")

    @staticmethod
    def _duplicate(prior: LedgerEntry, correlation_id: str) -> Outcome:
        """A redelivery of an event the ledger holds as done under the same request id: no call is made."""
        log.info(
            "event already done; Partner Center not called",
            extra={
                "event": "ledger.duplicate_delivery",
                "event_id": prior.event_id,
                "ms_request_id": prior.request_id,
                "ledger_state": prior.state.value,
            },
        )
        if prior.state is LedgerState.ALREADY_ACCEPTED:
            return AlreadyAccepted(
                prior.event_id, prior.request_id, prior.correlation_id or correlation_id, prior.reason
            )
        return AlreadyAttested(prior.event_id, prior.request_id, prior.correlation_id or correlation_id)

    def _outcome_for_error(
        self, error: pc.PartnerCenterError, event: SignedAgreementEvent, request_id: str, correlation_id: str
    ) -> Outcome:
        """``outcome_for_error``, plus what only the event tells: a 600002 for a fresh dateAgreed, and the
        contact's names, email and phone, replaced by placeholders wherever Partner Center's text quotes them
        (the description goes on to dead letters, reports and logs)."""
        personal_data = personal_data_of(event)

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


def _log_ledger_unavailable(error: LedgerError, event_id: str, action: str) -> None:
    log.warning(
        "ledger unavailable (%s); attesting without it",
        action,
        extra={"event": "ledger.unavailable", "event_id": event_id, "error": str(error)[:300]},
    )


def unexpected_error_outcome(exc: Exception, event_id: str, correlation_id: str) -> RetryLater:
    """RetryLater for an exception nobody translated, logged with its type and where (never its message)."""
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
