"""Dead-letter operations over recording fakes: reading, filtering, paging, editing, replay and purge."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessageLockLostError
from click.testing import CliRunner

from shared.attestation.contract import InvalidEventError, parse_event
from shared.attestation.contract.v2 import EVENT_TYPE_V2, parse_acceptance_requested
from shared.cli.main import cli
from shared.servicebus.dead_letters.browse import DeadLetterFilter, find_matching, peek_all, peek_one
from shared.servicebus.dead_letters.documents import summary_document, write_export
from shared.servicebus.dead_letters.edits import EditError, FieldEdit, apply_edits
from shared.servicebus.dead_letters.purge import delete_exported
from shared.servicebus.dead_letters.records import DeadLetterRecord
from shared.servicebus.dead_letters.replay import ReplayStatus, build_replay, plan_replays, replay
from shared.servicebus.messages import replay_message_id, retry_message_id
from tests.builders import (
    COMPANY,
    EMAIL,
    FIRST,
    LAST,
    PHONE,
    TEMPLATE,
    TENANT,
    RecordingSender,
    acceptance_requested_doc,
    as_body,
    cloud_event,
    contact,
    event_doc,
    event_grid_event,
)

OTHER_TENANT = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@dataclass
class FakeMessage:
    """The attributes of ``ServiceBusReceivedMessage`` the code reads."""

    sequence_number: int
    body: bytes = b"{}"
    dead_letter_reason: str | None = "InvalidEvent"
    dead_letter_error_description: str | None = "primaryContact.email: must be a valid email address"
    enqueued_time_utc: datetime | None = T0
    delivery_count: int | None = 1
    message_id: str | None = "crm-1"
    correlation_id: str | None = None
    content_type: str | None = "application/json"
    subject: str | None = "mca.customer.signed.v1"
    application_properties: dict[Any, Any] | None = field(default_factory=dict)


def dead_letter(sequence_number: int, event_id: str = "", **kwargs: Any) -> FakeMessage:
    event_id = event_id or f"crm-{sequence_number}"
    kwargs.setdefault("body", as_body(event_doc(eventId=event_id)))
    kwargs.setdefault("message_id", event_id)
    kwargs.setdefault(
        "application_properties",
        {b"DeadLetterReason": b"InvalidEvent", b"DeadLetterErrorDescription": b"bad", b"mca-attempt": 0},
    )
    return FakeMessage(sequence_number, **kwargs)


def replay_id_of(message: FakeMessage, readable: str, count: int) -> str:
    """The replay id the one message-id rule gives this dead letter."""
    return replay_message_id(
        readable,
        source_message_id=message.message_id or "",
        sequence_number=message.sequence_number,
        body=message.body,
        replay_count=count,
    )


def record(message: FakeMessage) -> DeadLetterRecord:
    return DeadLetterRecord.from_message(message)  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message


class FakeDeadLetterQueue:
    """A DLQ with peek, peek-lock receive, complete and abandon; every settlement goes to ``journal``."""

    def __init__(self, messages: list[FakeMessage], journal: list[tuple[str, Any]] | None = None) -> None:
        self.messages = sorted(messages, key=lambda m: m.sequence_number)
        self.locked: set[int] = set()
        self.journal = journal if journal is not None else []
        self.peeks: list[int] = []
        self.receive_waits: list[float | None] = []
        self.fail_complete: set[int] = set()

    async def peek_messages(self, max_message_count: int = 1, *, sequence_number: int = 0) -> list[FakeMessage]:
        self.peeks.append(sequence_number)
        return [m for m in self.messages if m.sequence_number >= sequence_number][:max_message_count]

    async def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[FakeMessage]:
        self.receive_waits.append(max_wait_time)
        available = [m for m in self.messages if m.sequence_number not in self.locked][: max_message_count or 1]
        self.locked.update(m.sequence_number for m in available)
        return available

    async def complete_message(self, message: FakeMessage) -> None:
        if message.sequence_number in self.fail_complete:
            raise MessageLockLostError(message="lock lost")
        self.journal.append(("complete", message.sequence_number))
        self.messages.remove(message)
        self.locked.discard(message.sequence_number)

    async def abandon_message(self, message: FakeMessage) -> None:
        self.journal.append(("abandon", message.sequence_number))
        self.locked.discard(message.sequence_number)


def sent_properties(message: ServiceBusMessage) -> dict[str, Any]:
    return {str(k): v for k, v in (message.application_properties or {}).items()}


# --- reading -------------------------------------------------------------------------------------------------


def test_record_reads_broker_properties_and_ids_from_the_body() -> None:
    """A record carries the reason, description, delivery count and the eventId/customer of the body."""
    r = record(dead_letter(7, "crm-7", delivery_count=3, correlation_id="corr"))
    assert (r.sequence_number, r.reason, r.delivery_count, r.correlation_id) == (7, "InvalidEvent", 3, "corr")
    assert (r.event_id, r.customer_id) == ("crm-7", TENANT)
    assert r.application_properties["DeadLetterReason"] == "InvalidEvent"  # bytes keys and values as text


def test_record_reads_ids_inside_a_cloudevents_envelope() -> None:
    """In a CloudEvents body the event id is data.eventId or the envelope id, the customer is in data."""
    envelope = cloud_event(id="ce-9", data=event_doc(eventId=...))
    r = record(dead_letter(1, body=as_body(envelope)))
    assert (r.event_id, r.customer_id) == ("ce-9", TENANT)


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe\x00", b"[1, 2]", b'{"eventId": 5}'])
def test_record_tolerates_bodies_that_do_not_parse(body: bytes) -> None:
    """A body that is not a JSON object with string ids gives empty ids, not an error."""
    r = record(dead_letter(1, body=body))
    assert (r.event_id, r.customer_id) == ("", "")
    assert r.body == body


def test_summary_document_has_no_body_or_contact_details() -> None:
    """What ``list`` prints holds ids and reasons only."""
    doc = summary_document(record(dead_letter(1)))
    assert EMAIL not in json.dumps(doc)
    assert doc["eventId"] == "crm-1"


# --- filtering -----------------------------------------------------------------------------------------------


def test_empty_filter_matches_everything() -> None:
    """No filter options select every message, even one without a parsable body."""
    assert DeadLetterFilter().matches(record(dead_letter(1, body=b"??")))


def test_filter_by_reason_ignores_case() -> None:
    """--reason selects by dead-letter reason, case-insensitively, any of several."""
    r = record(dead_letter(1, dead_letter_reason="RetriesExhausted"))
    assert DeadLetterFilter(reasons=frozenset({"retriesexhausted"})).matches(r)
    assert DeadLetterFilter(reasons=frozenset({"InvalidEvent", "RetriesExhausted"})).matches(r)
    assert not DeadLetterFilter(reasons=frozenset({"InvalidEvent"})).matches(r)


def test_filter_by_time_window_is_inclusive_and_reads_naive_times_as_utc() -> None:
    """--since/--until bound the enqueued time inclusively; a time without offset is UTC."""
    r = record(dead_letter(1, enqueued_time_utc=T0))
    assert DeadLetterFilter(since=T0, until=T0).matches(r)
    assert DeadLetterFilter(since=T0.replace(tzinfo=None)).matches(r)
    assert not DeadLetterFilter(since=T0 + timedelta(seconds=1)).matches(r)
    assert not DeadLetterFilter(until=T0 - timedelta(seconds=1)).matches(r)
    assert not DeadLetterFilter(since=T0).matches(record(dead_letter(2, enqueued_time_utc=None)))


def test_filter_by_customer_and_event_id() -> None:
    """--customer and --event-id compare with the ids read from the body."""
    r = record(dead_letter(1, "crm-1"))
    assert DeadLetterFilter(customer_id=TENANT.upper(), event_id="crm-1").matches(r)
    assert not DeadLetterFilter(customer_id=OTHER_TENANT).matches(r)
    assert not DeadLetterFilter(event_id="crm-2").matches(r)


# --- browsing ------------------------------------------------------------------------------------------------


async def test_peek_all_pages_through_the_whole_queue() -> None:
    """Peeking continues from the last sequence number + 1 until a page comes back empty."""
    queue = FakeDeadLetterQueue([dead_letter(n) for n in range(1, 251)])
    records = [r async for r in peek_all(queue, page_size=100)]  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert [r.sequence_number for r in records] == list(range(1, 251))
    assert queue.peeks == [1, 101, 201, 251]


async def test_find_matching_filters_and_stops_at_the_limit() -> None:
    """Only matching messages are returned, at most ``limit``."""
    messages = [
        dead_letter(n, dead_letter_reason="RetriesExhausted" if n % 2 else "InvalidEvent") for n in range(1, 11)
    ]
    queue = FakeDeadLetterQueue(messages)
    found = await find_matching(queue, DeadLetterFilter(reasons=frozenset({"RetriesExhausted"})), limit=3)  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert [r.sequence_number for r in found] == [1, 3, 5]


async def test_peek_one_needs_the_exact_sequence_number() -> None:
    """``show`` finds a message by its sequence number and reports None for a gap."""
    queue = FakeDeadLetterQueue([dead_letter(5), dead_letter(9)])
    found = await peek_one(queue, 5)  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert found is not None
    assert found.sequence_number == 5
    assert await peek_one(queue, 6) is None  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message


def test_export_writes_every_property_and_the_exact_body(tmp_path: Path) -> None:
    """One JSON line per message with its properties; a non-UTF-8 body is kept as base64; no partial file left."""
    path = tmp_path / "backup" / "dlq.jsonl"
    count = write_export([record(dead_letter(1, correlation_id="c-1")), record(dead_letter(2, body=b"\xff"))], path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert count == 2
    assert lines[0]["correlationId"] == "c-1"
    assert lines[0]["applicationProperties"]["DeadLetterReason"] == "InvalidEvent"
    assert json.loads(lines[0]["body"])["eventId"] == "crm-1"
    assert lines[1]["bodyBase64"] == "/w=="
    assert list(path.parent.iterdir()) == [path]


# --- editing -------------------------------------------------------------------------------------------------


def test_set_edits_a_dotted_path() -> None:
    """--set primaryContact.email=… replaces that field and nothing else."""
    edited = json.loads(
        apply_edits(as_body(event_doc(eventId="crm-1")), [FieldEdit.parse_set("primaryContact.email=new@example.com")])
    )
    assert edited["primaryContact"] == contact(email="new@example.com")
    assert edited["eventId"] == "crm-1"


def test_set_value_may_contain_equals_signs() -> None:
    """Only the first '=' separates the path from the value."""
    assert FieldEdit.parse_set("correlationId=a=b").value == "a=b"


def test_unset_removes_a_field() -> None:
    """--unset templateId drops the field (e.g. a retired template, to use the current one)."""
    body = as_body(event_doc(templateId=TEMPLATE))
    assert "templateId" not in json.loads(apply_edits(body, [FieldEdit.parse_unset("templateId")]))


def test_edits_go_inside_data_of_a_cloudevents_envelope() -> None:
    """In an envelope, a contract field path is applied to ``data``."""
    envelope = cloud_event(data=event_doc())
    edited = json.loads(apply_edits(as_body(envelope), [FieldEdit.parse_set("primaryContact.email=new@example.com")]))
    assert edited["data"]["primaryContact"]["email"] == "new@example.com"
    assert "primaryContact" not in edited


def test_edits_go_inside_data_of_an_event_grid_event() -> None:
    """An Event Grid event's contract fields sit in ``data``: an edit lands there and the result parses."""
    envelope = event_grid_event(data=event_doc())
    edited = apply_edits(as_body(envelope), [FieldEdit.parse_set("primaryContact.email=new@example.com")])
    assert parse_event(edited).primary_contact.email == "new@example.com"
    assert "primaryContact" not in json.loads(edited)


