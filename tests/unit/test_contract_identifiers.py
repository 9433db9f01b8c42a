"""``identifiers_of``: what reports and dead-letter listings read from bodies that may be invalid."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.attestation.contract import identifiers_of
from tests.contract_samples import TENANT, valid_event


def b64(doc: object) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def cloud(**members: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "ce-1", "type": "mca.customer.signed.v1", "source": "/crm", **members}


def grid(**members: Any) -> dict[str, Any]:
    return {"id": "eg-1", "eventType": "mca.customer.signed.v1", "subject": "/crm", "eventTime": "t", **members}


BODIES = {
    "bare": (valid_event(), ("crm-42", TENANT)),
    "bare-invalid": (valid_event(dateAgreed="soon", extra=1), ("crm-42", TENANT)),
    "cloudevent-data-eventId": (cloud(data=valid_event()), ("crm-42", TENANT)),
    "cloudevent-id": (cloud(data=valid_event(eventId=...)), ("ce-1", TENANT)),
    "cloudevent-data-base64": (cloud(data_base64=b64(valid_event(eventId=...))), ("ce-1", TENANT)),
    "cloudevent-data-base64-eventId": (cloud(data_base64=b64(valid_event())), ("crm-42", TENANT)),
    "cloudevent-bad-data-base64": (cloud(data_base64="%%"), ("ce-1", "")),
    "eventgrid-id": (grid(data=valid_event(eventId=...)), ("eg-1", TENANT)),
    "eventgrid-data-eventId": (grid(data=valid_event()), ("crm-42", TENANT)),
    "eventgrid-wrong-type": (grid(eventType="other", data=valid_event(eventId=...)), ("eg-1", TENANT)),
    "cloudevents-0.3": (cloud(specversion="0.3", data=valid_event(eventId=...)), ("ce-1", TENANT)),
    "array": ([valid_event()], ("", "")),
    "number-ids": (valid_event(eventId=42, customerTenantId=7), ("", "")),
}


@pytest.mark.parametrize(("doc", "expected"), BODIES.values(), ids=BODIES.keys())
def test_identifiers_are_read_from_every_form(doc: object, expected: tuple[str, str]) -> None:
    """eventId (data's, else the envelope id) and customerTenantId are read from bare, CloudEvents and Event Grid."""
    assert identifiers_of(json.dumps(doc).encode()) == expected


@pytest.mark.parametrize("body", [b"", b"\xff", b"{", b"[" * 100_000, b"null"])
def test_unreadable_body_gives_empty_identifiers(body: bytes) -> None:
    """Bytes that are not a JSON object give "" for both identifiers and never raise."""
    assert identifiers_of(body) == ("", "")
