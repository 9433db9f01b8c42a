"""The Attestor answers every input with an outcome: an unexpected exception becomes RetryLater, named by type."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from shared.attestation.contract import parse_event
from shared.attestation.correlation import derive_correlation_id
from shared.attestation.outcomes import RetryLater
from shared.attestation.use_case import Attestor
from tests.builders import EMAIL, FIRST, LAST, FakeAttestation, FakeMetadata, as_body, event_doc

BODY = as_body(event_doc())


def _bug() -> Exception:
    return KeyError(f"{FIRST} {LAST} <{EMAIL}>")  # a message quoting personal data, as a bug's might


async def test_unexpected_exception_from_the_api_is_retry_later(caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected exception while posting is RetryLater naming its type only, logged at ERROR without its text."""
    caplog.set_level(logging.INFO, logger="shared.attestation")

    outcome = await Attestor(FakeAttestation(_bug()), FakeMetadata()).attest_body(BODY)

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
    attestation = FakeAttestation(AssertionError("not called"))

    outcome = await Attestor(attestation, FakeMetadata(RuntimeError("boom"))).attest(parse_event(BODY))

    assert isinstance(outcome, RetryLater)
    assert outcome.description == "unexpected error: RuntimeError"
    assert attestation.requests == []


async def test_unexpected_exception_while_parsing_is_retry_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body the parser trips over (a bug in it) still gets an outcome, with no event id."""

    def tripping_parser(raw: object) -> object:
        raise AttributeError("ada@example.com")

    monkeypatch.setattr("shared.attestation.use_case.parse_event", tripping_parser)
    outcome = await Attestor(FakeAttestation(_bug()), FakeMetadata()).attest_body(BODY)

    assert isinstance(outcome, RetryLater)
    assert outcome.event_id == ""
    assert outcome.description == "unexpected error: AttributeError"


@pytest.mark.parametrize(
    "error", [asyncio.CancelledError(), KeyboardInterrupt()], ids=["cancelled", "keyboard-interrupt"]
)
async def test_cancellation_and_interrupts_are_not_swallowed(error: BaseException) -> None:
    """CancelledError and other BaseExceptions propagate: the guard catches Exception only."""
    with pytest.raises(type(error)):
        await Attestor(FakeAttestation(error), FakeMetadata()).attest_body(BODY)
