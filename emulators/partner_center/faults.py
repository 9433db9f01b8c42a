"""Fault injection: what can go wrong on the way to Partner Center, decided per request from a seeded RNG.

``FaultConfig`` is the value a test or the command line sets; ``FaultInjector`` applies it. Per request
the injector draws once for the latency and once for the outcome, so a given seed and request order give
the same faults every run. Outcomes share one unit interval and therefore exclude each other:

    [0, drop) → dropped connection · then throttle_rate → 429 · then server_error_rate → 5xx ·
    then lost_response_rate → the POST is processed and its response lost (POST only)

All of them happen *before* the request is processed, except the lost response. The per-partner rate
limit is a separate token bucket per partner tenant, checked after authentication (it needs the caller).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from emulators.partner_center.bodies import Reply, agreement_fault, empty, proxy_page


class ServerErrorShape(StrEnum):
    """The 5xx answers the simulator varies between."""

    JSON_500 = "500-json"  # agreement-service body, code 800003
    HTML_502 = "502-html"  # a proxy's HTML page
    HTML_503 = "503-html"
    EMPTY_503 = "503-empty"
    EMPTY_504 = "504-empty"

    def reply(self) -> Reply:
        if self is ServerErrorShape.JSON_500:
            return agreement_fault(
                500, 800003, "Unexpected service error", error_name="UnexpectedServiceError", retryable=True
            )
        if self is ServerErrorShape.HTML_502:
            return proxy_page(502, "Bad Gateway")
        if self is ServerErrorShape.HTML_503:
            return proxy_page(503, "Service Unavailable")
        return empty(503 if self is ServerErrorShape.EMPTY_503 else 504)


class Outcome(StrEnum):
    NONE = "none"
    DROP = "drop"
    THROTTLE = "throttle"
    SERVER_ERROR = "server-error"
    LOST_RESPONSE = "lost-response"


_RATES = ("drop_rate", "throttle_rate", "server_error_rate", "lost_response_rate")


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """What to inject. The default injects nothing."""

    latency_ms: float = 0.0
    """Added to every faulted request, as ``asyncio.sleep``."""
    jitter_ms: float = 0.0
    """Uniform extra latency in ``[0, jitter_ms]``."""
    spike_rate: float = 0.0
    """Share of requests that get ``spike_ms`` more latency."""
    spike_ms: float = 0.0
    drop_rate: float = 0.0
    """Share of requests whose TCP connection is closed without a response."""
    throttle_rate: float = 0.0
    """Share of requests answered 429 by the throttling gateway."""
    retry_after_seconds: int = 1
    """``Retry-After`` of injected 429s."""
    server_error_rate: float = 0.0
    """Share of requests answered with one of ``server_error_shapes``, chosen at random."""
    server_error_shapes: tuple[ServerErrorShape, ...] = tuple(ServerErrorShape)
    lost_response_rate: float = 0.0
    """Share of POSTs that are processed, then have their connection dropped (MS-RequestId replay matters)."""
    partner_rate_limit: float | None = None
    """Requests per second per partner tenant; beyond it, 429 with ``Retry-After``. None = no limit."""
    partner_burst: int | None = None
    """Bucket size of the per-partner limit; None = ``max(1, ceil(partner_rate_limit))``."""
    apply_to_token_endpoint: bool = False
    """Whether latency and random faults also hit the token endpoint (the rate limit never does)."""
    seed: int | None = None
    """Seed of the fault RNG; None = a fresh random sequence."""

    def __post_init__(self) -> None:
        for name in ("spike_rate", *_RATES):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate}")
        if sum(getattr(self, name) for name in _RATES) > 1.0 + 1e-9:
            raise ValueError(f"the sum of {', '.join(_RATES)} must not exceed 1")
        for name in ("latency_ms", "jitter_ms", "spike_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must not be negative")
        if self.partner_rate_limit is not None and self.partner_rate_limit <= 0:
            raise ValueError("partner_rate_limit must be positive (or None for no limit)")
        if self.partner_burst is not None and self.partner_burst < 1:
            raise ValueError("partner_burst must be at least 1")
        if not self.server_error_shapes:
            raise ValueError("server_error_shapes must name at least one shape")
        object.__setattr__(self, "server_error_shapes", tuple(ServerErrorShape(s) for s in self.server_error_shapes))

    @property
    def burst(self) -> int:
        if self.partner_burst is not None:
            return self.partner_burst
        return max(1, math.ceil(self.partner_rate_limit or 1))

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["server_error_shapes"] = [str(s) for s in self.server_error_shapes]
        return {_camel(name): value for name, value in document.items()}

    @classmethod
    def from_json(cls, document: Mapping[str, Any], base: FaultConfig | None = None) -> FaultConfig:
        """Build from camelCase (or snake_case) keys; keys not given keep ``base``'s values."""
        known = {f.name for f in fields(cls)}
        by_camel = {_camel(name): name for name in known}
        changes: dict[str, Any] = {}
        for key, value in document.items():
            name = by_camel.get(key, key)
            if name not in known:
                raise ValueError(f"unknown fault option {key!r}")
            changes[name] = tuple(value) if name == "server_error_shapes" else value
        return replace(base or cls(), **changes)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What happens to one request."""

    delay_seconds: float = 0.0
    outcome: Outcome = Outcome.NONE
    shape: ServerErrorShape | None = None
    retry_after_seconds: int = 0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(slots=True)
class FaultInjector:
    """Applies a ``FaultConfig``; thread-safe."""

    config: FaultConfig = field(default_factory=FaultConfig)
    _rng: random.Random = field(init=False)
    _buckets: dict[str, _Bucket] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)

    def configure(self, config: FaultConfig) -> None:
        """Replace the config; re-seeds the RNG and empties the rate-limit buckets."""
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._buckets.clear()

    def decide(self, method: str) -> FaultDecision:
        with self._lock:
            config = self.config
            delay_ms = config.latency_ms
            if config.jitter_ms:
                delay_ms += self._rng.uniform(0.0, config.jitter_ms)
            if config.spike_rate and self._rng.random() < config.spike_rate:
                delay_ms += config.spike_ms
            roll = self._rng.random()
            shape = self._rng.choice(config.server_error_shapes)
        delay = delay_ms / 1000.0
        edge = config.drop_rate
        if roll < edge:
            return FaultDecision(delay, Outcome.DROP)
        edge += config.throttle_rate
        if roll < edge:
            return FaultDecision(delay, Outcome.THROTTLE, retry_after_seconds=config.retry_after_seconds)
        edge += config.server_error_rate
        if roll < edge:
            return FaultDecision(delay, Outcome.SERVER_ERROR, shape=shape)
        edge += config.lost_response_rate
        if roll < edge and method == "POST":
            return FaultDecision(delay, Outcome.LOST_RESPONSE)
        return FaultDecision(delay)

    def decide_nothing(self) -> FaultDecision:
        """The decision for a route faults do not apply to (draws nothing, keeps the sequence)."""
        return FaultDecision()

    def take(self, partner: str) -> int | None:
        """Take one request from ``partner``'s bucket; the ``Retry-After`` seconds if it is empty."""
        with self._lock:
            rate = self.config.partner_rate_limit
            if rate is None:
                return None
            burst = float(self.config.burst)
            now = time.monotonic()
            bucket = self._buckets.setdefault(partner, _Bucket(burst, now))
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))
