"""The wire format of the events queue, in one place: bodies, message ids, every ``mca-*`` property, copies.

==========================  ====================================================================
what                        rule
==========================  ====================================================================
body                        the event as JSON bytes; ``body_bytes`` reads any AMQP body section
published message           ``event_message``: id ``{eventId}/{digest}``, content type, subject,
                            correlation id
``mca-attempt``             scheduled retries a message already had (``attempt_of``); a retry
                            copy carries attempt + 1, a replay 0
``mca-replay-count``        replays so far; ``mca-original-reason`` and
                            ``mca-original-sequence-number`` name the dead letter replayed
retry copy                  ``copy_for_retry``: same body and properties, a fresh id
``mca-check``               the enhanced attestation's status check a copy carries out
                            (``copy_for_check``; informational: the ledger decides what runs)
==========================  ====================================================================

Message ids, one rule for all (``derive_message_id``):

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
status check    ``{stem}/check{n}-{digest}``   customer, event id, attestation round, replays seen and the
                                               check's number ``n``: every delivery that schedules check n
                                               of one wait gives it the same id, so one arrives
notification    ``{eventId}/{kind}-{digest}``  customer, event id, round, replays seen and the kind
                (``mca-notifications``)        (``shared/servicebus/notifications.py``)
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
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage

from shared.attestation.contract import EVENT_TYPE, SignedAgreementEvent
from shared.attestation.contract.v2 import EVENT_TYPE_V2, AcceptanceRequestedEvent
from shared.attestation.flow_state import Delivery

ATTEMPT_PROPERTY = "mca-attempt"  # how many scheduled retries this message already had
REPLAY_COUNT_PROPERTY = "mca-replay-count"
CHECK_PROPERTY = "mca-check"  # the enhanced attestation's status check this copy carries out
ORIGINAL_REASON_PROPERTY = "mca-original-reason"
ORIGINAL_SEQUENCE_PROPERTY = "mca-original-sequence-number"
# Set by the broker when it dead-letters; a replayed copy must not carry them back into the queue.
BROKER_DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})
CONTENT_TYPE = "application/json"
MAX_MESSAGE_ID_LENGTH = 128  # Service Bus: MessageId is at most 128 characters (.NET, i.e. UTF-16 code units)
DIGEST_CHARS = 24  # hex characters: 96 bits, so a collision among even billions of ids is not a concern
# A suffix this module added earlier: dropped from the readable stem so copies of copies stay short.
_OUR_SUFFIX = re.compile(rf"/(?:(?:retry|replay|check)[0-9]+-)?[0-9a-f]{{{DIGEST_CHARS}}}$")
IdentityPart = str | int | bytes


def body_bytes(message: ServiceBusReceivedMessage, *, limit: int | None = None) -> bytes:
    """The message body as one byte string, whatever sections the sender used.

    Data sections are joined as they are; an AMQP value or sequence section (a number, a list, a map: never
    a valid event, but senders do send them) is rendered as JSON text, so the contract can say what is
    wrong with it. With ``limit``, reading stops once the body is known to be longer (``limit + 1`` bytes
    come back, which the contract refuses as too large): a value such as ``[2**34]`` is never expanded.
    """
    collected = bytearray()
    for part in _sections(message.body):
        collected += part
        if limit is not None and len(collected) > limit:
            return bytes(collected[: limit + 1])
    return bytes(collected)


def _sections(body: Any) -> Iterator[bytes]:
    """The body's parts as bytes. The SDK returns data and sequence sections as an iterator of sections, and
    an AMQP value as the value itself (a list value is one value, not sections)."""
    if isinstance(body, Iterator):
        for section in body:
            yield _section_bytes(section)
    else:
        yield _section_bytes(body)


def _section_bytes(section: Any) -> bytes:
    if isinstance(section, bytes | bytearray | memoryview):
        return bytes(section)
    if isinstance(section, str):
        return section.encode("utf-8", errors="surrogatepass")
    try:  # never bytes(section): bytes(20_000_000) allocates 20 MB of zeros
        return json.dumps(section, ensure_ascii=False, default=repr).encode("utf-8", errors="surrogatepass")
    except (ValueError, TypeError, RecursionError):  # e.g. an int beyond 4300 digits, a self-referencing list
        return f"<AMQP {type(section).__name__} body>".encode()


def text_properties(properties: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Application properties with str keys (the SDK hands received keys and strings back as bytes)."""
    result: dict[str, Any] = {}
    for key, value in (properties or {}).items():
        name = key.decode("utf-8") if isinstance(key, bytes) else str(key)
        result[name] = value.decode("utf-8") if isinstance(value, bytes) else value
    return result


