"""Reading a received message's body: every AMQP body section, and never a costly expansion of a value."""

from __future__ import annotations

import tracemalloc
import uuid
from typing import Any

import pytest
from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus._pyamqp.message import Message, Properties

from shared.attestation.contract import MAX_BODY_BYTES, InvalidEventError, parse_event
from shared.attestation.flow_state import Delivery
from shared.servicebus.messages import body_bytes, delivery_of
from tests.builders import received_message


def message_with(**body: Any) -> ServiceBusReceivedMessage:
    amqp = Message(
        properties=Properties(message_id=b"m-1"),
        delivery_annotations={b"x-opt-lock-token": uuid.uuid4()},
        **body,
    )
    return ServiceBusReceivedMessage(amqp, receiver=None)


@pytest.mark.parametrize("value", [[20_000_000], [2**34], 2**40, [[2**33] * 3]])
def test_a_numeric_value_body_is_size_checked_not_expanded(value: object) -> None:
    """A value body such as [20000000] is read as JSON text (tiny), never as bytes(20000000), and is refused
    by the contract with a clear error."""
    tracemalloc.start()
    try:
        body = body_bytes(message_with(value=value), limit=MAX_BODY_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    assert len(body) <= MAX_BODY_BYTES + 1
    with pytest.raises(InvalidEventError, match="body"):
        parse_event(body)


def test_a_sequence_body_is_read_as_json_text() -> None:
    """An AMQP sequence section becomes its JSON text, which the contract refuses as not an object."""
    body = body_bytes(message_with(sequence=[[1, 2, 3]]), limit=MAX_BODY_BYTES)
    assert body == b"[1, 2, 3]"


def test_a_string_value_body_is_its_utf8_text() -> None:
    """Some senders put the JSON event in an AMQP string value: it is read as that text."""
    assert body_bytes(message_with(value='{"eventId": "é"}')) == '{"eventId": "é"}'.encode()


def test_data_sections_are_joined_and_an_oversized_body_stops_at_the_limit() -> None:
    """Data sections concatenate; beyond the limit reading stops at limit + 1 bytes (refused as too large)."""
    assert body_bytes(message_with(data=[b"ab", b"cd"])) == b"abcd"
    big = body_bytes(message_with(data=[b"x" * 40_000, b"y" * 40_000]), limit=MAX_BODY_BYTES)
    assert len(big) == MAX_BODY_BYTES + 1
    with pytest.raises(InvalidEventError, match="at most"):
        parse_event(big)


def test_a_delivery_names_the_status_check_the_message_carries_out() -> None:
    """``delivery_of`` reads ``mca-check`` (the scheduled status check) beside the attempt and the replays; a message
    without it, or with an unreadable one, is no check."""
    check = received_message(
        {"eventId": "e"},
        message_id="e/check3-0123",
        application_properties={b"mca-check": 3, b"mca-attempt": b"2", b"mca-replay-count": b"1"},
    )
    unreadable = received_message({"eventId": "e"}, application_properties={b"mca-check": b"three"})

    assert delivery_of(check) == Delivery(attempt=2, message_id="e/check3-0123", replay_count=1, check=3)
    assert delivery_of(unreadable).check == 0
    assert delivery_of(received_message({"eventId": "e"})).check == 0
