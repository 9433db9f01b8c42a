"""Notifications to the CRM: the document against its published schema, the Service Bus message, and the
status-check copy a host schedules (its message id decides whether the queue keeps it)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus.exceptions import ServiceBusError

from shared.attestation.notifications import FlowNotification, NotificationError, NotificationKind
from shared.attestation.outcomes import AwaitingAcceptance
from shared.servicebus.messages import ATTEMPT_PROPERTY, CHECK_PROPERTY, copy_for_check, text_properties
from shared.servicebus.notifications import KIND_PROPERTY, ServiceBusNotifier
from shared.servicebus.settlement import RedeliveryPolicy, ScheduleCheck, decide
from tests.builders import EVENT_ID, TENANT, RecordingSender, received_message

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCHEMA: dict[str, Any] = json.loads((DOCS / "notification-schema.json").read_text(encoding="utf-8"))
_TYPES = {"string": str, "boolean": bool, "integer": int}


def notification(kind: NotificationKind = NotificationKind.LINK_ISSUED, **fields: Any) -> FlowNotification:
    values: dict[str, Any] = {
        "kind": kind,
        "event_id": EVENT_ID,
        "customer_tenant_id": TENANT,
        "correlation_id": "corr-1",
        "occurred_at": "2026-12-02T09:00:00.000Z",
        "attestation_id": "att-1",
        "attempt_round": 1,
    }
    return FlowNotification(**{**values, **fields})


def conforms(doc: dict[str, Any]) -> list[str]:
    """What in ``doc`` breaks the schema's rules that matter to a reader: members, required, types, kinds."""
    problems = [f"{name}: not in the schema" for name in doc if name not in SCHEMA["properties"]]
    problems += [f"{name}: required" for name in SCHEMA["required"] if name not in doc]
    for name, value in doc.items():
        rule = SCHEMA["properties"].get(name, {})
        if "type" in rule and not isinstance(value, _TYPES[rule["type"]]):
            problems.append(f"{name}: not a {rule['type']}")
        if "enum" in rule and value not in rule["enum"]:
            problems.append(f"{name}: not one of the kinds")
        if "const" in rule and value != rule["const"]:
            problems.append(f"{name}: not {rule['const']}")
    return problems


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_every_kind_sends_a_document_the_schema_describes(kind: NotificationKind) -> None:
    extra = {"acceptance_link": "https://accept.example/x"} if kind is NotificationKind.LINK_ISSUED else {}
    if kind is not NotificationKind.LINK_ISSUED:
        extra = {"reason": "AcceptanceTimedOut", "detail": "the customer did not accept"}
    doc = notification(kind, **extra).document()
    assert conforms(doc) == []
    assert doc["terminal"] is (kind is not NotificationKind.LINK_ISSUED)


def test_the_schema_and_the_docs_list_exactly_the_kinds_the_code_sends() -> None:
    assert set(SCHEMA["properties"]["kind"]["enum"]) == {kind.value for kind in NotificationKind}
    page = (DOCS / "notifications.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \| (?:yes|no) \|", page, flags=re.MULTILINE))
    assert documented == {kind.value for kind in NotificationKind}


def test_the_link_is_in_the_link_notification_only_and_never_in_repr() -> None:
    issued = notification(acceptance_link="https://accept.example/secret")
    assert issued.document()["acceptanceLink"] == "https://accept.example/secret"
    assert "secret" not in repr(issued)
    assert "acceptanceLink" not in notification(NotificationKind.AGREEMENT_CREATED).document()


async def test_the_message_carries_kind_subject_correlation_and_an_identity_id() -> None:
    sender = RecordingSender()
    notifier = ServiceBusNotifier.over(sender)
    await notifier.notify(notification())
    await notifier.notify(notification(occurred_at="2026-12-02T10:00:00.000Z"))  # the same, sent again later
    await notifier.notify(notification(NotificationKind.AGREEMENT_CREATED))
    first, again, created = sender.sent
    assert first.message_id == again.message_id  # the queue's duplicate detection drops the repeat
    assert created.message_id != first.message_id
    assert str(first.message_id).startswith(f"{EVENT_ID}/acceptance_link_issued-")
    assert first.subject == "mca.notification.acceptance_link_issued"
    assert first.correlation_id == "corr-1"
    assert text_properties(first.application_properties)[KIND_PROPERTY] == "acceptance_link_issued"
    assert json.loads(b"".join(first.body))["eventId"] == EVENT_ID


async def test_a_new_round_or_replay_is_a_new_message() -> None:
    sender = RecordingSender()
    notifier = ServiceBusNotifier.over(sender)
    await notifier.notify(notification())
    await notifier.notify(notification(attempt_round=2))
    await notifier.notify(notification(replay_count=1))
    assert len({message.message_id for message in sender.sent}) == 3


async def test_a_send_failure_is_a_notification_error_naming_its_type_only() -> None:
    notifier = ServiceBusNotifier.over(RecordingSender(fail=True))
    with pytest.raises(NotificationError, match="ServiceBusError") as raised:
        await notifier.notify(notification())
    assert isinstance(raised.value.__cause__, ServiceBusError)


def test_awaiting_acceptance_schedules_a_check_then_the_copy_has_its_identity() -> None:
    identity = (TENANT, EVENT_ID, 1, 0, "check", 3)
    outcome = AwaitingAcceptance(EVENT_ID, "req", "corr", "att-1", 240.0, 3, identity)
    settlement = decide(outcome, 5, RedeliveryPolicy(max_seconds=60), random.Random(1))
    assert settlement == ScheduleCheck(240.0, 3, EVENT_ID, identity)  # a wait, not a retry: no retry cap

    message = received_message(
        b'{"contractVersion": 2}', message_id=f"{EVENT_ID}/abc", application_properties={b"mca-attempt": 4}
    )
    copy = copy_for_check(message, 3, identity, event_id=EVENT_ID)
    again = copy_for_check(received_message(b"{}", message_id="another-delivery"), 3, identity, event_id=EVENT_ID)
    other = copy_for_check(message, 4, (*identity[:-1], 4), event_id=EVENT_ID)
    properties = text_properties(copy.application_properties)
    assert properties[CHECK_PROPERTY] == 3
    assert properties[ATTEMPT_PROPERTY] == 0  # each step starts with the whole retry budget
    assert str(copy.message_id).startswith(f"{EVENT_ID}/check3-")
    assert copy.message_id == again.message_id  # a duplicate delivery schedules the same check: the queue keeps one
    assert other.message_id != copy.message_id
