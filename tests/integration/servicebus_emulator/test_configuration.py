"""Entity configuration in Microsoft's emulator ``config.json`` shape (no sockets except the last test)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from emulators.servicebus import ConfigError, QueueProperties, load_config, load_default_config
from emulators.servicebus.config import parse_config, parse_iso8601_duration
from emulators.servicebus.testing import running_emulator

from .receiving import receive_exactly

COMMITTED_CONFIG = Path(__file__).parents[3] / "emulators" / "servicebus" / "config.json"


def _document(**properties: Any) -> dict[str, Any]:
    queue = {"Name": "q", "Properties": properties}
    return {"UserConfig": {"Namespaces": [{"Name": "ns", "Queues": [queue], "Topics": []}]}}


def test_committed_config_declares_the_events_and_notifications_queues() -> None:
    """config.json declares mca-events and mca-notifications with the lock, delivery, duplicate and expiry
    settings the app relies on (both with duplicate detection, as in production)."""
    config = load_config(COMMITTED_CONFIG)
    local_queue = QueueProperties(
        lock_duration=timedelta(minutes=1),
        max_delivery_count=10,
        default_message_time_to_live=timedelta(hours=1),
        dead_lettering_on_message_expiration=True,
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(days=1),  # as in production (infra)
    )

    assert config == load_default_config()
    assert dict(config.queues) == {"mca-events": local_queue, "mca-notifications": local_queue}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1M", timedelta(minutes=1)),
        ("PT10M", timedelta(minutes=10)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P14D", timedelta(days=14)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_iso8601_durations(text: str, expected: timedelta) -> None:
    """The ISO-8601 durations used by config.json parse to the right timedelta."""
    assert parse_iso8601_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1M", "PT1X", "-PT1M"])
def test_invalid_durations_are_rejected(text: str) -> None:
    """Anything that is not an ISO-8601 duration is a ConfigError naming the text."""
    with pytest.raises(ConfigError, match="ISO-8601"):
        parse_iso8601_duration(text)


def test_missing_properties_take_microsoft_emulator_defaults() -> None:
    """A queue without Properties gets the defaults Microsoft's emulator uses."""
    config = parse_config(_document())
    assert config.queues["q"] == QueueProperties()


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"RequiresSession": True}, "RequiresSession"),
        ({"ForwardTo": "other"}, "ForwardTo"),
        ({"ForwardDeadLetteredMessagesTo": "other"}, "ForwardDeadLetteredMessagesTo"),
        ({"LockDuration": "PT0S"}, "LockDuration"),
        ({"MaxDeliveryCount": 0}, "MaxDeliveryCount"),
    ],
)
def test_unsupported_or_invalid_settings_fail_loudly(properties: dict[str, Any], message: str) -> None:
    """Settings the emulator cannot honour are refused at load time, naming the setting."""
    with pytest.raises(ConfigError, match=message):
        parse_config(_document(**properties))


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    """An unreadable or malformed file is a ConfigError that names the path."""
    broken = tmp_path / "config.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=str(broken)):
        load_config(broken)
    broken.write_text(json.dumps({"UserConfig": {"Namespaces": []}}))
    with pytest.raises(ConfigError, match="exactly one namespace"):
        load_config(broken)


@pytest.mark.integration
def test_running_emulator_defaults_to_the_committed_config() -> None:
    """running_emulator() with no arguments serves mca-events and mca-notifications, usable by the SDK at once."""
    with (
        running_emulator() as emulator,
        ServiceBusClient.from_connection_string(emulator.connection_string, retry_total=0) as client,
    ):
        with client.get_queue_sender("mca-events") as sender:
            sender.send_messages(ServiceBusMessage(b"{}", message_id="evt-1"))
            sender.send_messages(ServiceBusMessage(b"{}", message_id="evt-1"))  # duplicate detection is on
        with client.get_queue_receiver("mca-events", max_wait_time=5) as receiver:
            [message] = receive_exactly(receiver, 1)
            receiver.complete_message(message)
        with client.get_queue_sender("mca-notifications") as sender:
            sender.send_messages(ServiceBusMessage(b"{}", message_id="note-1"))
            sender.send_messages(ServiceBusMessage(b"{}", message_id="note-1"))  # duplicate detection is on
        with client.get_queue_receiver("mca-notifications", max_wait_time=5) as receiver:
            [message] = receive_exactly(receiver, 1)
            receiver.complete_message(message)
        assert emulator.queue_names == ["mca-events", "mca-notifications"]
        assert emulator.queue_depths("mca-events").total == 0
        assert emulator.queue_depths("mca-notifications").total == 0
