"""Sending, receiving and peeking with the synchronous SDK: what goes in comes out, in order, intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceiveMode,
    ServiceBusReceiver,
    ServiceBusSender,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import MessageSizeExceededError, MessagingEntityNotFoundError, ServiceBusError
from proton import Message

from emulators.servicebus import ServiceBusEmulator

from .receiving import receive_exactly, receive_none, sequence_number_of

pytestmark = pytest.mark.integration

QUEUE = "basic"


def test_message_properties_survive_the_round_trip(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Body, message id, correlation id, content type, subject and application properties arrive as sent."""
    sender.send_messages(
        ServiceBusMessage(
            b"\x00\xffpayload",
            message_id="event-1",
            correlation_id="corr-1",
            content_type="application/json",
            subject="mca.accepted",
            application_properties={"tenant": "t-1", "attempt": 2, "urgent": True, "ratio": 0.5},
        )
    )
    [message] = receive_exactly(receiver, 1)
    receiver.complete_message(message)

    assert b"".join(message.body) == b"\x00\xffpayload"
    assert message.message_id == "event-1"
    assert message.correlation_id == "corr-1"
    assert message.content_type == "application/json"
    assert message.subject == "mca.accepted"
    assert message.application_properties == {b"tenant": b"t-1", b"attempt": 2, b"urgent": True, b"ratio": 0.5}


