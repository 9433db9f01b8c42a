"""Counters for what operators alert on, through OpenTelemetry when it is installed and configured.

Without OpenTelemetry (local runs, tests) the counters are no-ops and the same facts are in the logs.
``RecordingMetrics`` lets tests assert what was counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol


class Metrics(Protocol):
    def count(self, name: str, value: int = 1, **attributes: str) -> None: ...


class OpenTelemetryMetrics:
    """Counters on the global OpenTelemetry meter provider (Application Insights when configured)."""

    def __init__(self) -> None:
        from opentelemetry.metrics import get_meter  # lazy: only when telemetry is on

        self._meter = get_meter("mca-attest")
        self._counters: dict[str, Any] = {}

    def count(self, name: str, value: int = 1, **attributes: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = self._meter.create_counter(name)
        counter.add(value, attributes)


class NoMetrics:
    def count(self, name: str, value: int = 1, **attributes: str) -> None:
        return None


class RecordingMetrics:
    """A fake that remembers every count, keyed by (name, sorted attributes)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def count(self, name: str, value: int = 1, **attributes: str) -> None:
        self.counts[(name, tuple(sorted(attributes.items())))] += value

    def total(self, name: str) -> int:
        return sum(v for (n, _), v in self.counts.items() if n == name)
