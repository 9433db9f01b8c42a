"""``mca-attest publish`` and ``mca-attest dlq`` against the local Service Bus emulator with the real SDK.

The commands run through ``click.testing.CliRunner`` with the emulator's connection string in the
environment, exactly as an operator's shell would provide it. Set-up and checks use the sync SDK.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage
from click.testing import CliRunner, Result

from emulators.servicebus import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from shared.attestation.contract import EVENT_TYPE, parse_event
from shared.cli.main import cli
from shared.servicebus.messages import body_bytes, text_properties
from tests.builders import TENANT, contact, event_doc

pytestmark = pytest.mark.integration

QUEUE = "mca-events"
TENANT_A = TENANT
TENANT_B = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
RECEIVE_WAIT = 2.0  # seconds; every receive below is bounded by it


@pytest.fixture(scope="module")
def emulator_module() -> Iterator[ServiceBusEmulator]:
    with running_emulator() as emulator:  # the committed config.json: queue mca-events, duplicate detection on
        yield emulator


@pytest.fixture
def emulator(emulator_module: ServiceBusEmulator) -> ServiceBusEmulator:
    """The module's emulator, emptied (queues and duplicate-detection history) for this test."""
    emulator_module.reset()
    return emulator_module


@pytest.fixture
def client(emulator: ServiceBusEmulator) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(emulator.connection_string) as sb:
        yield sb


def run_cli(emulator: ServiceBusEmulator, *args: str) -> Result:
    env: Mapping[str, str | None] = {
        "ServiceBusConnection": emulator.connection_string,
        "ServiceBusConnection__fullyQualifiedNamespace": None,
        "SERVICEBUS_QUEUE_NAME": None,
    }
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def send_events(
    client: ServiceBusClient, docs: list[dict[str, Any]], properties: dict[str | bytes, Any] | None = None
) -> None:
    messages = [
        ServiceBusMessage(
            json.dumps(doc),
            message_id=doc["eventId"],
            content_type="application/json",
            subject=EVENT_TYPE,
            application_properties=dict(properties or {}),
        )
        for doc in docs
    ]
    with client.get_queue_sender(QUEUE) as sender:
        sender.send_messages(messages)


def dead_letter_everything(client: ServiceBusClient, expected: int, reason_of: dict[str, tuple[str, str]]) -> None:
    """Receive ``expected`` messages from the queue and dead-letter each with reason_of[message id]."""
    done = 0
    deadline = time.monotonic() + 30
    with client.get_queue_receiver(QUEUE) as receiver:
        while done < expected and time.monotonic() < deadline:
            batch = receiver.receive_messages(max_message_count=min(100, expected - done), max_wait_time=RECEIVE_WAIT)
            for message in batch:
                reason, description = reason_of[str(message.message_id)]
                receiver.dead_letter_message(message, reason=reason, error_description=description)
            done += len(batch)
    assert done == expected, f"dead-lettered {done} of {expected}"


def seed_dead_letters(
    client: ServiceBusClient, specs: list[tuple[str, str, str]], properties: dict[str | bytes, Any] | None = None
) -> None:
    """Dead-letter one event per (event id, tenant, reason)."""
    send_events(
        client, [event_doc(eventId=event_id, customerTenantId=tenant) for event_id, tenant, _ in specs], properties
    )
    reasons = {event_id: (reason, f"{reason} for the test") for event_id, _, reason in specs}
    dead_letter_everything(client, len(specs), reasons)


def drain_queue(client: ServiceBusClient, expected: int) -> list[ServiceBusReceivedMessage]:
    """Receive and complete ``expected`` messages from the queue (fails, not hangs, if fewer arrive)."""
    received: list[ServiceBusReceivedMessage] = []
    deadline = time.monotonic() + 20
    with client.get_queue_receiver(QUEUE) as receiver:
        while len(received) < expected and time.monotonic() < deadline:
            batch = receiver.receive_messages(max_message_count=expected - len(received), max_wait_time=RECEIVE_WAIT)
            for message in batch:
                receiver.complete_message(message)
            received += batch
        assert receiver.receive_messages(max_message_count=1, max_wait_time=0.5) == []
    assert len(received) == expected
    return received


# --- publish -------------------------------------------------------------------------------------------------