def test_broker_sets_sequence_number_and_enqueued_time(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Sequence numbers increase by one per message and the enqueued time is the broker's clock."""
    before = datetime.now(UTC) - timedelta(seconds=1)
    sender.send_messages(ServiceBusMessage(b"first"))
    sender.send_messages(ServiceBusMessage(b"second"))
    first, second = receive_exactly(receiver, 2)
    for message in (first, second):
        receiver.complete_message(message)

    assert second.sequence_number == sequence_number_of(first) + 1
    assert first.enqueued_time_utc is not None
    assert before <= first.enqueued_time_utc <= datetime.now(UTC) + timedelta(seconds=1)
    assert first.delivery_count == 0


def test_batch_send_is_split_into_separate_messages(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """A list sent in one batch transfer arrives as that many messages, in order, with their own ids."""
    sender.send_messages([ServiceBusMessage(f"m{i}".encode(), message_id=f"id-{i}") for i in range(3)])
    assert emulator.queue_depths(QUEUE).active == 3

    messages = receive_exactly(receiver, 3)
    for message in messages:
        receiver.complete_message(message)
    assert [m.message_id for m in messages] == ["id-0", "id-1", "id-2"]
    assert [b"".join(m.body) for m in messages] == [b"m0", b"m1", b"m2"]


def test_single_message_with_an_amqp_encoded_body_is_not_split(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Batches are told apart by the transfer's message format, not by what the body looks like."""
    encoded_inner = bytes(Message(body=b"inner", id="inner-id").encode())
    sender.send_messages(ServiceBusMessage(encoded_inner, message_id="outer-id"))

    [message] = receive_exactly(receiver, 1)
    receiver.complete_message(message)
    assert message.message_id == "outer-id"
    assert b"".join(message.body) == encoded_inner


def test_peek_from_a_sequence_number_does_not_lock(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Peek returns messages from the given sequence number on, leaves them active and unlocked."""
    sender.send_messages([ServiceBusMessage(f"p{i}".encode()) for i in range(5)])
    everything = receiver.peek_messages(max_message_count=10, sequence_number=0, timeout=5)
    third = everything[2].sequence_number
    assert third is not None

    from_third = receiver.peek_messages(max_message_count=10, sequence_number=third, timeout=5)

    assert [b"".join(m.body) for m in everything] == [b"p0", b"p1", b"p2", b"p3", b"p4"]
    assert [m.sequence_number for m in from_third] == [third, third + 1, third + 2]
    assert emulator.queue_depths(QUEUE).active == 5
    assert emulator.queue_depths(QUEUE).locked == 0


def test_peek_on_an_empty_dead_letter_queue_returns_nothing(
    emulator: ServiceBusEmulator, dead_letter_receiver: ServiceBusReceiver
) -> None:
    """Peeking an empty dead-letter queue yields an empty list (the broker answers 204)."""
    assert dead_letter_receiver.peek_messages(max_message_count=5, timeout=5) == []


def test_peek_dead_letter_queue_shows_reason(
    emulator: ServiceBusEmulator,
    sender: ServiceBusSender,
    receiver: ServiceBusReceiver,
    dead_letter_receiver: ServiceBusReceiver,
) -> None:
    """A dead-lettered message is peekable in the DLQ with its reason and description."""
    sender.send_messages(ServiceBusMessage(b"bad"))
    [message] = receive_exactly(receiver, 1)
    receiver.dead_letter_message(message, reason="ValidationFailed", error_description="missing tenant id")

    [peeked] = dead_letter_receiver.peek_messages(
        max_message_count=5, sequence_number=sequence_number_of(message), timeout=5
    )
    assert peeked.sequence_number == message.sequence_number
    assert peeked.dead_letter_reason == "ValidationFailed"
    assert peeked.dead_letter_error_description == "missing tenant id"


def test_receive_and_delete_removes_on_delivery(
    emulator: ServiceBusEmulator, client: ServiceBusClient, sender: ServiceBusSender
) -> None:
    """In RECEIVE_AND_DELETE mode a delivered message is gone from the queue without settlement."""
    sender.send_messages([ServiceBusMessage(b"a"), ServiceBusMessage(b"b")])
    with client.get_queue_receiver(
        QUEUE, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE, max_wait_time=5
    ) as deleting_receiver:
        messages = receive_exactly(deleting_receiver, 2)
        receive_none(deleting_receiver)

    assert [b"".join(m.body) for m in messages] == [b"a", b"b"]
    assert emulator.queue_depths(QUEUE).total == 0


def test_unknown_queue_raises_entity_not_found(emulator: ServiceBusEmulator, client: ServiceBusClient) -> None:
    """Sending to or receiving from a queue that is not configured fails with amqp:not-found."""
    with pytest.raises(MessagingEntityNotFoundError), client.get_queue_sender("no-such-queue") as sender:
        sender.send_messages(ServiceBusMessage(b"lost"), timeout=10)
    with (
        pytest.raises(MessagingEntityNotFoundError),
        client.get_queue_receiver("no-such-queue", max_wait_time=1) as receiver,
    ):
        receiver.receive_messages(max_wait_time=1)


def test_oversized_message_is_rejected(emulator: ServiceBusEmulator, sender: ServiceBusSender) -> None:
    """A message over the link's max-message-size is refused with MessageSizeExceededError and not stored."""
    with pytest.raises(MessageSizeExceededError):
        sender.send_messages(ServiceBusMessage(b"x" * (300 * 1024)), timeout=10)
    assert emulator.queue_depths(QUEUE).total == 0


def test_session_receiver_is_refused(emulator: ServiceBusEmulator, client: ServiceBusClient) -> None:
    """Sessions are unsupported: a session receiver fails with amqp:not-implemented instead of hanging."""
    with (
        pytest.raises(ServiceBusError, match="not-implemented"),
        client.get_queue_receiver(QUEUE, session_id="session-1", max_wait_time=1) as receiver,
    ):
        receiver.receive_messages(max_wait_time=1)


def test_transfer_dead_letter_queue_exists_and_is_empty(
    emulator: ServiceBusEmulator, client: ServiceBusClient, sender: ServiceBusSender
) -> None:
    """Every queue has a $Transfer/$DeadLetterQueue, as in Azure: receiving from or peeking it finds nothing."""
    sender.send_messages(ServiceBusMessage(b"stays in the queue"))
    with client.get_queue_receiver(
        QUEUE, sub_queue=ServiceBusSubQueue.TRANSFER_DEAD_LETTER, max_wait_time=1
    ) as transfer_receiver:
        assert transfer_receiver.peek_messages(max_message_count=10, timeout=5) == []
        receive_none(transfer_receiver)
    assert emulator.queue_depths(QUEUE).active == 1
