"""The enhanced API's configuration: defaults, the override file, status meanings, and the docs page listing every item."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from shared.attestation.ports import StatusKind
from shared.partner_center.enhanced_api import (
    ITEMS,
    EnhancedApiConfigError,
    EnhancedApiSettings,
    enhanced_api_settings_from_json,
    load_enhanced_api_settings,
    settings_json,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "enhanced-attestation.md"


def test_defaults_build_the_documented_paths() -> None:
    """With the defaults, the three calls go to /v1/attestations/enhanced, its id, and the customer's agreements."""
    settings = load_enhanced_api_settings()

    assert settings.create_url_path() == "/v1/attestations/enhanced"
    assert settings.status_url_path("att-1") == "/v1/attestations/enhanced/att-1"
    assert settings.agreement_url_path("c-1") == "/v1/customers/c-1/agreements"


def test_a_file_overrides_only_the_keys_it_names(tmp_path: Path) -> None:
    """A JSON file replaces the keys it names (lists become tuples) and keeps every other default."""
    path = tmp_path / "enhanced.json"
    path.write_text(json.dumps({"apiVersion": "v2", "statusAccepted": ["Signed"], "responseIdField": "id"}))

    settings = load_enhanced_api_settings(path)

    assert (settings.api_version, settings.status_accepted, settings.response_id_field) == ("v2", ("Signed",), "id")
    assert settings.create_url_path() == "/v2/attestations/enhanced"
    assert settings.email_field == EnhancedApiSettings().email_field


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"apiVersoin": "v2"}, "apiVersoin is not a setting of the enhanced API"),
        ({"statusAccepted": "Accepted"}, "statusAccepted must be a list of strings"),
        ({"apiVersion": 2}, "apiVersion must be a string"),
        ({"attestationIdLocation": "cookie"}, "attestationIdLocation must be one of body, query"),
        ({"statusPath": "v1/x"}, "statusPath must start with /"),
        ({"responseIdField": ""}, "responseIdField must not be empty"),
        (["apiVersion"], "must be a JSON object"),
    ],
)
def test_a_bad_file_fails_naming_the_key(document: object, message: str) -> None:
    """An unknown key, a wrong type or an impossible value fails with the key's name in the message."""
    with pytest.raises(EnhancedApiConfigError, match=re.escape(message)):
        enhanced_api_settings_from_json(document)


def test_an_unreadable_file_fails_with_its_path(tmp_path: Path) -> None:
    """A file that is missing or not JSON fails with a configuration error naming it."""
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")

    for path in (broken, tmp_path / "missing.json"):
        with pytest.raises(EnhancedApiConfigError, match=re.escape(str(path))):
            load_enhanced_api_settings(path)


def test_status_values_map_to_kinds_regardless_of_case() -> None:
    """Configured values map to their kind whatever their case; anything else is UNKNOWN, never accepted."""
    settings = EnhancedApiSettings()

    assert settings.status_kind("accepted") is StatusKind.ACCEPTED
    assert settings.status_kind(" REQUIRED ") is StatusKind.PENDING
    assert settings.status_kind("Expired") is StatusKind.EXPIRED
    assert settings.status_kind("declined") is StatusKind.REJECTED
    assert settings.status_kind("Finalized") is StatusKind.UNKNOWN
    assert settings.status_kind("") is StatusKind.UNKNOWN


def test_settings_json_round_trips() -> None:
    """settings_json spells every setting as the file does, and reading it back gives the same settings."""
    settings = EnhancedApiSettings(api_version="v9", status_pending=("Waiting",))

    assert enhanced_api_settings_from_json(settings_json(settings)) == settings


def test_every_setting_is_an_item_and_every_item_is_documented() -> None:
    """Each setting has an ITEMS entry; the docs table lists each item once with its confirmed/assumed standing."""
    keys = {item.key for item in ITEMS}
    text = DOCS.read_text(encoding="utf-8")

    assert set(settings_json(EnhancedApiSettings())) <= keys
    assert len(keys) == len(ITEMS) == len(fields(EnhancedApiSettings)) + 5  # plus the five confirmed body fields
    for item in ITEMS:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{item.key}` |")]
        assert len(rows) == 1, item.key
        assert f"| **{item.status}** |" in rows[0], item.key
