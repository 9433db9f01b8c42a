"""Every dead-letter reason the code can set has its section in docs/dead-letter-reasons.md, where an operator
looks it up; a section for a reason the code no longer has would send them the wrong way."""

from __future__ import annotations

import re
from pathlib import Path

from shared.attestation.outcomes import DeadLetterReason

PAGE = Path(__file__).resolve().parents[2] / "docs" / "dead-letter-reasons.md"
BROKER_REASONS = {"MaxDeliveryCountExceeded", "TTLExpiredException"}


def test_every_reason_has_a_section_and_every_section_a_reason() -> None:
    headings = re.findall(r"^## (\w+)", PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert set(headings) - BROKER_REASONS == {reason.value for reason in DeadLetterReason}
