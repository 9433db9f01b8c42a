"""The Attestor answers every input with an outcome: an unexpected exception becomes RetryLater, named by type."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import pytest

from shared.attestation.contract import parse_event
from shared.attestation.correlation import derive_correlation_id
from shared.attestation.metadata import MCA, AgreementMetadata, AgreementTemplate
from shared.attestation.outcomes import RetryLater
from shared.attestation.use_case import Attestor
from shared.partner_center.agreement_attestation import AgreementPostAttestation
from shared.partner_center.agreement_request import AgreementRequest
from shared.partner_center.client import CreatedAgreement
from tests.contract_samples import EMAIL, FIRST, LAST, valid_event

BODY = json.dumps(valid_event()).encode()


class Metadata:
    """A MetadataSource with one current template, or the exception it was given."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error

    async def get(self, agreement_type: str) -> AgreementMetadata:
        if self.error is not None:
            raise self.error
        template = AgreementTemplate("117a77b0-9360-443b-8795-c6dedc750cf9", MCA, "https://aka.ms/customeragreement", 1)
        return AgreementMetadata(agreement_type=MCA, templates=(template,), fetched_at=datetime.now(UTC))


class RaisingApi:
    """An AttestationApi whose every call raises the given exception; it records the calls."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    async def create_customer_agreement(
        self, request: AgreementRequest, *, request_id: str, correlation_id: str
    ) -> CreatedAgreement:
        self.calls += 1
        raise self.error


def _bug() -> Exception:
    return KeyError(f"{FIRST} {LAST} <{EMAIL}>")  # a message quoting personal data, as a bug's might


async def test_unexpected_exception_from_the_api_is_retry_later(caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected exception while posting is RetryLater naming its type only, logged at ERROR without its text."""
    caplog.set_level(logging.INFO, logger="shared.attestation")

    outcome = await Attestor(AgreementPostAttestation(RaisingApi(_bug())), Metadata()).attest_body(BODY)

    assert outcome == RetryLater("crm-42", "", derive_correlation_id("crm-42"), None, "unexpected error: KeyError")
    [error_record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error_record.__dict__["event"] == "attestation.unexpected_error"
    assert error_record.__dict__["error_type"] == "KeyError"
    assert error_record.__dict__["event_id"] == "crm-42"
    assert error_record.exc_info is None
    for record in caplog.records:
        text = record.getMessage() + json.dumps({k: str(v) for k, v in record.__dict__.items()})
        assert FIRST not in text
        assert EMAIL not in text


async def test_unexpected_exception_from_metadata_is_retry_later() -> None:
    """An unexpected exception while resolving the template is RetryLater too; nothing is posted."""
    api = RaisingApi(AssertionError("not called"))

    outcome = await Attestor(AgreementPostAttestation(api), Metadata(RuntimeError("boom"))).attest(parse_event(BODY))

    assert isinstance(outcome, RetryLater)
    assert outcome.description == "unexpected error: RuntimeError"
    assert api.calls == 0


async def test_unexpected_exception_while_parsing_is_retry_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body the parser trips over (a bug in it) still gets an outcome, with no event id."""

    def tripping_parser(raw: object) -> object:
        raise AttributeError("ada@example.com")

    monkeypatch.setattr("shared.attestation.use_case.parse_event", tripping_parser)
    outcome = await Attestor(AgreementPostAttestation(RaisingApi(_bug())), Metadata()).attest_body(BODY)

    assert isinstance(outcome, RetryLater)
    assert outcome.event_id == ""
    assert outcome.description == "unexpected error: AttributeError"


@pytest.mark.parametrize(
    "error", [asyncio.CancelledError(), KeyboardInterrupt()], ids=["cancelled", "keyboard-interrupt"]
)
async def test_cancellation_and_interrupts_are_not_swallowed(error: BaseException) -> None:
    """CancelledError and other BaseExceptions propagate: the guard catches Exception only."""
    with pytest.raises(type(error)):
        await Attestor(AgreementPostAttestation(RaisingApi(error)), Metadata()).attest_body(BODY)
