"""The enhanced attestation's app settings: defaults, parsing, and errors that name the setting."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields

import pytest

from shared.settings import ATTESTATION_FLOW_NAMES, MissingSettingError, Settings, setting_default

REQUIRED = {"PARTNER_TENANT_ID": "tenant", "PARTNER_CENTER_CLIENT_ID": "client"}


def _settings(**env: str) -> Settings:
    return Settings.from_environment({**REQUIRED, **env})


def test_defaults_process_both_flows_with_the_documented_timing() -> None:
    """Unset, both flows run, the API uses its built-in defaults, notifications go to mca-notifications."""
    settings = _settings()

    assert settings.attestation_flows == ("legacy", "enhanced")
    assert settings.enhanced_api_config_path == ""
    assert settings.notifications_queue_name == "mca-notifications"
    assert settings.enhanced_first_check_seconds == 900.0
    assert settings.enhanced_max_check_seconds == 21600.0
    assert settings.enhanced_acceptance_deadline_seconds == 30 * 24 * 3600.0


def test_dataclass_defaults_equal_the_declared_setting_defaults() -> None:
    """Settings(...) built in code, as tests/builders.py does, gets the same enhanced values as an empty environment."""
    from_env = _settings()
    without_default = {f.name: getattr(from_env, f.name) for f in fields(Settings) if f.default is MISSING}
    from_code = Settings(**without_default)

    assert not {f.name for f in fields(Settings) if f.name.startswith("enhanced_")} & set(without_default)
    assert from_code.attestation_flows == from_env.attestation_flows
    assert from_code.enhanced_api_config_path == from_env.enhanced_api_config_path
    assert from_code.notifications_queue_name == from_env.notifications_queue_name
    assert from_code.enhanced_first_check_seconds == from_env.enhanced_first_check_seconds
    assert from_code.enhanced_max_check_seconds == from_env.enhanced_max_check_seconds
    assert from_code.enhanced_acceptance_deadline_seconds == from_env.enhanced_acceptance_deadline_seconds


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("legacy,enhanced", ("legacy", "enhanced")),
        ("legacy", ("legacy",)),
        ("enhanced", ("enhanced",)),
        (" Enhanced , LEGACY ", ("enhanced", "legacy")),
        ("legacy,,enhanced,", ("legacy", "enhanced")),
        ("legacy,legacy", ("legacy",)),
    ],
)
def test_attestation_flows_are_trimmed_lower_cased_and_deduplicated(raw: str, expected: tuple[str, ...]) -> None:
    """ATTESTATION_FLOWS is a comma-separated list, read without regard to case, blanks or repeats."""
    assert _settings(ATTESTATION_FLOWS=raw).attestation_flows == expected
    assert set(expected) <= set(ATTESTATION_FLOW_NAMES)


@pytest.mark.parametrize("raw", ["", " ", ",", " , "])
def test_attestation_flows_need_at_least_one_flow(raw: str) -> None:
    """An ATTESTATION_FLOWS that names no flow fails at start, naming the setting."""
    with pytest.raises(MissingSettingError, match=r"ATTESTATION_FLOWS.*at least one"):
        _settings(ATTESTATION_FLOWS=raw)


@pytest.mark.parametrize("raw", ["v1", "legacy,v2", "legacy;enhanced", "auto-accept"])
def test_attestation_flows_refuse_unknown_flows(raw: str) -> None:
    """A flow other than legacy or enhanced fails at start, naming the setting and the value."""
    with pytest.raises(MissingSettingError, match="ATTESTATION_FLOWS") as raised:
        _settings(ATTESTATION_FLOWS=raw)

    assert repr(raw) in str(raised.value)


def test_config_path_and_queue_name_are_read_as_given() -> None:
    """ENHANCED_API_CONFIG_PATH and NOTIFICATIONS_QUEUE_NAME are passed through unchanged."""
    settings = _settings(ENHANCED_API_CONFIG_PATH="config/enhanced-api.json", NOTIFICATIONS_QUEUE_NAME="crm-out")

    assert settings.enhanced_api_config_path == "config/enhanced-api.json"
    assert settings.notifications_queue_name == "crm-out"


def test_check_timing_accepts_fractional_seconds() -> None:
    """The three durations are numbers of seconds, fractions allowed; first may equal max."""
    settings = _settings(
        ENHANCED_FIRST_CHECK_SECONDS="0.5",
        ENHANCED_MAX_CHECK_SECONDS="0.5",
        ENHANCED_ACCEPTANCE_DEADLINE_SECONDS="86400.25",
    )

    assert settings.enhanced_first_check_seconds == 0.5
    assert settings.enhanced_max_check_seconds == 0.5
    assert settings.enhanced_acceptance_deadline_seconds == 86400.25


@pytest.mark.parametrize(
    "name", ["ENHANCED_FIRST_CHECK_SECONDS", "ENHANCED_MAX_CHECK_SECONDS", "ENHANCED_ACCEPTANCE_DEADLINE_SECONDS"]
)
@pytest.mark.parametrize("raw", ["", "soon", "15m", "0", "-1", "nan", "inf", "-inf"])
def test_check_timing_must_be_positive_finite_seconds(name: str, raw: str) -> None:
    """A duration that is not a positive, finite number fails at start, naming the setting."""
    env = {name: raw}
    if name == "ENHANCED_FIRST_CHECK_SECONDS":
        env["ENHANCED_MAX_CHECK_SECONDS"] = "1e9"  # keep the first ≤ max check out of the way

    with pytest.raises(MissingSettingError, match=rf"app setting {name} must be a"):
        _settings(**env)


def test_first_check_must_not_exceed_max_check() -> None:
    """A first wait longer than the longest wait fails at start, naming both settings."""
    with pytest.raises(MissingSettingError) as raised:
        _settings(ENHANCED_FIRST_CHECK_SECONDS="7200", ENHANCED_MAX_CHECK_SECONDS="3600")

    message = str(raised.value)
    assert re.search(r"ENHANCED_FIRST_CHECK_SECONDS \(7200\).*ENHANCED_MAX_CHECK_SECONDS \(3600\)", message)


def test_declared_defaults_are_the_documented_ones() -> None:
    """The declared defaults (command help, the template, the Bicep) are the documented ones."""
    assert setting_default("ATTESTATION_FLOWS") == "legacy,enhanced"
    assert setting_default("ENHANCED_API_CONFIG_PATH") == ""
    assert setting_default("NOTIFICATIONS_QUEUE_NAME") == "mca-notifications"
    assert setting_default("ENHANCED_FIRST_CHECK_SECONDS") == "900"
    assert setting_default("ENHANCED_MAX_CHECK_SECONDS") == "21600"
    assert setting_default("ENHANCED_ACCEPTANCE_DEADLINE_SECONDS") == "2592000"
