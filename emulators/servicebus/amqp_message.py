"""AMQP 1.0 message sections: keep what the sender wrote byte-for-byte, rebuild what the broker owns.

An encoded message is a run of described sections (header, delivery-annotations, message-annotations,
properties, application-properties, body sections, footer). Service Bus owns the header (delivery
count) and the message annotations (sequence number, enqueued time, lock expiry); everything else is
the sender's. So a stored message keeps the sender's *bare message* sections as raw bytes and only the
two broker-owned sections are encoded again on every delivery. The one exception is dead-lettering,
which adds ``DeadLetterReason``/``DeadLetterErrorDescription`` to the application properties: those
entries are appended to the sender's encoded map without re-encoding the sender's own entries.

proton's ``Data`` decoder hands out ``memoryview`` objects that point into its own buffer; every value
read here is copied (:func:`_owned`) before the ``Data`` object is dropped, or batch payloads come back
corrupted.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from proton import Data, DataException, Described, symbol, timestamp, ulong

# Section descriptor codes (AMQP 1.0 §3.2).
HEADER = 0x70
DELIVERY_ANNOTATIONS = 0x71
MESSAGE_ANNOTATIONS = 0x72
PROPERTIES = 0x73
APPLICATION_PROPERTIES = 0x74
DATA = 0x75
AMQP_SEQUENCE = 0x76
AMQP_VALUE = 0x77
FOOTER = 0x78
_BODY_SECTIONS = (DATA, AMQP_SEQUENCE, AMQP_VALUE)

# Message format of a transfer whose body is a batch of encoded messages (one ``data`` section each).
BATCH_MESSAGE_FORMAT = 0x80013700

# Message annotation keys Service Bus sets (read by the SDK's ``ServiceBusReceivedMessage``).
SEQUENCE_NUMBER = symbol("x-opt-sequence-number")
ENQUEUED_TIME = symbol("x-opt-enqueued-time")
LOCKED_UNTIL = symbol("x-opt-locked-until")
MESSAGE_STATE = symbol("x-opt-message-state")
SCHEDULED_ENQUEUE_TIME = symbol("x-opt-scheduled-enqueue-time")
DEAD_LETTER_SOURCE = symbol("x-opt-deadletter-source")


class MalformedMessageError(ValueError):
    """The bytes are not a well-formed AMQP message."""


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """The sender's header values the broker carries forward (delivery count is the broker's own)."""

    durable: bool = False
    priority: int = 4
    ttl_ms: int | None = None


class HeaderField(enum.IntEnum):
    """Positions in the AMQP 1.0 ``header`` section's list (spec §3.2.1)."""

    DURABLE = 0
    PRIORITY = 1
    TTL = 2