def test_edits_of_a_data_base64_cloud_event_decode_the_payload_into_data() -> None:
    """A CloudEvent with data_base64 is edited as the equivalent CloudEvent with data, which parses."""
    import base64

    envelope = cloud_event(data=..., data_base64=base64.b64encode(as_body(event_doc())).decode())
    edited = apply_edits(as_body(envelope), [FieldEdit.parse_set("primaryContact.email=new@example.com")])
    assert parse_event(edited).primary_contact.email == "new@example.com"
    assert "data_base64" not in json.loads(edited)


@pytest.mark.parametrize("text", ["no-equals", "=value", "a..b=c", ".a=b"])
def test_malformed_set_is_rejected(text: str) -> None:
    """A --set without a path and '=' is an error naming the expected form."""
    with pytest.raises(EditError):
        FieldEdit.parse_set(text)


def test_edit_through_a_non_object_is_rejected() -> None:
    """A path that crosses a string cannot be set."""
    with pytest.raises(EditError, match="eventId is not an object"):
        apply_edits(as_body(event_doc()), [FieldEdit.parse_set("eventId.x=1")])


def test_editing_a_body_that_is_not_json_is_rejected() -> None:
    """A non-JSON body cannot be edited."""
    with pytest.raises(EditError):
        apply_edits(b"garbage", [FieldEdit.parse_set("eventId=x")])


