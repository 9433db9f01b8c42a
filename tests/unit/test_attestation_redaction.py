"""Personal data quoted in Partner Center's error texts is replaced by placeholders before it goes anywhere."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from shared.attestation import errors as pc
from shared.attestation.outcomes import DeadLetter, RetryLater
from shared.attestation.redaction import redact_personal_data
from shared.attestation.use_case import Attestor
from tests.builders import EMAIL, FIRST, LAST, PHONE, FakeAttestation, FakeMetadata, as_body, event_doc

PC_IDS = pc.RequestIds(request_id="abe0dee0-0000-4000-8000-00000000abe0", correlation_id="corr", ms_cv="cv")
CONTACT = {"firstName": FIRST, "lastName": LAST, "email": EMAIL, "phoneNumber": PHONE}


def test_every_field_is_replaced_case_insensitively() -> None:
    """Names, email and phone are replaced wherever they occur, whatever their case."""
    text = f"Contact {FIRST.upper()} {LAST.lower()} <{EMAIL.upper()}>, phone {PHONE}; again: {FIRST}"

    assert redact_personal_data(text, CONTACT) == (
        "Contact [firstName] [lastName] <[email]>, phone [phoneNumber]; again: [firstName]"
    )


def test_non_ascii_names_are_matched_case_insensitively() -> None:
    """A name with non-ASCII letters is matched in another case."""
    assert redact_personal_data("ZOË ÅSTRÖM and zoë åström", {"firstName": "Zoë", "lastName": "Åström"}) == (
        "[firstName] [lastName] and [firstName] [lastName]"
    )


def test_overlapping_values_prefer_the_longest() -> None:
    """A name inside a longer name or inside the email is replaced as the longer value, never split."""
    values = {"firstName": "Ann", "lastName": "Annabel", "email": "ann.annabel@contoso.example"}

    redacted = redact_personal_data("Annabel, Ann <ann.annabel@contoso.example> Annie", values)

    assert redacted == "[lastName], [firstName] <[email]> [firstName]ie"


def test_regex_metacharacters_in_values_are_literal() -> None:
    """Values with regex metacharacters match only themselves."""
    values = {
        "firstName": "J.R. (Bob)",
        "lastName": "O'Neil*",
        "email": "a+b@x.example",
        "phoneNumber": "+1 (555) 0147",
    }
    text = "J.R. (Bob) O'Neil* a+b@x.example +1 (555) 0147 | JxRx (Bob) O'Neillll aab@x.example"

    assert redact_personal_data(text, values) == (
        "[firstName] [lastName] [email] [phoneNumber] | JxRx (Bob) O'Neillll aab@x.example"
    )


@pytest.mark.parametrize("phone", [None, "", "   "])
def test_missing_phone_is_skipped(phone: str | None) -> None:
    """An absent or empty phone number replaces nothing (an empty pattern would match everywhere)."""
    values = {"firstName": FIRST, "lastName": LAST, "email": EMAIL, "phoneNumber": phone}

    assert redact_personal_data(f"Invalid phone for {FIRST}", values) == "Invalid phone for [firstName]"


def test_same_value_in_two_fields_gets_the_first_placeholder() -> None:
    """A first name equal to the last name is replaced by one placeholder, deterministically."""
    assert redact_personal_data("Lee LEE", {"firstName": "Lee", "lastName": "lee"}) == "[firstName] [firstName]"


def test_text_without_personal_data_is_unchanged() -> None:
    """Text that quotes nothing of the contact comes back as it was."""
    text = "Microsoft Cloud Agreement Template ID '0c9b5c3f' is no longer supported."

    assert redact_personal_data(text, CONTACT) == text


# --- the use case -------------------------------------------------------------------------------------------------


QUOTING = f"Invalid property 'primaryContact': '{FIRST} {LAST}' <{EMAIL}> ({PHONE}) is not valid for this customer."


def _has_personal_data(text: str) -> bool:
    return any(value.lower() in text.lower() for value in (FIRST, LAST, EMAIL, PHONE))


@pytest.mark.parametrize(
    "error",
    [
        pc.InvalidRequest(QUOTING, status=400, code="3000", ids=PC_IDS),
        pc.ServerError(QUOTING, status=500, code="800003", ids=PC_IDS),
        pc.AuthError(QUOTING, status=401, code="1002", ids=PC_IDS),
    ],
    ids=["dead-letter", "retry-later", "auth"],
)
async def test_outcome_descriptions_quote_no_personal_data(
    error: pc.PartnerCenterError, caplog: pytest.LogCaptureFixture
) -> None:
    """An error text quoting the contact reaches the outcome with placeholders, codes and request ids intact."""
    caplog.set_level(logging.DEBUG)

    outcome = await Attestor(FakeAttestation(error), FakeMetadata()).attest_body(as_body(event_doc()))

    assert isinstance(outcome, DeadLetter | RetryLater)
    assert not _has_personal_data(outcome.description)
    assert "'[firstName] [lastName]' <[email]> ([phoneNumber])" in outcome.description
    assert f"code {error.code}" in outcome.description
    assert f"MS-RequestId {PC_IDS.request_id}" in outcome.description
    for record in caplog.records:
        fields: dict[str, Any] = {k: str(v) for k, v in record.__dict__.items()}
        assert not _has_personal_data(record.getMessage() + json.dumps(fields))