def test_publish_sends_one_message_per_valid_event_with_ids_and_properties(
    emulator: ServiceBusEmulator, client: ServiceBusClient, tmp_path: Path
) -> None:
    """A file's valid events arrive with id = eventId/digest, correlation id, content type and subject; invalid ones
    not."""
    docs = [
        event_doc(eventId="crm-1", correlationId="corr-1"),
        event_doc(eventId="crm-2"),
        event_doc(eventId="crm-3", customerTenantId="not-a-guid"),
        event_doc(eventId="crm-1", correlationId="corr-1"),
        event_doc(eventId="crm-4", customerTenantId=TENANT_B),
    ]
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")

    result = run_cli(emulator, "publish", str(file), "--batch-size", "2")

    assert result.exit_code == 1, result.output  # one invalid record
    assert "published=3 invalid=1 duplicate_in_file=1" in result.output
    messages = {str(m.message_id).split("/")[0]: m for m in drain_queue(client, 3)}
    assert sorted(messages) == ["crm-1", "crm-2", "crm-4"]
    first = messages["crm-1"]
    assert (first.correlation_id, first.content_type, first.subject) == ("corr-1", "application/json", EVENT_TYPE)
    assert messages["crm-2"].correlation_id is None
    assert parse_event(body_bytes(messages["crm-4"])).customer_tenant_id == TENANT_B


def test_publishing_the_same_events_again_is_dropped_by_duplicate_detection(
    emulator: ServiceBusEmulator, client: ServiceBusClient, tmp_path: Path
) -> None:
    """A second publish of the same event ids succeeds but the queue keeps one message per event."""
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(json.dumps(event_doc(eventId=f"crm-{i}")) for i in range(4)) + "\n", encoding="utf-8")

    assert run_cli(emulator, "publish", str(file)).exit_code == 0
    second = run_cli(emulator, "publish", str(file))

    assert second.exit_code == 0, second.output
    assert emulator.queue_depths(QUEUE).active == 4
    assert sorted(str(m.message_id).split("/")[0] for m in drain_queue(client, 4)) == [f"crm-{i}" for i in range(4)]


def test_a_corrected_event_reaches_the_queue(
    emulator: ServiceBusEmulator, client: ServiceBusClient, tmp_path: Path
) -> None:
    """Same eventId, new phone, published after the original: duplicate detection keeps both, and publish says so."""
    original = tmp_path / "original.jsonl"
    original.write_text(
        json.dumps(event_doc(eventId="crm-7", primaryContact=contact(phoneNumber=...))) + "\n", encoding="utf-8"
    )
    corrected = tmp_path / "corrected.jsonl"
    corrected.write_text(
        json.dumps(event_doc(eventId="crm-7", primaryContact=contact(phoneNumber="+1 425"))) + "\n", encoding="utf-8"
    )

    assert run_cli(emulator, "publish", str(original)).exit_code == 0
    second = run_cli(emulator, "publish", str(corrected))

    assert "published=1" in second.output
    bodies = [parse_event(body_bytes(m)) for m in drain_queue(client, 2)]
    assert [b.primary_contact.phone_number for b in bodies] == [None, "+1 425"]


# --- list / show / export ------------------------------------------------------------------------------------


@pytest.fixture
def many_dead_letters(client: ServiceBusClient) -> list[tuple[str, str, str]]:
    """130 dead letters (more than one page of 100): 100 InvalidEvent for A, 30 RetriesExhausted for B."""
    specs = [(f"inv-{i:03}", TENANT_A, "InvalidEvent") for i in range(100)]
    specs += [(f"ret-{i:03}", TENANT_B, "RetriesExhausted") for i in range(30)]
    seed_dead_letters(client, specs, {"mca-attempt": 8})
    return specs


def list_json(emulator: ServiceBusEmulator, *args: str) -> dict[str, Any]:
    result = run_cli(emulator, "dlq", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.output)
    return document


def test_list_pages_through_the_whole_dlq_and_filters(
    emulator: ServiceBusEmulator, many_dead_letters: list[tuple[str, str, str]]
) -> None:
    """``dlq list`` sees all 130 dead letters (past the first 100) and filters by reason, customer and event id."""
    everything = list_json(emulator)
    assert everything["count"] == 130
    assert len({m["sequenceNumber"] for m in everything["messages"]}) == 130

    retries = list_json(emulator, "--reason", "RetriesExhausted")
    assert {m["eventId"] for m in retries["messages"]} == {f"ret-{i:03}" for i in range(30)}
    assert list_json(emulator, "--customer", TENANT_B)["count"] == 30
    one = list_json(emulator, "--event-id", "inv-042")["messages"]
    assert [(m["eventId"], m["reason"], m["customerTenantId"]) for m in one] == [("inv-042", "InvalidEvent", TENANT_A)]
    enqueued = one[0]["enqueuedTime"]
    assert list_json(emulator, "--since", enqueued, "--event-id", "inv-042")["count"] == 1
    assert list_json(emulator, "--until", "2000-01-01T00:00:00Z")["count"] == 0
    assert "contoso.example.com" not in json.dumps(everything)