class PropertiesField(enum.IntEnum):
    """Positions in the AMQP 1.0 ``properties`` section's list (spec §3.2.4) that the emulator reads."""

    MESSAGE_ID = 0
    SUBJECT = 3
    CORRELATION_ID = 5
    CONTENT_TYPE = 6
    COUNT = 13  # fields in the list; a sender may send fewer


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A message as received from a sender: broker-relevant fields decoded, bare sections kept raw."""

    header: HeaderFields
    annotations: Mapping[Any, Any]
    properties: tuple[Any, ...]
    application_properties_raw: bytes | None
    bare_sections_raw: tuple[tuple[int, bytes], ...]

    @property
    def message_id(self) -> Any:
        return self.properties[PropertiesField.MESSAGE_ID] if self.properties else None

    @property
    def encoded_size(self) -> int:
        return sum(len(raw) for _, raw in self.bare_sections_raw)


def parse_message(raw: bytes) -> ParsedMessage:
    """Split an encoded message into its sections and decode the ones the broker needs."""
    header = HeaderFields()
    annotations: dict[Any, Any] = {}
    properties: tuple[Any, ...] = ()
    application_properties: bytes | None = None
    bare: list[tuple[int, bytes]] = []
    for code, section in iter_sections(raw):
        if code == HEADER:
            fields = list(decode_section_value(section) or []) + [None] * len(HeaderField)
            header = HeaderFields(
                durable=bool(fields[HeaderField.DURABLE]),
                priority=4 if fields[HeaderField.PRIORITY] is None else int(fields[HeaderField.PRIORITY]),
                ttl_ms=None if fields[HeaderField.TTL] is None else int(fields[HeaderField.TTL]),
            )
        elif code == DELIVERY_ANNOTATIONS:
            continue  # hop-by-hop: never forwarded
        elif code == MESSAGE_ANNOTATIONS:
            annotations = dict(decode_section_value(section) or {})
        else:
            if code == PROPERTIES:
                properties = tuple(decode_section_value(section) or ())
            elif code == APPLICATION_PROPERTIES:
                application_properties = section
            bare.append((code, section))
    if not any(code in _BODY_SECTIONS for code, _ in bare):
        raise MalformedMessageError("message has no body section")
    return ParsedMessage(header, annotations, properties, application_properties, tuple(bare))


def split_batch(raw: bytes) -> list[bytes]:
    """Unpack a batch transfer (message format ``0x80013700``): each ``data`` section is one message."""
    messages = [bytes(decode_section_value(section)) for code, section in iter_sections(raw) if code == DATA]
    if not messages:
        raise MalformedMessageError("batch transfer carries no data sections")
    return messages


def encode_message(
    message: ParsedMessage,
    *,
    delivery_count: int,
    broker_annotations: Mapping[Any, Any],
    time_to_live_ms: int | None = None,
    extra_application_properties: Mapping[str, str] | None = None,
) -> bytes:
    """Encode a message for delivery or peek: fresh header and annotations, the sender's sections as sent.

    ``time_to_live_ms`` replaces the sender's header ttl (the broker's effective time to live).
    """
    annotations = dict(message.annotations)
    annotations.update(broker_annotations)
    parts = [
        _encode_header(message.header, delivery_count, time_to_live_ms),
        _encode_section(MESSAGE_ANNOTATIONS, annotations),
    ]
    extra = dict(extra_application_properties or {})
    for code, section in message.bare_sections_raw:
        if extra and code == APPLICATION_PROPERTIES:
            section = append_to_application_properties(section, extra)
            extra = {}
        elif extra and code != PROPERTIES:
            # The sender wrote no application properties: the new section goes right after properties.
            parts.append(_encode_section(APPLICATION_PROPERTIES, extra))
            extra = {}
        parts.append(section)
    return b"".join(parts)


def append_to_application_properties(section: bytes, extra: Mapping[str, str]) -> bytes:
    """Append string entries to an encoded application-properties map, leaving existing entries untouched."""
    prefix, body = section[:3], section[3:]
    constructor = body[0]
    if constructor == 0xC1:  # map8: size, count, entries
        count, entries = body[2], body[3 : 2 + body[1]]
    elif constructor == 0xD1:  # map32
        size, count = struct.unpack(">II", body[1:9])
        entries = body[9 : 5 + size]
    else:
        raise MalformedMessageError(f"application-properties is not a map (constructor 0x{constructor:02x})")
    new_entries = _map_entries(extra)
    entries = entries + new_entries
    header = struct.pack(">BII", 0xD1, 4 + len(entries), count + 2 * len(extra))
    return prefix + header + entries


def iter_sections(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(descriptor code, raw section bytes)`` for each section of an encoded message."""
    position = 0
    while position < len(raw):
        if raw[position] != 0x00:
            raise MalformedMessageError(f"expected a described section at byte {position}")
        descriptor = raw[position + 1]
        if descriptor == 0x53:  # smallulong
            code = raw[position + 2]
        elif descriptor == 0x80:  # ulong
            code = int.from_bytes(raw[position + 2 : position + 10], "big")
        else:
            raise MalformedMessageError(f"unsupported section descriptor 0x{descriptor:02x}")
        data = Data()
        try:
            length = data.decode(raw[position:])
        except DataException as exc:
            raise MalformedMessageError(f"cannot decode section at byte {position}: {exc}") from exc
        yield code, raw[position : position + length]
        position += length


def decode_section_value(section: bytes) -> Any:
    """Decode one described section and return its value (copied out of proton's buffer)."""
    data = Data()
    data.decode(section)
    data.rewind()
    data.next()
    described = data.get_object()
    return _owned(described.value if isinstance(described, Described) else described)


def _owned(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, Described):
        return Described(_owned(value.descriptor), _owned(value.value))
    if isinstance(value, dict):
        return type(value)((_owned(key), _owned(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_owned(item) for item in value]
    return value


def _encode_section(code: int, value: Any) -> bytes:
    data = Data()
    data.put_object(Described(ulong(code), value))
    return bytes(data.encode())


def _encode_header(header: HeaderFields, delivery_count: int, time_to_live_ms: int | None) -> bytes:
    data = Data()
    data.put_described()
    data.enter()
    data.put_ulong(HEADER)
    data.put_list()
    data.enter()
    data.put_bool(header.durable)
    data.put_ubyte(header.priority)
    ttl_ms = header.ttl_ms if time_to_live_ms is None else time_to_live_ms
    if ttl_ms is None:
        data.put_null()
    else:
        data.put_uint(min(ttl_ms, 0xFFFFFFFF))  # a uint of milliseconds: about 49.7 days at most
    data.put_bool(delivery_count == 0)  # first-acquirer
    data.put_uint(delivery_count)
    data.exit()
    data.exit()
    return bytes(data.encode())


def _map_entries(entries: Mapping[str, str]) -> bytes:
    """The encoded key/value pairs of a map, without the map's own constructor, size and count."""
    data = Data()
    data.put_object(dict(entries))
    encoded = bytes(data.encode())
    return encoded[3:] if encoded[0] == 0xC1 else encoded[9:]


def timestamp_ms(milliseconds: int) -> timestamp:
    """An AMQP timestamp value (proton encodes ``timestamp`` as the AMQP timestamp type)."""
    return timestamp(milliseconds)
