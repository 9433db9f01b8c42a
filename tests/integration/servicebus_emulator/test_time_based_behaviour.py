"""Behaviour driven by the clock: lock expiry, time-to-live, scheduled messages, duplicate-detection window.

Queues here use one- and two-second durations; waits poll the inspection API with generous bounds, so
a loaded machine slows the tests down rather than failing them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSender, ServiceBusSubQueue
from azure.servicebus.exceptions import MessageLockLostError

from emulators.servicebus import ServiceBusEmulator

from .receiving import receive_exactly, receive_none, wait_for

pytestmark = pytest.mark.integration


def test_expired_lock_redelivers_and_late_settle_fails(emulator: ServiceBusEmulator, client: ServiceBusClient) -> None:
    """After LockDuration the message is redelivered with delivery count + 1; settling the old copy fails."""
    with (
        client.get_queue_sender("short-lock") as sender,
        client.get_queue_receiver("short-lock", max_wait_time=5) as receiver,
    ):
        sender.send_messages(ServiceBusMessage(b"slow consumer"))
        [first] = receive_exactly(receiver, 1)

        [second] = receive_exactly(receiver, 1, within=15)  # arrives once the 2 s lock has expired

        with pytest.raises(MessageLockLostError):
            receiver.complete_message(first)
        receiver.complete_message(second)
    assert second.sequence_number == first.sequence_number
    assert (first.delivery_count, second.delivery_count) == (0, 1)


def test_expired_message_is_dead_lettered_when_configured(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """With DeadLetteringOnMessageExpiration, a message past its TTL moves to the DLQ as TTLExpiredException."""
    with client.get_queue_sender("expiring-to-dlq") as sender:
        sender.send_messages(ServiceBusMessage(b"stale", message_id="stale-1"))
    wait_for(lambda: emulator.queue_depths("expiring-to-dlq").dead_lettered == 1, what="TTL dead-lettering")

    with client.get_queue_receiver(
        "expiring-to-dlq", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5
    ) as dead_letter_receiver:
        [dead] = receive_exactly(dead_letter_receiver, 1)
        dead_letter_receiver.complete_message(dead)
    assert dead.message_id == "stale-1"
    assert dead.dead_letter_reason == "TTLExpiredException"
    assert emulator.queue_depths("expiring-to-dlq").active == 0


def test_expired_message_is_dropped_when_not_configured(emulator: ServiceBusEmulator, client: ServiceBusClient) -> None:
    """Without DeadLetteringOnMessageExpiration, a message past its TTL simply disappears."""
    with client.get_queue_sender("expiring-dropped") as sender:
        sender.send_messages(ServiceBusMessage(b"stale"))
    assert emulator.queue_depths("expiring-dropped").active == 1

    wait_for(lambda: emulator.queue_depths("expiring-dropped").total == 0, what="TTL drop")


def test_message_time_to_live_shorter_than_the_queue_default_wins(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """A message's own time_to_live applies when shorter than the queue's DefaultMessageTimeToLive."""
    with client.get_queue_sender("basic") as sender:
        sender.send_messages(ServiceBusMessage(b"short-lived", time_to_live=timedelta(seconds=1)))
        sender.send_messages(ServiceBusMessage(b"long-lived"))

    wait_for(lambda: emulator.queue_depths("basic").active == 1, what="message TTL expiry")
    [remaining] = emulator.messages("basic")
    assert remaining.body == b"long-lived"


def test_scheduled_message_arrives_on_time_and_cancel_removes(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """Scheduled messages stay invisible until their time; a cancelled one never arrives."""
    enqueue_at = datetime.now(UTC) + timedelta(seconds=2)
    with (
        client.get_queue_sender("basic") as sender,
        client.get_queue_receiver("basic", max_wait_time=5) as receiver,
    ):
        kept, cancelled = sender.schedule_messages(
            [ServiceBusMessage(b"kept"), ServiceBusMessage(b"cancelled")], enqueue_at, timeout=5
        )
        sender.cancel_scheduled_messages(cancelled, timeout=5)
        assert emulator.queue_depths("basic").scheduled == 1
        receive_none(receiver, wait=0.5)

        [message] = receive_exactly(receiver, 1, within=15)
        receiver.complete_message(message)
    assert message.sequence_number is not None
    assert message.sequence_number > max(kept, cancelled)  # activation numbers it anew
    assert b"".join(message.body) == b"kept"
    assert message.enqueued_time_utc is not None
    assert message.enqueued_time_utc >= enqueue_at - timedelta(milliseconds=1)
    assert emulator.queue_depths("basic").total == 0


def test_message_sent_with_a_scheduled_enqueue_time_is_held(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """A plain send carrying scheduled_enqueue_time_utc is stored as scheduled until that time."""
    with (
        client.get_queue_sender("basic") as sender,
        client.get_queue_receiver("basic", max_wait_time=5) as receiver,
    ):
        sender.send_messages(
            ServiceBusMessage(b"held", scheduled_enqueue_time_utc=datetime.now(UTC) + timedelta(seconds=1))
        )
        assert emulator.queue_depths("basic").scheduled == 1
        [message] = receive_exactly(receiver, 1, within=15)
        receiver.complete_message(message)
    assert b"".join(message.body) == b"held"


def test_duplicate_message_id_is_dropped_within_the_window(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """With RequiresDuplicateDetection, a repeated message id is accepted but dropped until the window ends."""
    with client.get_queue_sender("dedupe") as sender:
        sender.send_messages(ServiceBusMessage(b"first", message_id="same-id"))
        sender.send_messages(ServiceBusMessage(b"second", message_id="same-id"))
        sender.send_messages(ServiceBusMessage(b"other", message_id="other-id"))
        assert [m.body for m in emulator.messages("dedupe")] == [b"first", b"other"]

        wait_for(lambda: _accepts_again(emulator, sender), within=15, what="duplicate window expiry")


def _accepts_again(emulator: ServiceBusEmulator, sender: ServiceBusSender) -> bool:
    """Send the duplicate id again; True once the broker stored it (the 2 s window has passed)."""
    before = emulator.queue_depths("dedupe").active
    sender.send_messages(ServiceBusMessage(b"after the window", message_id="same-id"))
    return emulator.queue_depths("dedupe").active > before
