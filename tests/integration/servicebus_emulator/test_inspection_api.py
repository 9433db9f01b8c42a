"""The inspection API: what tests read about queue state directly, without going through AMQP."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceiver, ServiceBusSender

from emulators.servicebus import MessageState, QueueDepths, ServiceBusEmulator

from .receiving import receive_exactly

pytestmark = pytest.mark.integration

QUEUE = "basic"


def test_queue_depths_count_each_state(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """queue_depths reports active (incl. locked), scheduled, deferred and dead-lettered counts."""
    sender.send_messages([ServiceBusMessage(b"1"), ServiceBusMessage(b"2"), ServiceBusMessage(b"3")])
    sender.schedule_messages(ServiceBusMessage(b"later"), datetime.now(UTC) + timedelta(hours=1), timeout=5)
    to_defer, to_dead_letter = receive_exactly(receiver, 2)
    receiver.defer_message(to_defer)
    receiver.dead_letter_message(to_dead_letter, reason="Test")
    [locked] = receive_exactly(receiver, 1)

    assert emulator.queue_depths(QUEUE) == QueueDepths(active=1, scheduled=1, deferred=1, dead_lettered=1, locked=1)
    receiver.complete_message(locked)
    assert emulator.queue_depths(QUEUE).active == 0


def test_message_snapshot_decodes_the_stored_message(emulator: ServiceBusEmulator, sender: ServiceBusSender) -> None:
    """messages() and find_message() expose ids, properties, body and broker-set fields of a stored message."""
    sender.send_messages(
        ServiceBusMessage(
            b"body",
            message_id="snap-1",
            correlation_id="c-1",
            content_type="text/plain",
            subject="s",
            application_properties={"k": "v"},
        )
    )
    [snapshot] = emulator.messages(QUEUE)

    assert emulator.find_message(QUEUE, message_id="snap-1") == snapshot
    assert emulator.find_message(QUEUE, sequence_number=snapshot.sequence_number) == snapshot
    assert emulator.find_message(QUEUE, message_id="absent") is None
    assert (snapshot.message_id, snapshot.correlation_id, snapshot.content_type, snapshot.subject) == (
        "snap-1",
        "c-1",
        "text/plain",
        "s",
    )
    assert snapshot.application_properties == {"k": "v"}
    assert snapshot.body == b"body"
    assert snapshot.state is MessageState.ACTIVE
    assert not snapshot.in_dead_letter_queue
    assert snapshot.enqueued_time_utc <= datetime.now(UTC)


def test_dead_letters_and_find_message_cover_the_dlq(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, receiver: ServiceBusReceiver
) -> None:
    """dead_letters() lists DLQ messages with reason/description; find_message also searches the DLQ."""
    sender.send_messages(ServiceBusMessage(b"bad", message_id="dlq-1"))
    [message] = receive_exactly(receiver, 1)
    receiver.dead_letter_message(message, reason="Invalid", error_description="no tenant")

    [dead] = emulator.dead_letters(QUEUE)
    found = emulator.find_message(QUEUE, message_id="dlq-1")
    assert found == dead
    assert dead.in_dead_letter_queue
    assert (dead.dead_letter_reason, dead.dead_letter_description) == ("Invalid", "no tenant")
    assert emulator.messages(f"{QUEUE}/$DeadLetterQueue") == [dead]


def test_reset_empties_queues_and_duplicate_history(emulator: ServiceBusEmulator, sender: ServiceBusSender) -> None:
    """reset() drops every message in every queue and DLQ."""
    sender.send_messages([ServiceBusMessage(b"a"), ServiceBusMessage(b"b")])
    emulator.reset()
    assert emulator.queue_depths(QUEUE).total == 0


def test_inspection_is_safe_while_the_reactor_is_busy(emulator: ServiceBusEmulator, sender: ServiceBusSender) -> None:
    """Reading state from several threads while messages arrive neither fails nor sees torn state."""
    stop = threading.Event()

    def read_repeatedly() -> int:
        reads, last_active = 0, 0
        while not stop.is_set():
            active = emulator.queue_depths(QUEUE).active
            assert active >= last_active  # only sends happen here: the count never goes back
            last_active = active
            sequence_numbers = [m.sequence_number for m in emulator.messages(QUEUE)]
            assert sequence_numbers == sorted(sequence_numbers)
            reads += 1
        return reads

    with ThreadPoolExecutor(max_workers=3) as pool:
        readers = [pool.submit(read_repeatedly) for _ in range(3)]
        for i in range(50):
            sender.send_messages(ServiceBusMessage(str(i).encode()))
        stop.set()
        assert all(reader.result(timeout=10) > 0 for reader in readers)
    assert emulator.queue_depths(QUEUE).active == 50


def test_function_scoped_fixture_is_a_fresh_emulator(
    emulator: ServiceBusEmulator, sender: ServiceBusSender, servicebus_emulator: ServiceBusEmulator
) -> None:
    """servicebus_emulator is a separate, empty emulator on its own port, serving the overridden config."""
    sender.send_messages(ServiceBusMessage(b"in the module emulator"))

    assert servicebus_emulator.port != emulator.port
    assert servicebus_emulator.queue_names == emulator.queue_names
    assert servicebus_emulator.queue_depths(QUEUE).total == 0
    assert emulator.queue_depths(QUEUE).total == 1
