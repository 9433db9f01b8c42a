"""docs/event-contract.md, the CRM developers' page, states the rules the parser enforces."""

from __future__ import annotations

import re
from pathlib import Path

from shared.attestation.contract.envelopes import UNSUPPORTED_FORM

PAGE = Path(__file__).resolve().parents[2] / "docs" / "event-contract.md"


def page_text() -> str:
    """The page with each run of whitespace as one space, so quotes may wrap across lines."""
    return re.sub(r"\s+", " ", PAGE.read_text(encoding="utf-8"))


def test_docs_forbid_personal_data_in_event_id() -> None:
    """The page tells CRM teams never to put personal data in eventId, and says where eventId shows up."""
    text = page_text()

    assert "Never put personal data in `eventId`" in text
    for place in ("message ids", "logs", "`mca-attest dlq list`"):
        assert place in text


def test_docs_quote_the_unsupported_form_error() -> None:
    """The page quotes the one error an unsupported envelope gets, word for word."""
    assert f"body: {UNSUPPORTED_FORM}" in page_text()
