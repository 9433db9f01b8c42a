"""The in-call retry policy and the shared exponential backoff."""

from __future__ import annotations

import random

import pytest

from shared.attestation.backoff import exponential_delay
from shared.attestation.errors import (
    AlreadyAttested,
    AuthError,
    ConnectionFailed,
    ConsentRequired,
    InvalidRequest,
    PartnerCenterError,
    ServerError,
    Throttled,
    UnknownCustomer,
)
from shared.partner_center.retry import NO_RETRY, RetryPolicy


def _delays(policy: RetryPolicy, error: PartnerCenterError, seed: int = 7) -> list[float]:
    """Drive the policy the way the client does; return every wait it asks for."""
    rng = random.Random(seed)
    delays: list[float] = []
    attempt, waited = 0, 0.0
    while True:
        attempt += 1
        delay = policy.next_delay(attempt, error, waited, rng)
        if delay is None:
            return delays
        delays.append(delay)
        waited += delay


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequest("bad", status=400),
        UnknownCustomer("who", status=404),
        AuthError("no", status=401),
        ConsentRequired("redo", status=400),
        AlreadyAttested("exists", status=400, code="600061"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_non_transient_errors_are_not_retried(error: PartnerCenterError) -> None:
    """Anything but a TransientError goes straight back: no wait at all."""
    assert RetryPolicy(attempts=10).next_delay(1, error, 0.0, random.Random(1)) is None


@pytest.mark.parametrize(
    "error",
    [
        ServerError("boom", status=503),
        ConnectionFailed("ConnectError"),
        Throttled("slow", retry_after=None, status=429),
    ],
    ids=lambda e: type(e).__name__,
)
def test_attempts_are_bounded(error: PartnerCenterError) -> None:
    """A transient error is retried until `attempts` HTTP attempts were made, then given up."""
    policy = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.1, max_total_delay=100.0)

    assert len(_delays(policy, error)) == 3


def test_total_wait_is_bounded() -> None:
    """However many attempts are allowed, the waits of one call never add up past max_total_delay."""
    policy = RetryPolicy(attempts=1000, base_delay=1.0, max_delay=8.0, max_total_delay=20.0)

    for seed in range(50):
        delays = _delays(policy, ServerError("boom", status=500), seed=seed)
        assert sum(delays) <= 20.0
        assert len(delays) < 999


def test_retry_after_is_honoured() -> None:
    """A Throttled error's Retry-After is waited, plus at most min(1 s, base_delay) of jitter."""
    policy = RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0, max_total_delay=20.0)
    rng = random.Random(3)

    for _ in range(200):
        delay = policy.next_delay(1, Throttled("slow", retry_after=2.0, status=429), 0.0, rng)
        assert delay is not None
        assert 2.0 <= delay <= 2.5


def test_retry_after_longer_than_max_delay_gives_up_in_call() -> None:
    """A Retry-After above max_delay is not slept through: the error goes back to the host at once."""
    policy = RetryPolicy(attempts=5, max_delay=8.0)

    assert policy.next_delay(1, Throttled("slow", retry_after=57.0, status=429), 0.0, random.Random(1)) is None


def test_retry_after_equal_to_max_delay_never_waits_longer_than_max_delay() -> None:
    """Jitter added to a Retry-After never makes one wait exceed max_delay."""
    policy = RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0, max_total_delay=20.0)
    rng = random.Random(5)

    for _ in range(200):
        delay = policy.next_delay(1, Throttled("slow", retry_after=8.0, status=429), 0.0, rng)
        assert delay is not None
        assert delay == 8.0


def test_retry_after_beyond_remaining_budget_gives_up() -> None:
    """A Retry-After that would push the total wait over max_total_delay is not waited."""
    policy = RetryPolicy(attempts=5, max_delay=8.0, max_total_delay=10.0)

    assert policy.next_delay(2, Throttled("slow", retry_after=5.0, status=429), 6.0, random.Random(1)) is None


def test_exponential_waits_without_retry_after() -> None:
    """Without Retry-After, the waits follow base·2^(n-1) with equal jitter, capped at max_delay."""
    policy = RetryPolicy(attempts=8, base_delay=0.5, max_delay=4.0, max_total_delay=1000.0)

    delays = _delays(policy, ServerError("boom", status=503))

    nominal = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert len(delays) == len(nominal)
    for delay, expected in zip(delays, nominal, strict=True):
        assert expected / 2 <= delay <= expected


def test_seeded_jitter_is_reproducible_and_spread() -> None:
    """The same seed gives the same waits; different seeds spread them."""
    policy = RetryPolicy(attempts=3)
    error = ServerError("boom", status=503)

    assert _delays(policy, error, seed=11) == _delays(policy, error, seed=11)
    first_waits = {_delays(policy, error, seed=seed)[0] for seed in range(20)}
    assert len(first_waits) == 20


def test_no_retry_policy() -> None:
    """NO_RETRY makes exactly one attempt, even on a transient error."""
    assert _delays(NO_RETRY, ServerError("boom", status=503)) == []


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 5, 10, 60, 2000])
def test_exponential_delay_bounds(attempt: int) -> None:
    """exponential_delay lies in [nominal/2, nominal] with nominal = min(cap, base·2^(attempt-1))."""
    base, cap = 0.5, 8.0
    nominal = min(cap, base * 2.0 ** min(max(0, attempt - 1), 64))
    rng = random.Random(attempt)

    for _ in range(100):
        delay = exponential_delay(attempt, base=base, cap=cap, rng=rng)
        assert nominal / 2 <= delay <= nominal <= cap


def test_exponential_delay_extremes_of_jitter() -> None:
    """The jitter's extremes are exactly half the nominal delay and the whole of it."""

    class Fixed(random.Random):
        def __init__(self, pick: str) -> None:
            super().__init__(0)
            self.pick = pick

        def uniform(self, a: float, b: float) -> float:
            return a if self.pick == "low" else b

    assert exponential_delay(3, base=0.5, cap=8.0, rng=Fixed("low")) == 1.0
    assert exponential_delay(3, base=0.5, cap=8.0, rng=Fixed("high")) == 2.0
