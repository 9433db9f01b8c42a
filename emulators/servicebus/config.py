"""Entity configuration, read from the same ``config.json`` shape as Microsoft's Service Bus emulator.

Only queues are served. The loader refuses settings whose meaning the emulator cannot honour (sessions,
auto-forwarding, more than one namespace) instead of silently ignoring them, so a test never passes
against semantics the real service would not have had. Topics are skipped with a warning: a config
shared with Microsoft's emulator may declare them for other consumers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Microsoft's emulator uses these when a property is left out.
_DEFAULT_TTL = timedelta(hours=1)
_DEFAULT_LOCK = timedelta(minutes=1)
_DEFAULT_DUPLICATE_WINDOW = timedelta(seconds=20)
_DEFAULT_MAX_DELIVERY_COUNT = 10

_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class ConfigError(ValueError):
    """The configuration file is malformed or asks for something the emulator does not support."""


@dataclass(frozen=True, slots=True)
class QueueProperties:
    """The per-queue settings the emulator honours (names follow the ARM/emulator properties)."""

    lock_duration: timedelta = _DEFAULT_LOCK
    max_delivery_count: int = _DEFAULT_MAX_DELIVERY_COUNT
    default_message_time_to_live: timedelta = _DEFAULT_TTL
    dead_lettering_on_message_expiration: bool = False
    requires_duplicate_detection: bool = False
    duplicate_detection_history_time_window: timedelta = _DEFAULT_DUPLICATE_WINDOW

    def __post_init__(self) -> None:
        if self.lock_duration <= timedelta(0):
            raise ConfigError("LockDuration must be positive")
        if self.max_delivery_count < 1:
            raise ConfigError("MaxDeliveryCount must be at least 1")
        if self.default_message_time_to_live <= timedelta(0):
            raise ConfigError("DefaultMessageTimeToLive must be positive")


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """The namespace the emulator serves: queue name → properties (names are case-insensitive on the wire)."""

    namespace: str = "sbemulatorns"
    queues: Mapping[str, QueueProperties] = field(default_factory=dict)

    @classmethod
    def with_queues(cls, queues: Mapping[str, QueueProperties] | Iterable[str]) -> EmulatorConfig:
        """Build a config in code: ``with_queues(["a", "b"])`` or ``with_queues({"a": QueueProperties(...)})``."""
        if isinstance(queues, Mapping):
            return cls(queues=dict(queues))
        return cls(queues={name: QueueProperties() for name in queues})


def parse_iso8601_duration(text: str) -> timedelta:
    """Parse the subset of ISO-8601 durations the emulator config uses (``P1D``, ``PT1M``, ``PT0.5S``)."""
    match = _ISO_DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT"):
        raise ConfigError(f"not an ISO-8601 duration: {text!r}")
    parts = {name: float(value) for name, value in match.groupdict().items() if value is not None}
    return timedelta(**parts)


def load_config(path: str | Path) -> EmulatorConfig:
    """Read a Microsoft-emulator-shaped ``config.json`` file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return parse_config(document)


def load_default_config() -> EmulatorConfig:
    """The config committed next to this module (queues ``mca-events`` and ``mca-notifications``)."""
    text = resources.files(__package__).joinpath("config.json").read_text(encoding="utf-8")
    return parse_config(json.loads(text))


def parse_config(document: Mapping[str, Any]) -> EmulatorConfig:
    """Turn a parsed ``config.json`` document into an :class:`EmulatorConfig`."""
    namespaces = _require(document, "UserConfig", Mapping).get("Namespaces")
    if not isinstance(namespaces, list) or len(namespaces) != 1:
        raise ConfigError("UserConfig.Namespaces must hold exactly one namespace")
    namespace = namespaces[0]
    if not isinstance(namespace, Mapping):
        raise ConfigError("UserConfig.Namespaces[0] must be an object")
    if namespace.get("Topics"):
        logger.warning("servicebus_emulator.config.topics_ignored", extra={"topics": len(namespace["Topics"])})
    queues: dict[str, QueueProperties] = {}
    for entry in namespace.get("Queues") or []:
        name = _require(entry, "Name", str)
        if name.lower() in (known.lower() for known in queues):
            raise ConfigError(f"queue {name!r} is declared twice")
        queues[name] = _parse_queue_properties(name, entry.get("Properties") or {})
    return EmulatorConfig(namespace=str(namespace.get("Name", "sbemulatorns")), queues=queues)


def _parse_queue_properties(queue: str, props: Mapping[str, Any]) -> QueueProperties:
    if props.get("RequiresSession"):
        raise ConfigError(f"queue {queue!r}: RequiresSession is not supported by this emulator")
    for forwarding in ("ForwardTo", "ForwardDeadLetteredMessagesTo"):
        if props.get(forwarding):
            raise ConfigError(f"queue {queue!r}: {forwarding} is not supported by this emulator")
    defaults = QueueProperties()

    def duration(key: str, default: timedelta) -> timedelta:
        value = props.get(key)
        return default if value is None else parse_iso8601_duration(str(value))

    try:
        return QueueProperties(
            lock_duration=duration("LockDuration", defaults.lock_duration),
            max_delivery_count=int(props.get("MaxDeliveryCount", defaults.max_delivery_count)),
            default_message_time_to_live=duration("DefaultMessageTimeToLive", defaults.default_message_time_to_live),
            dead_lettering_on_message_expiration=bool(props.get("DeadLetteringOnMessageExpiration", False)),
            requires_duplicate_detection=bool(props.get("RequiresDuplicateDetection", False)),
            duplicate_detection_history_time_window=duration(
                "DuplicateDetectionHistoryTimeWindow", defaults.duplicate_detection_history_time_window
            ),
        )
    except ConfigError as exc:
        raise ConfigError(f"queue {queue!r}: {exc}") from exc


def _require(mapping: Any, key: str, kind: type) -> Any:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    if not isinstance(value, kind):
        raise ConfigError(f"config is missing {key!r} (expected {kind.__name__})")
    return value
