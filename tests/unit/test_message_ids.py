"""The one message-id rule: unique per identity for any input length and content, within Service Bus's limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.servicebus.messages import (
    MAX_MESSAGE_ID_LENGTH,
    derive_message_id,
    published_message_id,
    replay_message_id,
    retry_message_id,
)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


ADVERSARIAL_IDS = [
    "a" * 121,
    "b" * 127,
    "c" * 128,
    "crm-1/retry-1",
    "crm-1/retry-2/retry-1",
    "crm-1/replay-3",
    "crm-1/retry1-0123456789abcdef01234567",  # looks like one of our own suffixes
    "é" * 128,
    "😀" * 70,  # astral characters: two UTF-16 units each
    "x" * 100 + "😀" * 20,
    "",
]


@pytest.mark.parametrize("source", ADVERSARIAL_IDS, ids=[f"{len(i)}-chars-{i[:14]!a}" for i in ADVERSARIAL_IDS])
def test_retry_copies_never_share_an_id_with_the_original_or_each_other(source: str) -> None:
    """For long, unicode and suffix-like ids: original, copy 1, copy of copy… are all distinct and ≤ 128 units."""
    ids = [source]
    current = source
    for attempt in range(1, 9):
        current = retry_message_id(current, attempt, fallback_identity=(attempt,))
        ids.append(current)
    assert len(set(ids)) == len(ids)
    assert all(utf16_length(i) <= MAX_MESSAGE_ID_LENGTH for i in ids[1:])


def test_retry_ids_of_the_same_message_and_attempt_are_equal() -> None:
    """Scheduling the same copy twice (a redelivery) gives the same id, so the broker drops the second."""
    assert retry_message_id("crm-1", 2) == retry_message_id("crm-1", 2)
    assert retry_message_id("crm-1", 2) != retry_message_id("crm-1", 3)


def test_ids_that_share_a_long_prefix_still_differ() -> None:
    """Two sources equal in their first 128 characters give different copies (the digest sees the whole id)."""
    a, b = "p" * 128 + "a", "p" * 128 + "b"
    assert retry_message_id(a, 1) != retry_message_id(b, 1)
    assert published_message_id(a, b"{}") != published_message_id(b, b"{}")


def test_readable_stem_drops_earlier_suffixes() -> None:
    """A copy of a copy keeps the readable event id, not a growing chain of suffixes."""
    first = retry_message_id(published_message_id("crm-42", b"{}"), 1)
    second = retry_message_id(first, 2)
    assert first.startswith("crm-42/retry1-")
    assert second.startswith("crm-42/retry2-")


def test_replay_and_retry_ids_never_collide() -> None:
    """Retry n and replay n of the same source differ (the label is part of the identity)."""
    replay = replay_message_id("crm-1", source_message_id="crm-1", sequence_number=1, body=b"{}", replay_count=1)
    assert replay != retry_message_id("crm-1", 1)


def test_missing_message_id_falls_back_to_the_given_identity() -> None:
    """Two messages without ids but with different sequence numbers get different retry ids."""
    assert retry_message_id("", 1, fallback_identity=(1, b"{}")) != retry_message_id(
        "", 1, fallback_identity=(2, b"{}")
    )


@given(st.text(max_size=300), st.text(max_size=300), st.integers(0, 10**6))
def test_distinct_identities_give_distinct_ids_within_the_limit(a: str, b: str, attempt: int) -> None:
    """Any two different sources give different ids; every id fits in 128 UTF-16 units."""
    first = derive_message_id(a, (a, attempt), label=f"retry{attempt}")
    second = derive_message_id(b, (b, attempt), label=f"retry{attempt}")
    assert utf16_length(first) <= MAX_MESSAGE_ID_LENGTH
    assert (first == second) == (a == b)