# --- building the replayed copy ------------------------------------------------------------------------------


def test_replay_copy_has_fresh_id_reset_attempt_and_metadata() -> None:
    """The copy: {eventId}/replay1-…, mca-attempt 0, replay count, original reason and sequence number."""
    message = dead_letter(
        42,
        "crm-42",
        dead_letter_reason="RetriesExhausted",
        message_id="crm-42/retry-8",
        correlation_id="corr-42",
        application_properties={"mca-attempt": 8, "DeadLetterReason": "RetriesExhausted", "crm-source": "dyn"},
    )
    copy = build_replay(record(message))
    assert copy.message_id == replay_id_of(message, "crm-42", 1)
    assert copy.message_id.startswith("crm-42/replay1-")
    assert copy.application_properties == {
        "crm-source": "dyn",
        "mca-attempt": 0,
        "mca-replay-count": 1,
        "mca-original-reason": "RetriesExhausted",
        "mca-original-sequence-number": 42,
    }
    sb = copy.to_servicebus_message()
    assert b"".join(sb.body) == message.body  # unedited: byte for byte
    assert (sb.message_id, sb.correlation_id, sb.content_type, sb.subject) == (
        copy.message_id,
        "corr-42",
        "application/json",
        "mca.customer.signed.v1",
    )


