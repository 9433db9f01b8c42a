"""PEEK_LOCK settlement with the synchronous SDK: complete, abandon, dead-letter, defer, renew, lock loss."""

from __future__ import annotations

import time

import pytest
from azure.servicebus import (
    ServiceBusMessage,
    ServiceBusReceiver,
    ServiceBusSender,
)
from azure.servicebus.exceptions import MessageLockLostError, MessageNotFoundError

from emulators.servicebus import MessageState, ServiceBusEmulator

from .receiving import receive_exactly, receive_none, sequence_number_of

pytestmark = pytest.mark.integration

QUEUE = "basic"  # max delivery count 3, lock duration 30 s
# 7.15 waits for the broker's settled echo; without it a settlement blocks for 60 s before falling back.
SETTLEMENT_ECHO_BOUND_S = 10


def test_complete_removes_the_message_and_is_echoed_promptly(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """complete_message returns once the broker echoes the settled outcome, and the message is gone."""
    sender.send_messages(ServiceBusMessage(b"done"))
    [message] = receive_exactly(receiver, 1)
    assert emulator.queue_depths(QUEUE).locked == 1

    started = time.monotonic()
    receiver.complete_message(message)

    assert time.monotonic() - started < SETTLEMENT_ECHO_BOUND_S
    assert emulator.queue_depths(QUEUE).total == 0


def test_abandon_redelivers_with_delivery_count_plus_one(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """An abandoned message comes back with the same sequence number and delivery count + 1."""
    sender.send_messages(ServiceBusMessage(b"retry me"))
    [first] = receive_exactly(receiver, 1)
    receiver.abandon_message(first)

    [second] = receive_exactly(receiver, 1)
    receiver.complete_message(second)
    assert second.sequence_number == first.sequence_number
    assert (first.delivery_count, second.delivery_count) == (0, 1)


def test_dead_letter_with_reason_and_description(
    emulator: ServiceBusEmulator,
    sender: ServiceBusSender,
    receiver: ServiceBusReceiver,
    dead_letter_receiver: ServiceBusReceiver,
) -> None:
    """dead_letter_message moves the message to the DLQ carrying the given reason and description."""
    sender.send_messages(ServiceBusMessage(b"poison", message_id="poison-1"))
    [message] = receive_exactly(receiver, 1)
    receiver.dead_letter_message(message, reason="ValidationFailed", error_description="tenant id is missing")

    [dead] = receive_exactly(dead_letter_receiver, 1)
    dead_letter_receiver.complete_message(dead)
    assert dead.message_id == "poison-1"
    assert dead.sequence_number == message.sequence_number
    assert dead.dead_letter_reason == "ValidationFailed"
    assert dead.dead_letter_error_description == "tenant id is missing"
    assert emulator.queue_depths(QUEUE).total == 0


def test_defer_then_receive_deferred_and_complete(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """A deferred message is only reachable by sequence number, and settles through $management."""
    sender.send_messages(ServiceBusMessage(b"later"))
    [message] = receive_exactly(receiver, 1)
    receiver.defer_message(message)
    receive_none(receiver)
    assert emulator.queue_depths(QUEUE).deferred == 1

    [deferred] = receiver.receive_deferred_messages([sequence_number_of(message)], timeout=5)
    assert deferred.lock_token is not None
    assert b"".join(deferred.body) == b"later"
    receiver.complete_message(deferred)
    assert emulator.queue_depths(QUEUE).total == 0


def test_abandoned_deferred_message_stays_deferred(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Abandoning a message received by sequence number leaves it deferred, not back in the active queue."""
    sender.send_messages(ServiceBusMessage(b"still later"))
    [message] = receive_exactly(receiver, 1)
    receiver.defer_message(message)
    [deferred] = receiver.receive_deferred_messages([sequence_number_of(message)], timeout=5)
    receiver.abandon_message(deferred)

    receive_none(receiver)
    snapshot = emulator.find_message(QUEUE, sequence_number=message.sequence_number)
    assert snapshot is not None
    assert snapshot.state is MessageState.DEFERRED


def test_dead_letter_a_deferred_message(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Dead-lettering a deferred message (via $management) lands it in the DLQ with the reason."""
    sender.send_messages(ServiceBusMessage(b"give up"))
    [message] = receive_exactly(receiver, 1)
    receiver.defer_message(message)
    [deferred] = receiver.receive_deferred_messages([sequence_number_of(message)], timeout=5)
    receiver.dead_letter_message(deferred, reason="Stale", error_description="deferred too long")

    [dead] = emulator.dead_letters(QUEUE)
    assert (dead.dead_letter_reason, dead.dead_letter_description) == ("Stale", "deferred too long")


def test_max_delivery_count_dead_letters(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """After MaxDeliveryCount failed deliveries the message goes to the DLQ as MaxDeliveryCountExceeded."""
    sender.send_messages(ServiceBusMessage(b"always fails"))
    counts = []
    for _ in range(3):
        [message] = receive_exactly(receiver, 1)
        counts.append(message.delivery_count)
        receiver.abandon_message(message)

    receive_none(receiver)
    [dead] = emulator.dead_letters(QUEUE)
    assert counts == [0, 1, 2]
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead.dead_letter_description == "Message could not be consumed after 3 delivery attempts."


def test_renew_lock_extends_locked_until(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """renew_message_lock returns a later locked-until time and the message stays settleable."""
    sender.send_messages(ServiceBusMessage(b"slow work"))
    [message] = receive_exactly(receiver, 1)
    first_lock = message.locked_until_utc

    renewed = receiver.renew_message_lock(message, timeout=5)

    assert first_lock is not None
    assert renewed >= first_lock  # now + lock duration, on the broker's millisecond clock
    assert message.locked_until_utc == renewed
    receiver.complete_message(message)


def test_broker_side_lock_loss_raises_on_settle(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """Settling after the broker dropped the lock raises MessageLockLostError (the echo carries the error)."""
    sender.send_messages(ServiceBusMessage(b"lost lock"))
    [message] = receive_exactly(receiver, 1)
    assert emulator.expire_locks(QUEUE) == 1

    [redelivered] = receive_exactly(receiver, 1)
    with pytest.raises(MessageLockLostError):
        receiver.complete_message(message)
    receiver.complete_message(redelivered)
    assert redelivered.delivery_count == 1


def test_receive_deferred_with_unknown_sequence_number_raises(
    emulator: ServiceBusEmulator, receiver: ServiceBusReceiver
) -> None:
    """Asking for a sequence number that is not a deferred message fails with MessageNotFoundError."""
    with pytest.raises(MessageNotFoundError):
        receiver.receive_deferred_messages([987654], timeout=5)
