"""The committed JSON Schema (docs/event-schema.v1.json) matches the contract in shared/attestation/contract/__init__.py."""

from __future__ import annotations

import json
from pathlib import Path

from shared.attestation.contract import (
    MAX_EMAIL_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    event_json_schema,
)
from shared.attestation.contract.schema import render

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "event-schema.v1.json"
REGENERATE = ".venv/bin/python -m shared.attestation.contract.schema > docs/event-schema.v1.json"


def test_committed_schema_matches_contract() -> None:
    """docs/event-schema.v1.json is exactly what shared.attestation.contract generates today."""
    committed = SCHEMA_PATH.read_text(encoding="utf-8")

    assert committed == render(), f"docs/event-schema.v1.json is stale; regenerate it with: {REGENERATE}"


def test_rendered_schema_is_canonical_json() -> None:
    """The rendering is indent-2, sorted-key JSON with one trailing newline, so diffs stay small."""
    text = render()

    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_schema_states_required_fields_and_limits() -> None:
    """The schema lists the required fields, forbids unknown ones and carries the documented size limits."""
    schema = event_json_schema()
    contact = schema["$defs"]["PrimaryContact"]

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["eventId", "customerTenantId", "dateAgreed", "primaryContact"]
    assert schema["additionalProperties"] is False
    assert contact["additionalProperties"] is False
    assert contact["required"] == ["firstName", "lastName", "email"]
    assert schema["properties"]["eventId"]["maxLength"] == MAX_ID_CHARS
    assert contact["properties"]["firstName"]["maxLength"] == MAX_NAME_CHARS
    assert contact["properties"]["email"]["maxLength"] == MAX_EMAIL_CHARS
    assert contact["properties"]["phoneNumber"]["anyOf"][0]["maxLength"] == MAX_PHONE_CHARS
    assert schema["properties"]["dateAgreed"]["format"] == "date-time"