def test_second_replay_counts_up() -> None:
    """A message replayed before gets replay count 2 and id {eventId}/replay2-…."""
    message = dead_letter(3, "crm-3", application_properties={"mca-replay-count": 1, "mca-original-reason": "X"})
    copy = build_replay(record(message))
    assert copy.message_id == replay_id_of(message, "crm-3", 2)
    assert copy.message_id.startswith("crm-3/replay2-")
    assert copy.application_properties["mca-replay-count"] == 2
    assert copy.application_properties["mca-original-reason"] == "InvalidEvent"


def test_replay_id_falls_back_to_the_message_id_without_our_suffixes() -> None:
    """Without a readable eventId the original message id is the readable part, minus this system's suffixes."""
    retry_copy_id = retry_message_id("m-1", 3)
    message = dead_letter(1, body=b"opaque", message_id=retry_copy_id)
    copy = build_replay(record(message))
    assert copy.message_id == replay_id_of(message, retry_copy_id, 1)
    assert copy.message_id.startswith("m-1/replay1-")


def test_two_dead_letters_with_one_event_id_replay_under_different_ids() -> None:
    """An original and its correction (same eventId, different body and sequence number) never share a replay id,
    and neither replay id equals the other's original."""
    original = dead_letter(1, "crm-9")
    corrected = contact(phoneNumber="+1 206 555 0199")
    correction = dead_letter(2, "crm-9", body=as_body(event_doc(eventId="crm-9", primaryContact=corrected)))
    ids = {build_replay(record(original)).message_id, build_replay(record(correction)).message_id}
    assert len(ids) == 2
    assert ids.isdisjoint({original.message_id, correction.message_id})


def test_same_body_dead_lettered_twice_still_replays_under_different_ids() -> None:
    """Two dead letters with identical bodies and message ids differ by sequence number, so their copies do too."""
    first, second = dead_letter(7, "crm-7"), dead_letter(8, "crm-7")
    assert build_replay(record(first)).message_id != build_replay(record(second)).message_id


def test_an_edited_replay_differs_from_an_unedited_one() -> None:
    """Replaying with --set gives a different id than the unedited replay of the same dead letter."""
    message = dead_letter(5, "crm-5")
    edited = build_replay(record(message), [FieldEdit.parse_set("primaryContact.email=new@example.com")])
    assert edited.message_id != build_replay(record(message)).message_id


