"""The publishing example in docs/publishing.md runs as written against the local Service Bus emulator."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient

from emulators.servicebus import ServiceBusEmulator
from emulators.servicebus.testing import running_emulator
from shared.attestation.contract import EVENT_TYPE, parse_event
from shared.servicebus.messages import body_bytes

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "publishing.md"
SNIPPET = re.compile(r"<!-- snippet: publish-one-event[^>]*-->\s*```python\n(?P<code>.*?)```", re.DOTALL)


def snippet_code() -> str:
    match = SNIPPET.search(DOC.read_text(encoding="utf-8"))
    assert match, "docs/publishing.md lost its publish-one-event snippet"
    return match["code"]


@pytest.fixture
def emulator() -> Iterator[ServiceBusEmulator]:
    with running_emulator() as running:
        yield running


def test_snippet_reads_the_namespace_and_managed_identity_when_no_connection_string() -> None:
    """Without SERVICEBUS_CONNECTION_STRING the snippet uses SERVICEBUS_NAMESPACE and DefaultAzureCredential."""
    code = snippet_code()
    assert 'os.environ["SERVICEBUS_NAMESPACE"]' in code
    assert "DefaultAzureCredential()" in code


def test_snippet_publishes_one_event_with_the_documented_properties(
    emulator: ServiceBusEmulator, tmp_path: Path
) -> None:
    """Run as a script with the emulator's connection string, the snippet puts one valid event on the queue."""
    script = tmp_path / "publish_one_event.py"
    script.write_text(snippet_code(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"SERVICEBUS_QUEUE_NAME", "SERVICEBUS_NAMESPACE"}}
    env["SERVICEBUS_CONNECTION_STRING"] = emulator.connection_string
    done = subprocess.run(  # noqa: S603 - our own interpreter running the documented snippet
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr

    with (
        ServiceBusClient.from_connection_string(emulator.connection_string) as client,
        client.get_queue_receiver("mca-events", max_wait_time=5) as receiver,
    ):
        received = receiver.receive_messages(max_message_count=10, max_wait_time=5)
        for message in received:
            receiver.complete_message(message)
    assert len(received) == 1
    message = received[0]
    event = parse_event(body_bytes(message))
    body = body_bytes(message)
    assert event.event_id == "crm-000123"
    assert message.message_id == f"crm-000123/{hashlib.sha256(body).hexdigest()[:24]}"  # new content, new id
    assert message.correlation_id == event.correlation_id
    assert message.content_type == "application/json"
    assert message.subject == EVENT_TYPE
    assert json.loads(body_bytes(message))["customerTenantId"] == event.customer_tenant_id
