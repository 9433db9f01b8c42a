"""Message ids: the one rule behind every message id this system sets on the queue.

The queue has duplicate detection on (production window: one day, ``infra/modules/servicebus.bicep``):
the broker accepts, then silently drops, a message whose id it has already seen inside the window. So an
id must name exactly what the message *is*:

==============  =============================  ===============================================================
message         id                             identity hashed into the digest
==============  =============================  ===============================================================
published       ``{eventId}/{digest}``         the event id and its canonical body: a resend of the same event
                                               is dropped, a correction (same id, new phone) is not
retry copy      ``{stem}/retry{n}-{digest}``   the id of the message it copies and the attempt ``n``
replay copy     ``{stem}/replay{n}-{digest}``  the dead letter's message id, sequence number and (edited)
                                               body, and the replay count ``n``
==============  =============================  ===============================================================

The digest (96 bits of SHA-256 over the length-prefixed identity) makes the id unique per identity
whatever the input's length or content: the readable part before it is cut to fit Service Bus's
128-character limit and only helps a person reading ``dlq list``; uniqueness never depends on it, so an
event id that is 128 characters long, or that itself contains ``/retry1-…``, cannot make a copy collide
with its original or with another copy. The same identity always gives the same id, so two attempts to
schedule the same copy (a redelivery after a crash) are de-duplicated by the broker, which is what we want.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_MESSAGE_ID_LENGTH = 128  # Service Bus: MessageId is at most 128 characters (.NET, i.e. UTF-16 code units)
DIGEST_CHARS = 24  # hex characters: 96 bits, so a collision among even billions of ids is not a concern

# A suffix this module added earlier: dropped from the readable stem so copies of copies stay short.
_OUR_SUFFIX = re.compile(rf"/(?:(?:retry|replay)[0-9]+-)?[0-9a-f]{{{DIGEST_CHARS}}}$")

IdentityPart = str | int | bytes


def derive_message_id(readable: str, identity: Iterable[IdentityPart], *, label: str = "") -> str:
    """``{readable stem}/{label}-{digest}`` (or ``{stem}/{digest}`` without a label), at most 128 characters.

    ``identity`` decides uniqueness: equal identities give equal ids, different ones different ids.
    ``readable`` is for people only; earlier suffixes of this module are stripped from it.
    """
    suffix = f"/{label}-{identity_digest(identity, label)}" if label else f"/{identity_digest(identity, label)}"
    return _fit_utf16(_stem(readable), MAX_MESSAGE_ID_LENGTH - len(suffix)) + suffix


def identity_digest(identity: Iterable[IdentityPart], label: str = "") -> str:
    """Hex digest of the parts, each length-prefixed so ("ab", "c") and ("a", "bc") differ."""
    digest = hashlib.sha256()
    for part in (label, *identity):
        data = _bytes_of(part)
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:DIGEST_CHARS]


def published_message_id(event_id: str, canonical_body: bytes) -> str:
    """The id a publisher gives one event: the same content gives the same id, a correction a new one."""
    return derive_message_id(event_id, ("event", event_id, canonical_body))


def retry_message_id(source_message_id: str, attempt: int, *, fallback_identity: Iterable[IdentityPart] = ()) -> str:
    """The id of the copy that retry ``attempt`` schedules of the message ``source_message_id``.

    A message without an id (not one this system published) is identified by ``fallback_identity``
    instead (its sequence number and body).
    """
    identity: tuple[IdentityPart, ...] = (source_message_id, attempt)
    if not source_message_id:
        identity += tuple(fallback_identity)
    return derive_message_id(source_message_id or "message", identity, label=f"retry{attempt}")


def replay_message_id(
    readable: str, *, source_message_id: str, sequence_number: int, body: bytes, replay_count: int
) -> str:
    """The id of a dead letter's replay copy: unique per dead letter (two dead letters with the same event id
    differ by sequence number and body) and per replay."""
    identity = (source_message_id, sequence_number, body, replay_count)
    return derive_message_id(readable, identity, label=f"replay{replay_count}")


def _stem(readable: str) -> str:
    stem = readable
    while True:
        shorter = _OUR_SUFFIX.sub("", stem)
        if shorter == stem:
            return stem
        stem = shorter


def _fit_utf16(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-16 length is at most ``limit`` (never half a surrogate pair)."""
    length = 0
    for index, char in enumerate(text):
        length += 2 if ord(char) > 0xFFFF else 1
        if length > limit:
            return text[:index]
    return text


def _bytes_of(part: IdentityPart) -> bytes:
    if isinstance(part, bytes):
        return part
    if isinstance(part, int):
        return str(part).encode("ascii")
    return part.encode("utf-8", errors="surrogatepass")