def test_valid_edit_changes_the_body_of_the_copy() -> None:
    """An edit that passes validation is in the copy's body, which parses."""
    copy = build_replay(record(dead_letter(1)), [FieldEdit.parse_set("primaryContact.email=new@example.com")])
    assert parse_event(copy.body).primary_contact.email == "new@example.com"
    assert copy.edited


def test_invalid_edit_is_refused_before_anything_is_built() -> None:
    """An edit giving an invalid event raises InvalidEventError naming the field."""
    with pytest.raises(InvalidEventError, match=r"primaryContact\.email"):
        build_replay(record(dead_letter(1)), [FieldEdit.parse_set("primaryContact.email=not-an-email")])


def test_dry_run_plans_show_failures_without_raising() -> None:
    """plan_replays pairs each record with its copy or the reason it would fail."""
    plans = plan_replays([record(dead_letter(1)), record(dead_letter(2, body=b"x"))], [FieldEdit.parse_set("a=b")])
    assert plans[0][1] is None
    assert "contract v1" in plans[0][2]
    assert plans[1][1] is None
    assert "not a JSON object" in plans[1][2]


# --- replay over the fakes -----------------------------------------------------------------------------------


async def test_replay_sends_before_completing_each_original() -> None:
    """For every message the copy is sent first, the original completed second; the DLQ ends empty."""
    journal: list[tuple[str, Any]] = []
    queue = FakeDeadLetterQueue([dead_letter(1), dead_letter(2)], journal)
    sender = RecordingSender(journal)
    summary = await replay(queue, sender, selection=DeadLetterFilter(), max_wait_time=0.1)  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    sent = [entry[1] for entry in journal if entry[0] == "send"]
    assert [entry[0] for entry in journal] == ["send", "complete", "send", "complete"]
    assert [entry[1] for entry in journal if entry[0] == "complete"] == [1, 2]
    assert [s.split("/")[0] for s in sent] == ["crm-1", "crm-2"]
    assert (summary.replayed, summary.failed, summary.skipped) == (2, 0, 0)
    assert queue.messages == []
    assert all(wait == 0.1 for wait in queue.receive_waits)


async def test_replay_abandons_messages_that_do_not_match() -> None:
    """Non-matching messages are abandoned (left in the DLQ) and counted as skipped."""
    journal: list[tuple[str, Any]] = []
    messages = [dead_letter(1), dead_letter(2, dead_letter_reason="RetriesExhausted"), dead_letter(3)]
    queue = FakeDeadLetterQueue(messages, journal)
    selection = DeadLetterFilter(reasons=frozenset({"RetriesExhausted"}))
    summary = await replay(queue, RecordingSender(journal), selection=selection)  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert (summary.replayed, summary.skipped) == (1, 2)
    assert [m.sequence_number for m in queue.messages] == [1, 3]
    assert sorted(e for e in journal if e[0] == "abandon") == [("abandon", 1), ("abandon", 3)]


async def test_replay_ends_when_a_receive_brings_only_seen_messages() -> None:
    """A broker that redelivers the same (abandoned or lock-expired) messages does not loop forever."""
    journal: list[tuple[str, Any]] = []

    class Redelivering(FakeDeadLetterQueue):
        async def receive_messages(
            self, max_message_count: int | None = 1, max_wait_time: float | None = None
        ) -> list[FakeMessage]:
            self.receive_waits.append(max_wait_time)
            return list(self.messages)  # ignores locks entirely

    queue = Redelivering([dead_letter(1), dead_letter(2)], journal)
    summary = await replay(queue, RecordingSender(journal), selection=DeadLetterFilter(event_id="nothing"))  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert summary.skipped == 2
    assert len(queue.receive_waits) == 2


async def test_invalid_edit_leaves_the_message_in_the_dlq_as_a_failure() -> None:
    """A --set that fails validation sends nothing, abandons the original and counts a failure."""
    journal: list[tuple[str, Any]] = []
    queue = FakeDeadLetterQueue([dead_letter(1)], journal)
    sender = RecordingSender(journal)
    edits = [FieldEdit.parse_set("primaryContact.email=bad")]
    summary = await replay(queue, sender, selection=DeadLetterFilter(), edits=edits)  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert sender.sent == []
    assert journal == [("abandon", 1)]
    assert summary.failed == 1
    assert "primaryContact.email" in summary.results[0].detail


