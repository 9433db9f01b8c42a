"""Publishing events to the queue: message construction, batching, and the ``publish`` command without a broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus.exceptions import MessageSizeExceededError
from click.testing import CliRunner

from shared.attestation.contract import EVENT_TYPE, parse_event
from shared.cli.main import cli
from shared.servicebus.messages import canonical_body, event_message, published_message_id
from shared.servicebus.publishing import publish_events
from tests.builders import (
    EMAIL,
    TEMPLATE,
    RecordingSender,
    acceptance_requested_doc,
    contact,
    event_doc,
    signed_event,
)

NO_CONNECTION: dict[str, str | None] = {
    "ServiceBusConnection": None,
    "ServiceBusConnection__fullyQualifiedNamespace": None,
}


def test_message_carries_event_id_subject_content_type_and_correlation_id() -> None:
    """One event → one message: id = eventId + body digest, correlation id, JSON content type, subject = event type."""
    message = event_message(signed_event(eventId="crm-1", correlationId="corr-7"))
    assert message.message_id == published_message_id(
        "crm-1", canonical_body(signed_event(eventId="crm-1", correlationId="corr-7"))
    )
    assert message.message_id.startswith("crm-1/")
    assert message.correlation_id == "corr-7"
    assert message.content_type == "application/json"
    assert message.subject == EVENT_TYPE


def test_message_without_correlation_id_has_none() -> None:
    """An event without correlationId is sent without a correlation id."""
    assert event_message(signed_event()).correlation_id is None


def test_body_is_canonical_json_of_the_event() -> None:
    """The body is the model dumped by alias without nulls, and parses back to the same event."""
    original = signed_event(templateId=TEMPLATE)
    body = canonical_body(original)
    assert json.loads(body) == original.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert parse_event(body) == original
    assert b"correlationId" not in body  # absent, not null


async def test_batches_hold_at_most_batch_size_messages() -> None:
    """Seven events with batch size 3 go out as batches of 3, 3 and 1, in order, reported after each."""
    sender = RecordingSender()
    reported: list[int] = []
    batches = await publish_events(
        sender, [signed_event(eventId=f"crm-{i}") for i in range(7)], batch_size=3, on_sent=reported.append
    )
    assert batches == 3
    assert [len(b) for b in sender.batches] == [3, 3, 1]
    assert [str(m.message_id).split("/")[0] for b in sender.batches for m in b] == [f"crm-{i}" for i in range(7)]
    assert reported == [3, 3, 1]


async def test_a_full_batch_is_sent_and_a_new_one_started() -> None:
    """When the next message does not fit in bytes, the batch is sent and the message starts a new one."""
    sender = RecordingSender(max_batch_bytes=1200)
    await publish_events(sender, [signed_event(eventId=f"crm-{i}") for i in range(6)], batch_size=100)
    assert len(sender.sent) > 1
    assert sum(len(b) for b in sender.batches) == 6


async def test_a_message_larger_than_an_empty_batch_raises() -> None:
    """A message that cannot fit even an empty batch is an error, not an endless loop."""
    with pytest.raises(MessageSizeExceededError):
        await publish_events(RecordingSender(max_batch_bytes=100), [signed_event()])


async def test_no_events_sends_nothing() -> None:
    """An empty list sends no batch."""
    sender = RecordingSender()
    assert await publish_events(sender, []) == 0
    assert sender.batches == []


def _write_jsonl(path: Path, docs: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    return path


def test_dry_run_reports_invalid_records_with_field_errors_and_exits_1(tmp_path: Path) -> None:
    """--dry-run validates: an invalid record is listed with its field and the exit code is 1."""
    file = _write_jsonl(
        tmp_path / "events.jsonl", [event_doc(eventId="crm-1"), event_doc(eventId="crm-2", customerTenantId="nope")]
    )
    result = CliRunner().invoke(cli, ["publish", str(file), "--dry-run"], env=NO_CONNECTION)
    assert result.exit_code == 1, result.output
    assert "customerTenantId" in result.output
    assert "would publish=1 invalid=1 duplicate_in_file=0" in result.output


def test_dry_run_counts_duplicates_in_file_and_exits_0(tmp_path: Path) -> None:
    """A repeated eventId is counted as a duplicate, sent once, and is not a failure."""
    file = _write_jsonl(
        tmp_path / "events.jsonl", [event_doc(eventId="crm-1"), event_doc(eventId="crm-1"), event_doc(eventId="crm-2")]
    )
    result = CliRunner().invoke(cli, ["publish", str(file), "--dry-run"], env=NO_CONNECTION)
    assert result.exit_code == 0, result.output
    assert "would publish=2 invalid=0 duplicate_in_file=1" in result.output
    assert EMAIL not in result.output  # contact details never shown


def test_a_contract_v2_record_is_validated_and_published_beside_v1(tmp_path: Path) -> None:
    """publish validates each record against the contract it names: a valid v2 record is published with the v1
    ones, a bad v2 record is listed with its field (never its value)."""
    docs = [
        event_doc(eventId="crm-1"),
        acceptance_requested_doc(eventId="v2-1"),
        acceptance_requested_doc(eventId="v2-bad", country="XX"),
    ]
    file = _write_jsonl(tmp_path / "events.jsonl", docs)
    result = CliRunner().invoke(cli, ["publish", str(file), "--dry-run"], env=NO_CONNECTION)
    assert result.exit_code == 1, result.output
    assert "v2-1" in result.output
    assert "country" in result.output
    assert "would publish=2 invalid=1 duplicate_in_file=0" in result.output
    assert EMAIL not in result.output


def test_missing_connection_settings_is_a_usage_error(tmp_path: Path) -> None:
    """Publishing without ServiceBusConnection settings exits 2 and names the settings."""
    file = _write_jsonl(tmp_path / "events.jsonl", [event_doc()])
    result = CliRunner().invoke(cli, ["publish", str(file)], env=NO_CONNECTION)
    assert result.exit_code == 2
    assert "ServiceBusConnection__fullyQualifiedNamespace" in result.output


def test_unsupported_file_type_is_a_usage_error(tmp_path: Path) -> None:
    """A file that is neither JSONL nor CSV exits 2."""
    file = tmp_path / "events.xml"
    file.write_text("<events/>", encoding="utf-8")
    result = CliRunner().invoke(cli, ["publish", str(file), "--dry-run"], env=NO_CONNECTION)
    assert result.exit_code == 2


def test_a_correction_of_an_event_gets_a_new_message_id() -> None:
    """Same eventId, new phone: a different message id, so duplicate detection does not drop the correction."""
    original = signed_event()
    correction = signed_event(primaryContact=contact(phoneNumber="+1 425"))
    assert correction.event_id == original.event_id
    assert event_message(correction).message_id != event_message(original).message_id


def test_a_resend_of_the_same_event_keeps_its_message_id() -> None:
    """The same event published twice gets the same message id, so the broker drops the resend."""
    assert event_message(signed_event()).message_id == event_message(signed_event()).message_id
