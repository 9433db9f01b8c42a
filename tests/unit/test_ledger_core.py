"""The ledger's core rules: states never move backwards, and the contact is kept only as a keyed hash."""

from __future__ import annotations

import pytest

from shared.attestation.contract import parse_event
from shared.attestation.ledger import SUCCESSFUL_STATES, LedgerState, contact_fingerprint, may_move
from tests.builders import EMAIL, FIRST, LAST, PHONE, event_with_contact, signed_event

S = LedgerState


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.RECEIVED, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.RETRYING),
        (S.RETRYING, S.IN_PROGRESS),
        (S.RETRYING, S.DEAD_LETTERED),
        (S.DEAD_LETTERED, S.ATTESTED),
        (S.DEAD_LETTERED, S.DEAD_LETTERED),
        (S.ATTESTED, S.ATTESTED),
    ],
)
def test_forward_and_sideways_moves_are_allowed(current: LedgerState, new: LedgerState) -> None:
    """Forwards, retrying ⇄ in progress, a replayed dead letter that succeeds, and rewriting the same state."""
    assert may_move(current, new)


@pytest.mark.parametrize("success", sorted(SUCCESSFUL_STATES))
@pytest.mark.parametrize("new", [s for s in S])
def test_a_success_is_final(success: LedgerState, new: LedgerState) -> None:
    """A success moves to nothing but itself: not back, and not to another success."""
    assert may_move(success, new) is (new is success)


def test_dead_lettered_does_not_go_back_to_retrying() -> None:
    """Once dead-lettered, a late retrying write is refused."""
    assert not may_move(S.DEAD_LETTERED, S.RETRYING)
    assert not may_move(S.IN_PROGRESS, S.RECEIVED)


def test_fingerprint_is_keyed_and_holds_no_contact_text() -> None:
    """The fingerprint depends on the key, hides every contact field, and is empty without a key."""
    contact = signed_event().primary_contact
    first, second = contact_fingerprint(b"key-1", contact), contact_fingerprint(b"key-2", contact)
    assert first != second
    assert len(first) == 64
    assert not any(part.lower() in first for part in (FIRST, LAST, EMAIL, PHONE))
    assert contact_fingerprint(b"", contact) == ""


def test_fingerprint_ignores_case_and_spacing_but_not_the_person() -> None:
    """The same contact written differently gives the same fingerprint; another email does not."""
    same = parse_event(event_with_contact(firstName=FIRST.upper(), email=EMAIL.upper(), phoneNumber="+1-555-0147"))
    other = parse_event(event_with_contact(email="someone.else@contoso.example.com"))
    base = contact_fingerprint(b"k", signed_event().primary_contact)
    assert contact_fingerprint(b"k", same.primary_contact) == base
    assert contact_fingerprint(b"k", other.primary_contact) != base
