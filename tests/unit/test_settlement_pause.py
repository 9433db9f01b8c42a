"""decide(): a RetryLater held back by a throttling pause is scheduled for the pause plus jitter, not the backoff."""

from __future__ import annotations

import random

import pytest

from shared.attestation.errors import Paused, RequestIds, Throttled
from shared.attestation.outcomes import RetryLater, outcome_for_error
from shared.servicebus.settlement import RedeliveryPolicy, ScheduleRetry, decide

POLICY = RedeliveryPolicy(budget=8, base_seconds=30, max_seconds=3600, pause_jitter_seconds=10)


def paused(retry_after: float | None) -> RetryLater:
    return RetryLater("evt", "req", "corr", retry_after, "paused", paused=True)


def delay_of(outcome: RetryLater, *, attempt: int = 0, time_to_live: float | None = None, seed: int = 7) -> float:
    settlement = decide(outcome, attempt, POLICY, random.Random(seed), time_to_live=time_to_live)
    assert isinstance(settlement, ScheduleRetry)
    return settlement.delay_seconds


@pytest.mark.parametrize("seed", range(20))
def test_a_pause_of_120_s_is_scheduled_between_120_and_132_s(seed: int) -> None:
    """Pause 120 s: the copy comes after the pause, with at most a tenth of it (12 s) of jitter."""
    assert 120.0 <= delay_of(paused(120.0), seed=seed) <= 132.0


@pytest.mark.parametrize("seed", range(20))
def test_the_pause_delay_ignores_the_attempt_number(seed: int) -> None:
    """At attempt 6 the outage backoff would be 16–32 minutes; a 90-second pause still schedules at about 90 s."""
    assert 90.0 <= delay_of(paused(90.0), attempt=6, seed=seed) <= 99.0


def test_the_jitter_is_at_most_pause_jitter_seconds() -> None:
    """A pause of 30 minutes gets at most 10 s of jitter, not 3 minutes."""
    assert 1800.0 <= delay_of(paused(1800.0)) <= 1810.0


def test_a_pause_delay_is_bounded_by_the_time_to_live() -> None:
    """A message that lives 100 s is never scheduled further out, whatever the pause."""
    assert delay_of(paused(600.0), time_to_live=100.0) == 100.0


def test_a_pause_without_a_length_falls_back_to_the_backoff() -> None:
    """``paused`` without retry_after has nothing to wait for: the ordinary backoff applies."""
    plain = RetryLater("evt", "req", "corr", None, "paused")
    assert delay_of(paused(None)) == delay_of(plain)


def test_an_ordinary_throttled_retry_keeps_the_exponential_backoff() -> None:
    """A 429 that did not pause (no limiter) keeps max(backoff, Retry-After): 15–30 s at the first retry."""
    assert 15.0 <= delay_of(RetryLater("evt", "req", "corr", 2.0, "HTTP 429")) <= 30.0


def test_paused_errors_become_paused_retry_later_outcomes() -> None:
    """``Paused`` maps to RetryLater(paused=True) with its retry_after; a plain ``Throttled`` does not pause."""
    ids = RequestIds("req", "corr")
    from_pause = outcome_for_error(Paused("paused", retry_after=75.0, ids=ids), "evt", "req", "corr")
    from_429 = outcome_for_error(Throttled("429", retry_after=75.0, ids=ids), "evt", "req", "corr")

    assert isinstance(from_pause, RetryLater)
    assert from_pause.paused
    assert from_pause.retry_after == 75.0
    assert isinstance(from_429, RetryLater)
    assert not from_429.paused