def test_list_table_shows_reasons_but_no_contact_details(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """The table names reason, description and ids; no email from the bodies appears."""
    seed_dead_letters(client, [("crm-7", TENANT_A, "UnknownCustomer")])
    result = run_cli(emulator, "dlq", "list")
    assert result.exit_code == 0, result.output
    assert "UnknownCustomer" in result.output
    assert "crm-7" in result.output
    assert "contoso.example.com" not in result.output


def test_show_prints_one_message_in_full(emulator: ServiceBusEmulator, client: ServiceBusClient) -> None:
    """``dlq show SEQ --json`` gives every property and the body of that message."""
    seed_dead_letters(client, [("crm-8", TENANT_A, "NoRelationship")])
    sequence = emulator.dead_letters(QUEUE)[0].sequence_number
    result = run_cli(emulator, "dlq", "show", str(sequence), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["reason"] == "NoRelationship"
    assert json.loads(document["body"])["eventId"] == "crm-8"
    assert run_cli(emulator, "dlq", "show", str(sequence + 1000)).exit_code == 1


def test_export_writes_every_matching_message_with_its_properties(
    emulator: ServiceBusEmulator, many_dead_letters: list[tuple[str, str, str]], tmp_path: Path
) -> None:
    """``dlq export`` writes all 130 messages as JSONL with properties and bodies, and leaves the DLQ as it was."""
    out = tmp_path / "dlq.jsonl"
    result = run_cli(emulator, "dlq", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "exported 130 messages" in result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 130
    assert {json.loads(line["body"])["eventId"] for line in lines} == {spec[0] for spec in many_dead_letters}
    assert all(line["applicationProperties"]["mca-attempt"] == 8 for line in lines)
    assert emulator.queue_depths(QUEUE).dead_lettered == 130


# --- replay --------------------------------------------------------------------------------------------------


def test_replay_moves_matching_messages_back_with_metadata(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """Replay sends copies with a fresh id, mca-attempt 0 and replay metadata, then removes the originals."""
    specs = [(f"ret-{i}", TENANT_B, "RetriesExhausted") for i in range(3)] + [("inv-0", TENANT_A, "InvalidEvent")]
    seed_dead_letters(client, specs, {"mca-attempt": 8, "crm-source": "dynamics"})
    original_sequences = {s.message_id: s.sequence_number for s in emulator.dead_letters(QUEUE)}

    dry = run_cli(emulator, "dlq", "replay", "--reason", "RetriesExhausted", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would replay=3 would fail=0" in dry.output
    assert emulator.queue_depths(QUEUE).dead_lettered == 4  # a dry run changes nothing

    result = run_cli(emulator, "dlq", "replay", "--reason", "RetriesExhausted", "--max-wait", "1")

    assert result.exit_code == 0, result.output
    assert "replayed=3 skipped=1 failed=0" in result.output
    assert [s.message_id for s in emulator.dead_letters(QUEUE)] == ["inv-0"]  # the other reason stays
    replayed = {str(m.message_id).split("/")[0]: m for m in drain_queue(client, 3)}
    assert sorted(replayed) == [f"ret-{i}" for i in range(3)]
    assert all(str(m.message_id).split("/")[1].startswith("replay1-") for m in replayed.values())
    copy = replayed["ret-1"]
    assert text_properties(copy.application_properties) == {
        "crm-source": "dynamics",
        "mca-attempt": 0,
        "mca-replay-count": 1,
        "mca-original-reason": "RetriesExhausted",
        "mca-original-sequence-number": original_sequences["ret-1"],
    }
    assert copy.dead_letter_reason is None
    assert (copy.content_type, copy.subject) == ("application/json", EVENT_TYPE)
    assert parse_event(body_bytes(copy)).event_id == "ret-1"

    rest = run_cli(emulator, "dlq", "replay", "--max-wait", "1")
    assert rest.exit_code == 0, rest.output
    assert emulator.queue_depths(QUEUE).dead_lettered == 0  # the DLQ ends empty


def test_replay_pages_past_one_receive_batch(
    emulator: ServiceBusEmulator, client: ServiceBusClient, many_dead_letters: list[tuple[str, str, str]]
) -> None:
    """Replaying the 30 RetriesExhausted among 130 dead letters finds them all and leaves the 100 others."""
    result = run_cli(emulator, "dlq", "replay", "--reason", "RetriesExhausted", "--max-wait", "1")
    assert result.exit_code == 0, result.output
    assert "replayed=30 skipped=100 failed=0" in result.output
    depths = emulator.queue_depths(QUEUE)
    assert (depths.active, depths.dead_lettered, depths.locked) == (30, 100, 0)


def test_replay_with_an_invalid_edit_leaves_the_message_in_the_dlq(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """``--set primaryContact.email=…`` that fails validation sends nothing, exits 1 and keeps the dead letter."""
    seed_dead_letters(client, [("crm-9", TENANT_A, "InvalidEvent")])
    result = run_cli(
        emulator,
        "dlq",
        "replay",
        "--event-id",
        "crm-9",
        "--set",
        "primaryContact.email=not-an-email",
        "--max-wait",
        "1",
    )
    assert result.exit_code == 1, result.output
    assert "replayed=0 skipped=0 failed=1" in result.output
    assert "primaryContact.email" in result.output
    depths = emulator.queue_depths(QUEUE)
    assert (depths.active, depths.dead_lettered, depths.locked) == (0, 1, 0)


def test_replay_with_a_valid_edit_sends_the_edited_event(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """A valid ``--set`` replays the event with the new value and removes the dead letter."""
    seed_dead_letters(client, [("crm-10", TENANT_A, "InvalidEvent")])
    result = run_cli(
        emulator, "dlq", "replay", "--set", "primaryContact.email=fixed@contoso.example.com", "--max-wait", "1"
    )
    assert result.exit_code == 0, result.output
    [copy] = drain_queue(client, 1)
    assert parse_event(body_bytes(copy)).primary_contact.email == "fixed@contoso.example.com"
    assert str(copy.message_id).startswith("crm-10/replay1-")
    assert emulator.queue_depths(QUEUE).dead_lettered == 0


def test_two_dead_letters_with_one_event_id_both_come_back(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    """An original and its correction, both dead-lettered under one eventId: replay sends two copies and the queue
    (duplicate detection on) keeps both — the tool's replayed=2 is true."""
    original, corrected = contact(phoneNumber=...), contact(phoneNumber="+1 425")
    messages = [
        ServiceBusMessage(json.dumps(doc), message_id=f"crm-11/{n}", content_type="application/json")
        for n, doc in enumerate(
            [
                event_doc(eventId="crm-11", primaryContact=original),
                event_doc(eventId="crm-11", primaryContact=corrected),
            ]
        )
    ]
    with client.get_queue_sender(QUEUE) as sender:
        sender.send_messages(messages)
    dead_letter_everything(client, 2, {f"crm-11/{n}": ("UnknownCustomer", "for the test") for n in range(2)})

    result = run_cli(emulator, "dlq", "replay", "--event-id", "crm-11", "--max-wait", "1")

    assert "replayed=2 skipped=0 failed=0" in result.output, result.output
    copies = drain_queue(client, 2)
    assert len({str(m.message_id) for m in copies}) == 2
    assert sorted(str(parse_event(body_bytes(m)).primary_contact.phone_number) for m in copies) == ["+1 425", "None"]


# --- purge ---------------------------------------------------------------------------------------------------


def test_purge_needs_confirmation_and_deletes_only_what_it_exported(
    emulator: ServiceBusEmulator, client: ServiceBusClient, tmp_path: Path
) -> None:
    """Without --yes nothing happens; with it, the matching messages are exported, then exactly those deleted."""
    specs = [(f"inv-{i}", TENANT_A, "InvalidEvent") for i in range(4)] + [("ret-0", TENANT_B, "RetriesExhausted")]
    seed_dead_letters(client, specs)
    backup = tmp_path / "purged.jsonl"

    refused = run_cli(emulator, "dlq", "purge", "--reason", "InvalidEvent", "--export-to", str(backup))
    assert refused.exit_code == 2, refused.output
    assert not backup.exists()
    assert emulator.queue_depths(QUEUE).dead_lettered == 5

    result = run_cli(
        emulator, "dlq", "purge", "--reason", "InvalidEvent", "--export-to", str(backup), "--yes", "--max-wait", "1"
    )

    assert result.exit_code == 0, result.output
    assert "deleted=4 of exported=4" in result.output
    exported = [json.loads(line) for line in backup.read_text(encoding="utf-8").splitlines()]
    assert sorted(json.loads(e["body"])["eventId"] for e in exported) == [f"inv-{i}" for i in range(4)]
    assert [s.message_id for s in emulator.dead_letters(QUEUE)] == ["ret-0"]
    assert emulator.queue_depths(QUEUE).locked == 0


def test_purge_to_an_unwritable_export_path_is_one_line_and_deletes_nothing(
    emulator: ServiceBusEmulator, client: ServiceBusClient, tmp_path: Path
) -> None:
    """`dlq purge --export-to` a path under a file: a one-line error, exit 1, no traceback, nothing deleted."""
    seed_dead_letters(client, [("crm-1", TENANT_A, "InvalidEvent")])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    result = run_cli(emulator, "dlq", "purge", "--export-to", str(blocker / "out.jsonl"), "--yes", "--max-wait", "1")

    assert result.exit_code == 1
    assert "cannot write" in result.output
    assert "Traceback" not in result.output
    assert [s.message_id for s in emulator.dead_letters(QUEUE)] == ["crm-1"]