def attempt_of(application_properties: Mapping[str | bytes, object] | None) -> int:
    """The retry attempt a received message carries (0 for a first delivery). Tolerates bytes keys."""
    if not application_properties:
        return 0
    for key, value in application_properties.items():
        name = key.decode() if isinstance(key, bytes) else key
        if name == ATTEMPT_PROPERTY:
            text = value.decode() if isinstance(value, bytes) else str(value)
            return max(0, int(text)) if text.strip().lstrip("-").isdigit() else 0
    return 0


def replay_count_of(properties: Mapping[str, Any]) -> int:
    """How many times this message was already replayed (0 when never, or unreadable)."""
    return _whole_number(properties.get(REPLAY_COUNT_PROPERTY))


def _whole_number(raw: object) -> int:
    text = _text(raw).strip()
    return int(text) if text.isdigit() else 0


def delivery_of(message: ServiceBusReceivedMessage) -> Delivery:
    """What the flows need to know of a received message: its attempt, id, replays and status check."""
    properties = text_properties(message.application_properties)
    return Delivery(
        attempt=attempt_of(message.application_properties),
        message_id=_text(message.message_id),
        replay_count=replay_count_of(properties),
        check=_whole_number(properties.get(CHECK_PROPERTY)),
    )


def time_to_live_seconds(message: ServiceBusReceivedMessage) -> float | None:
    """The message's time to live in seconds, when the host exposes one."""
    ttl = getattr(message, "time_to_live", None)
    return ttl.total_seconds() if isinstance(ttl, timedelta) else None


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


AnyEvent = SignedAgreementEvent | AcceptanceRequestedEvent


def canonical_body(event: AnyEvent) -> bytes:
    """The event as compact JSON with contract field names; absent optional fields are left out."""
    doc = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_message(event: AnyEvent) -> ServiceBusMessage:
    """The Service Bus message for ``event`` (see the table in the module docstring)."""
    body = canonical_body(event)
    return ServiceBusMessage(
        body,
        message_id=published_message_id(event.event_id, body),
        correlation_id=event.correlation_id,
        content_type=CONTENT_TYPE,
        subject=EVENT_TYPE_V2 if isinstance(event, AcceptanceRequestedEvent) else EVENT_TYPE,
    )


def copy_for_retry(message: ServiceBusReceivedMessage, attempt: int) -> ServiceBusMessage:
    """The same body and properties, the attempt number set, and a message id unique to (message, attempt)."""
    properties: dict[str | bytes, Any] = {}
    properties.update(text_properties(message.application_properties))
    properties[ATTEMPT_PROPERTY] = attempt
    body = body_bytes(message)
    source_id = _text(message.message_id)
    return ServiceBusMessage(
        body,
        application_properties=properties,
        message_id=retry_message_id(source_id, attempt, fallback_identity=(int(message.sequence_number or 0), body)),
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        subject=message.subject,
    )


def copy_for_check(
    message: ServiceBusReceivedMessage, check: int, identity: Iterable[IdentityPart], *, event_id: str
) -> ServiceBusMessage:
    """The status-check copy: the same body and properties, ``mca-check`` = check, a fresh retry budget, and a
    message id ``{eventId}/check{n}-{digest of identity}``: whichever delivery schedules check n of a wait (the
    CRM's message, a copy, a duplicate under another message id), the id is one."""
    properties: dict[str | bytes, Any] = {}
    properties.update(text_properties(message.application_properties))
    properties[ATTEMPT_PROPERTY] = 0
    properties[CHECK_PROPERTY] = check
    return ServiceBusMessage(
        body_bytes(message),
        application_properties=properties,
        message_id=derive_message_id(event_id or "event", identity, label=f"check{check}"),
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        subject=message.subject,
    )


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
