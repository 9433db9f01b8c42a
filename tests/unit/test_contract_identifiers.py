"""``identifiers_of``: what reports and dead-letter listings read from bodies that may be invalid."""

from __future__ import annotations

import base64
import json

import pytest

from shared.attestation.contract import identifiers_of
from tests.builders import TENANT, cloud_event, event_doc, event_grid_event


def b64(doc: object) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


BODIES = {
    "bare": (event_doc(), ("crm-42", TENANT)),
    "bare-invalid": (event_doc(dateAgreed="soon", extra=1), ("crm-42", TENANT)),
    "cloudevent-data-eventId": (cloud_event(id="ce-1", data=event_doc()), ("crm-42", TENANT)),
    "cloudevent-id": (cloud_event(id="ce-1", data=event_doc(eventId=...)), ("ce-1", TENANT)),
    "cloudevent-data-base64": (
        cloud_event(id="ce-1", data=..., data_base64=b64(event_doc(eventId=...))),
        ("ce-1", TENANT),
    ),
    "cloudevent-data-base64-eventId": (
        cloud_event(id="ce-1", data=..., data_base64=b64(event_doc())),
        ("crm-42", TENANT),
    ),
    "cloudevent-bad-data-base64": (cloud_event(id="ce-1", data=..., data_base64="%%"), ("ce-1", "")),
    "eventgrid-id": (event_grid_event(id="eg-1", data=event_doc(eventId=...)), ("eg-1", TENANT)),
    "eventgrid-data-eventId": (event_grid_event(id="eg-1", data=event_doc()), ("crm-42", TENANT)),
    "eventgrid-wrong-type": (
        event_grid_event(id="eg-1", eventType="other", data=event_doc(eventId=...)),
        ("eg-1", TENANT),
    ),
    "cloudevents-0.3": (cloud_event(id="ce-1", specversion="0.3", data=event_doc(eventId=...)), ("ce-1", TENANT)),
    "array": ([event_doc()], ("", "")),
    "number-ids": (event_doc(eventId=42, customerTenantId=7), ("", "")),
}


@pytest.mark.parametrize(("doc", "expected"), BODIES.values(), ids=BODIES.keys())
def test_identifiers_are_read_from_every_form(doc: object, expected: tuple[str, str]) -> None:
    """eventId (data's, else the envelope id) and customerTenantId are read from bare, CloudEvents and Event Grid."""
    assert identifiers_of(json.dumps(doc).encode()) == expected


@pytest.mark.parametrize("body", [b"", b"\xff", b"{", b"[" * 100_000, b"null"])
def test_unreadable_body_gives_empty_identifiers(body: bytes) -> None:
    """Bytes that are not a JSON object give "" for both identifiers and never raise."""
    assert identifiers_of(body) == ("", "")