async def test_send_failure_does_not_complete_the_original() -> None:
    """If the copy cannot be sent, the original stays in the DLQ and the result is a failure."""
    journal: list[tuple[str, Any]] = []
    queue = FakeDeadLetterQueue([dead_letter(1)], journal)
    summary = await replay(queue, RecordingSender(journal, fail=True), selection=DeadLetterFilter())  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert journal == [("abandon", 1)]
    assert summary.results[0].status is ReplayStatus.FAILED


async def test_complete_failure_after_send_is_reported_not_hidden() -> None:
    """Sent but not completed: a failure that says the original is still in the DLQ (duplicate, not loss)."""
    journal: list[tuple[str, Any]] = []
    queue = FakeDeadLetterQueue([dead_letter(1)], journal)
    queue.fail_complete.add(1)
    summary = await replay(queue, RecordingSender(journal), selection=DeadLetterFilter())  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert journal[0][0] == "send"
    assert journal[0][1].startswith("crm-1/replay1-")
    assert summary.failed == 1
    assert "still in the DLQ" in summary.results[0].detail


async def test_replay_stops_at_the_limit() -> None:
    """--limit N replays N messages and leaves the rest."""
    journal: list[tuple[str, Any]] = []
    queue = FakeDeadLetterQueue([dead_letter(n) for n in range(1, 6)], journal)
    summary = await replay(queue, RecordingSender(journal), selection=DeadLetterFilter(), limit=2, batch_size=3)  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert summary.replayed == 2
    assert [m.sequence_number for m in queue.messages] == [3, 4, 5]


async def test_purge_deletes_exactly_the_exported_sequence_numbers() -> None:
    """Only the listed messages are completed; one not exported (e.g. arrived later) stays."""
    journal: list[tuple[str, Any]] = []
    queue = FakeDeadLetterQueue([dead_letter(n) for n in range(1, 5)], journal)
    deleted = await delete_exported(queue, [1, 3], max_wait_time=0.1)  # type: ignore[arg-type]  # the fakes duck-type the SDK's receiver and received message
    assert deleted == 2
    assert [m.sequence_number for m in queue.messages] == [2, 4]
    assert ("complete", 2) not in journal


# --- command-line guards that need no broker -----------------------------------------------------------------

NO_CONNECTION: dict[str, str | None] = {
    "ServiceBusConnection": None,
    "ServiceBusConnection__fullyQualifiedNamespace": None,
}


def test_malformed_set_option_is_a_usage_error() -> None:
    """``dlq replay --set`` without '=' exits 2 before connecting."""
    result = CliRunner().invoke(cli, ["dlq", "replay", "--set", "email"], env=NO_CONNECTION)
    assert result.exit_code == 2
    assert "field=value" in result.output


def test_dlq_without_connection_settings_is_a_usage_error() -> None:
    """``dlq list`` without connection settings exits 2 naming them."""
    result = CliRunner().invoke(cli, ["dlq", "list"], env=NO_CONNECTION)
    assert result.exit_code == 2
    assert "ServiceBusConnection" in result.output


def test_bad_since_is_a_usage_error() -> None:
    """--since must be an ISO time."""
    result = CliRunner().invoke(cli, ["dlq", "list", "--since", "yesterday"], env=NO_CONNECTION)
    assert result.exit_code == 2


def test_purge_refuses_to_overwrite_an_export(tmp_path: Path) -> None:
    """purge never overwrites an existing backup file."""
    existing = tmp_path / "old.jsonl"
    existing.write_text("keep\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["dlq", "purge", "--export-to", str(existing), "--yes"], env=NO_CONNECTION)
    assert result.exit_code == 2
    assert existing.read_text(encoding="utf-8") == "keep\n"


def test_export_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """The export holds personal data: mode 0600 even under a permissive umask, and replacing an old file."""
    path = tmp_path / "dlq.jsonl"
    path.write_text("old")
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_export([record(dead_letter(1))], path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))


# --- contract v2 dead letters --------------------------------------------------------------------------------


