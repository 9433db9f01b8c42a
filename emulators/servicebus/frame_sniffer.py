"""Read each incoming transfer's ``message-format`` from the raw bytes, because proton does not expose it.

The SDK sends a batch as *one* transfer with message format ``0x80013700`` whose body holds one ``data``
section per encoded message; a single message has format 0. Telling them apart by looking at the body
would misread an ordinary message whose payload happens to be AMQP-encoded bytes, so the broker needs
the format code itself. proton-c 0.40 skips that field when it parses a transfer (no getter exists, in
the Python API or the C API), so this module reads it from the byte stream before proton sees it:

* :class:`TransferFormatSniffer` follows the inbound stream of one connection (protocol headers, SASL
  frames, AMQP frames), decodes only the ``attach`` and ``transfer`` performatives, and records
  ``(link name, delivery tag) → message format``. Payload bytes are skipped, never buffered.
* :class:`SniffingSocket` wraps the accepted socket so every ``recv`` feeds the sniffer *before* proton's
  transport is given the same bytes; by the time proton raises the delivery event the format is known.
"""

from __future__ import annotations

import logging
import socket
import struct
from typing import Any

import cproton  # type: ignore[import-untyped]  # proton's cffi binding ships no type information
from proton import Data, DataException, Described

logger = logging.getLogger(__name__)

_PROTOCOL_HEADER = b"AMQP"
_FRAME_HEADER_SIZE = 8
_AMQP_FRAME = 0x00
_ATTACH = 0x12
_TRANSFER = 0x14
# Enough bytes to see a performative's descriptor and its list constructor with a 32-bit size.
_PERFORMATIVE_PREAMBLE = 3 + 9


class TransferFormatSniffer:
    """Tracks the inbound AMQP byte stream of one connection and remembers each transfer's message format."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip = 0  # payload bytes of the current frame still to discard
        self._sender_links: dict[tuple[int, int], str] = {}  # (channel, remote handle) → link name
        self._formats: dict[tuple[str, bytes], int] = {}
        self._lost_track = False

    def take_message_format(self, link_name: str, delivery_tag: bytes) -> int:
        """The message format the client gave this delivery (0, the standard format, if none was seen)."""
        return self._formats.pop((link_name, bytes(delivery_tag)), 0)

    def feed(self, chunk: bytes) -> None:
        """Consume bytes exactly as they arrived on the socket (any split is fine)."""
        if self._lost_track:
            return
        self._buffer += chunk
        try:
            while self._step():
                pass
        except (ValueError, DataException, struct.error):
            # A stream proton itself will reject; stop following it rather than break the reactor.
            logger.warning("servicebus_emulator.sniffer.lost_track", exc_info=True)
            self._lost_track = True
            self._buffer.clear()

    def _step(self) -> bool:
        """Consume one unit (skipped payload, protocol header or frame); False when more bytes are needed."""
        if self._skip:
            dropped = min(self._skip, len(self._buffer))
            del self._buffer[:dropped]
            self._skip -= dropped
            return dropped > 0
        if len(self._buffer) < _FRAME_HEADER_SIZE:
            return False
        if self._buffer.startswith(_PROTOCOL_HEADER):  # before SASL and again before AMQP proper
            del self._buffer[:_FRAME_HEADER_SIZE]
            return True
        size, data_offset, frame_type, channel = struct.unpack_from(">IBBH", self._buffer)
        body_start = data_offset * 4
        if frame_type != _AMQP_FRAME or size <= body_start:  # SASL frame or heartbeat
            return self._discard(size)
        available = min(size, body_start + _PERFORMATIVE_PREAMBLE)
        if len(self._buffer) < available:
            return False
        body = self._buffer[body_start:available]
        code = body[2] if body[:2] == b"\x00\x53" else None
        if code not in (_ATTACH, _TRANSFER):
            return self._discard(size)
        performative_size = _described_list_size(bytes(body))
        needed = min(size, body_start + performative_size)
        if len(self._buffer) < needed:
            return False
        fields = _decode_list(bytes(self._buffer[body_start:needed]))
        if code == _ATTACH:
            self._on_attach(channel, fields)
        else:
            self._on_transfer(channel, fields)
        return self._discard(size)

    def _discard(self, size: int) -> bool:
        dropped = min(size, len(self._buffer))
        del self._buffer[:dropped]
        self._skip = size - dropped
        return True

    def _on_attach(self, channel: int, fields: list[Any]) -> None:
        name, handle, role = [*fields, None, None, None][:3]
        if role is False and name is not None and handle is not None:  # role false: the client is the sender
            self._sender_links[(channel, int(handle))] = str(name)

    def _on_transfer(self, channel: int, fields: list[Any]) -> None:
        handle, _delivery_id, tag, message_format = [*fields, None, None, None, None][:4]
        link_name = self._sender_links.get((channel, int(handle))) if handle is not None else None
        # Continuation transfers of a multi-frame delivery may omit the tag; the first one carried the format.
        if link_name is not None and tag is not None:
            self._formats.setdefault((link_name, bytes(tag)), int(message_format or 0))


def delivery_tag(delivery: Any) -> bytes:
    """The raw tag of a proton delivery.

    ``Delivery.tag`` decodes the tag as UTF-8, which fails for binary tags; the SDK's are 4-byte
    big-endian counters, so its 128th message would not decode. This reads the bytes through the same
    cffi binding proton's own wrapper uses.
    """
    tag = cproton.lib.pn_delivery_tag(delivery._impl)
    return bytes(cproton.ffi.buffer(tag.start, tag.size))


class SniffingSocket:
    """A socket that shows every received chunk to a :class:`TransferFormatSniffer` before returning it."""

    def __init__(self, sock: socket.socket, sniffer: TransferFormatSniffer) -> None:
        self._sock = sock
        self._sniffer = sniffer

    def recv(self, size: int) -> bytes:
        chunk = self._sock.recv(size)
        self._sniffer.feed(chunk)
        return chunk

    def send(self, payload: bytes) -> int:
        return self._sock.send(payload)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()


def _described_list_size(preamble: bytes) -> int:
    """Encoded size of a ``0x00 0x53 <code>`` described list, from its constructor and size field."""
    constructor = preamble[3]
    if constructor == 0x45:  # list0
        return 4
    if constructor == 0xC0:  # list8
        return 5 + preamble[4]
    if constructor == 0xD0:  # list32
        return 8 + int.from_bytes(preamble[4:8], "big")
    raise ValueError(f"performative is not a list (constructor 0x{constructor:02x})")


def _decode_list(encoded: bytes) -> list[Any]:
    data = Data()
    data.decode(encoded)
    data.rewind()
    data.next()
    value: Any = data.get_object()
    fields: Any = value.value if isinstance(value, Described) else value
    # Copy binaries out of proton's buffer before the Data object is dropped.
    return [bytes(item) if isinstance(item, memoryview) else item for item in fields or []]
