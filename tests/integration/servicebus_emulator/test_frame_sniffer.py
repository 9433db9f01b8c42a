"""The transfer message-format sniffer, fed synthetic AMQP byte streams (no sockets)."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from proton import Data, Described, uint, ulong

from emulators.servicebus.amqp_message import BATCH_MESSAGE_FORMAT
from emulators.servicebus.frame_sniffer import TransferFormatSniffer

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"


def _frame(
    performative: int | None, fields: list[Any], *, channel: int = 0, kind: int = 0, payload: bytes = b""
) -> bytes:
    body = b""
    if performative is not None:
        data = Data()
        data.put_object(Described(ulong(performative), fields))
        body = bytes(data.encode())
    body += payload
    return struct.pack(">IBBH", 8 + len(body), 2, kind, channel) + body


def _stream(message_format: int) -> bytes:
    return b"".join(
        [
            SASL_HEADER,
            _frame(0x41, [b"ANONYMOUS"], kind=1),  # sasl-init
            AMQP_HEADER,
            _frame(0x10, ["client-container"]),  # open
            _frame(None, []),  # heartbeat: an empty frame
            _frame(0x12, ["sender-link", uint(3), False], channel=1),  # attach, role=sender
            _frame(0x14, [uint(3), uint(0), b"\x00\x00\x00\x80", uint(message_format)], channel=1, payload=b"x" * 300),
        ]
    )


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_batch_format_is_read_however_the_bytes_are_split(chunk_size: int) -> None:
    """The transfer's message format is recovered whether bytes arrive one at a time or all at once."""
    sniffer = TransferFormatSniffer()
    stream = _stream(BATCH_MESSAGE_FORMAT)
    for start in range(0, len(stream), chunk_size):
        sniffer.feed(stream[start : start + chunk_size])

    assert sniffer.take_message_format("sender-link", b"\x00\x00\x00\x80") == BATCH_MESSAGE_FORMAT


def test_format_is_taken_once_and_defaults_to_standard() -> None:
    """A recorded format is handed out once; unknown deliveries report the standard format 0."""
    sniffer = TransferFormatSniffer()
    sniffer.feed(_stream(0))

    assert sniffer.take_message_format("sender-link", b"\x00\x00\x00\x80") == 0
    assert sniffer.take_message_format("sender-link", b"\x00\x00\x00\x80") == 0
    assert sniffer.take_message_format("other-link", b"tag") == 0


def test_garbage_stops_sniffing_without_raising() -> None:
    """A stream the sniffer cannot follow is abandoned quietly (proton itself rejects it)."""
    sniffer = TransferFormatSniffer()
    sniffer.feed(AMQP_HEADER + struct.pack(">IBBH", 20, 2, 0, 0) + b"\x00\x53\x14\xff" + b"\x00" * 8)
    sniffer.feed(b"more bytes")

    assert sniffer.take_message_format("sender-link", b"tag") == 0