def v2_dead_letter(sequence_number: int, event_id: str = "crm-v2", **kwargs: Any) -> FakeMessage:
    """A contract v2 status-check copy dead-lettered as the flow does when the acceptance link expired."""
    kwargs.setdefault("body", as_body(acceptance_requested_doc(eventId=event_id)))
    kwargs.setdefault("dead_letter_reason", "AcceptanceLinkExpired")
    kwargs.setdefault(
        "dead_letter_error_description",
        "the acceptance link of attestation att-1 expired before the customer accepted; replay to issue a new one",
    )
    kwargs.setdefault("subject", EVENT_TYPE_V2)
    kwargs.setdefault(
        "application_properties", {"DeadLetterReason": "AcceptanceLinkExpired", "mca-attempt": 0, "mca-check": 3}
    )
    return dead_letter(sequence_number, event_id, **kwargs)


def test_a_v2_dead_letter_is_listed_by_its_ids_and_contract_without_personal_data() -> None:
    """``list`` shows a v2 dead letter's reason, event id, customer and contract; no signatory or company."""
    doc = summary_document(record(v2_dead_letter(1)))
    assert (doc["reason"], doc["eventId"], doc["customerTenantId"], doc["contract"]) == (
        "AcceptanceLinkExpired",
        "crm-v2",
        TENANT,
        "v2",
    )
    shown = json.dumps(doc)
    for personal in (FIRST, LAST, EMAIL, PHONE, COMPANY):
        assert personal not in shown


@pytest.mark.parametrize(
    ("body", "contract"),
    [
        (as_body(event_doc()), "v1"),
        (as_body(acceptance_requested_doc()), "v2"),
        (
            as_body(cloud_event(type=EVENT_TYPE_V2, data=acceptance_requested_doc(eventId=..., contractVersion=...))),
            "v2",
        ),
        (as_body(cloud_event(type="something.else")), ""),
        (as_body({**event_doc(), "contractVersion": 3}), ""),
        (b"not json", ""),
    ],
    ids=["v1", "v2", "v2-cloudevent", "unknown-type", "unknown-version", "not-json"],
)
def test_record_names_the_contract_its_body_names(body: bytes, contract: str) -> None:
    """The contract comes from the event type or contractVersion, read leniently ("" when none is named)."""
    assert record(dead_letter(1, body=body)).contract == contract


def test_v2_replay_copy_keeps_the_body_counts_the_replay_and_drops_the_check_number() -> None:
    """Replaying a v2 dead letter re-sends the body byte for byte with mca-replay-count + 1 and mca-attempt 0;
    mca-check (it was a status-check copy) is not carried over."""
    message = v2_dead_letter(9)
    copy = build_replay(record(message))
    assert copy.body == message.body
    assert copy.application_properties == {
        "mca-attempt": 0,
        "mca-replay-count": 1,
        "mca-original-reason": "AcceptanceLinkExpired",
        "mca-original-sequence-number": 9,
    }
    assert copy.message_id.startswith("crm-v2/replay1-")
    assert copy.to_servicebus_message().subject == EVENT_TYPE_V2


def test_v2_edits_are_validated_as_contract_v2() -> None:
    """``--set signatory.email=…`` on a v2 body gives a copy that parses as v2; a bad value is refused, named by
    field and never echoed."""
    copy = build_replay(record(v2_dead_letter(1)), [FieldEdit.parse_set("signatory.email=new@example.com")])
    assert parse_acceptance_requested(copy.body).signatory.email == "new@example.com"
    with pytest.raises(InvalidEventError, match=r"signatory\.email") as refused:
        build_replay(record(v2_dead_letter(1)), [FieldEdit.parse_set("signatory.email=still-not-an-email")])
    assert "still-not-an-email" not in str(refused.value)


def test_v2_contract_fields_are_edited_inside_an_envelope() -> None:
    """In a v2 CloudEvent, ``signatory.email`` and ``country`` are contract fields: the edits land in ``data``."""
    envelope = cloud_event(type=EVENT_TYPE_V2, data=acceptance_requested_doc(eventId=..., contractVersion=...))
    edits = [FieldEdit.parse_set("signatory.email=new@example.com"), FieldEdit.parse_set("country=FR")]
    edited = apply_edits(as_body(envelope), edits)
    event = parse_acceptance_requested(edited)
    assert (event.signatory.email, event.country) == ("new@example.com", "FR")
    assert {"signatory", "country"}.isdisjoint(json.loads(edited))
