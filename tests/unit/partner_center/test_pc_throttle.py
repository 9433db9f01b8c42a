"""The adaptive limiter's arithmetic: pacing, slow start, AIMD, pauses and the shared marker, on a manual clock."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from shared.partner_center.throttle import AdaptiveLimiter, LimiterPolicy, LongPause, Permit
from tests.builders import ManualClock, RecordingSharedPause

POLICY = LimiterPolicy(
    max_concurrency=8,
    max_pause_wait=60.0,
    initial_rate=4.0,
    min_rate=0.5,
    increase=0.5,
    probe_fraction=0.25,
    decrease=0.9,
    fast_decrease=0.7,
    quick_repeat=3.0,
    window=4.0,
    min_window=0.5,
    default_pause=1.0,
    marker_ttl=1.0,
)


def limiter(
    clock: ManualClock, shared: RecordingSharedPause | None = None, policy: LimiterPolicy = POLICY
) -> AdaptiveLimiter:
    return AdaptiveLimiter(policy, shared=shared, clock=clock, sleep=clock.sleep)


async def succeed_unpaced(subject: AdaptiveLimiter, clock: ManualClock, count: int, every: float) -> None:
    """``count`` calls spaced ``every`` seconds apart (slower than the pace, so none waits), each a success."""
    for _ in range(count):
        clock.advance(every)
        subject.succeeded(await subject.acquire(60.0))


async def leave_slow_start(subject: AdaptiveLimiter, clock: ManualClock) -> None:
    """One 429 right away (no measurement yet) and its 1-second pause waited out: rate 3.6, ceiling 4."""
    await subject.throttled(await subject.acquire(60.0), retry_after=None)
    clock.advance(1.0)


# --- pacing ------------------------------------------------------------------------------------------------------


async def test_the_first_call_goes_at_once_and_is_not_paced() -> None:
    """A fresh limiter grants the first permit without sleeping, and marks it as not paced."""
    clock = ManualClock()
    permit = await limiter(clock).acquire(60.0)

    assert clock.sleeps == []
    assert permit == Permit(sent_at=clock.now, paced=False, paused_for=0.0)


async def test_calls_in_a_burst_are_spaced_at_the_current_rate() -> None:
    """Three calls at once at 4 requests/s: the second and third wait a quarter second each, and are paced."""
    clock = ManualClock()
    subject = limiter(clock)
    permits = [await subject.acquire(60.0) for _ in range(3)]

    assert clock.sleeps == [0.25, 0.25]
    assert [p.paced for p in permits] == [False, True, True]


# --- increase ----------------------------------------------------------------------------------------------------


async def test_slow_start_adds_one_request_per_second_per_paced_success() -> None:
    """Before any congestion, each paced success raises the rate by 1 request/s."""
    clock = ManualClock()
    subject = limiter(clock)
    await subject.acquire(60.0)
    paced = await subject.acquire(60.0)
    subject.succeeded(paced)

    assert subject.rate == pytest.approx(5.0)


async def test_a_success_that_did_not_wait_for_its_slot_does_not_grow_the_rate() -> None:
    """An application-limited process (its calls never wait) keeps its rate: it grows only what it uses."""
    clock = ManualClock()
    subject = limiter(clock)
    await succeed_unpaced(subject, clock, count=5, every=1.0)

    assert subject.rate == pytest.approx(4.0)


async def test_after_congestion_each_paced_success_adds_increase_over_rate() -> None:
    """Below the ceiling measured at the last congestion, a paced success adds ``increase / rate``."""
    clock = ManualClock()
    subject = limiter(clock)
    await leave_slow_start(subject, clock)
    await subject.acquire(60.0)
    paced = await subject.acquire(60.0)
    subject.succeeded(paced)

    assert subject.rate == pytest.approx(3.6 + 0.5 / 3.6)


async def test_above_the_ceiling_the_increase_is_the_probe_fraction() -> None:
    """At or above the ceiling (4 requests/s here), a paced success adds only ``increase × probe_fraction / rate``."""
    clock = ManualClock()
    subject = limiter(clock, policy=replace(POLICY, decrease=0.99))
    await leave_slow_start(subject, clock)  # rate 3.96, ceiling 4
    for _ in range(2):  # 3.96 → 4.086 (below the ceiling), then the probe
        await subject.acquire(60.0)
        subject.succeeded(await subject.acquire(60.0))

    below = 3.96 + 0.5 / 3.96
    assert subject.rate == pytest.approx(below + 0.5 * 0.25 / below)


# --- decrease ----------------------------------------------------------------------------------------------------


async def test_a_429_sets_the_rate_to_decrease_times_the_delivered_rate() -> None:
    """Eight successes in the four seconds since the first call (2/s delivered, rate 4): a 429 sets 0.9 × 2."""
    clock = ManualClock()
    subject = limiter(clock)
    await succeed_unpaced(subject, clock, count=8, every=0.5)
    clock.advance(0.5)
    await subject.throttled(await subject.acquire(60.0), retry_after=None)

    assert subject.rate == pytest.approx(1.8)


async def test_the_time_before_the_first_call_does_not_dilute_the_measurement() -> None:
    """Idle for a minute, then 3 successes in the 1.5 s since the first call: 0.9 × 2/s, not 0.9 × 3 per 4 s."""
    clock = ManualClock()
    subject = limiter(clock)
    clock.advance(60.0)
    subject.succeeded(await subject.acquire(60.0))
    await succeed_unpaced(subject, clock, count=2, every=0.5)
    clock.advance(0.5)
    await subject.throttled(await subject.acquire(60.0), retry_after=None)

    assert subject.rate == pytest.approx(1.8)


async def test_a_429_without_a_measurement_decreases_the_rate_itself() -> None:
    """With less than ``min_window`` of history, a 429 sets the rate to 0.9 × the rate."""
    clock = ManualClock()
    subject = limiter(clock)
    await subject.throttled(await subject.acquire(60.0), retry_after=None)

    assert subject.rate == pytest.approx(3.6)


async def test_429s_for_calls_sent_before_the_decrease_count_once() -> None:
    """Two calls in flight both answered 429: one congestion, one decrease."""
    clock = ManualClock()
    subject = limiter(clock)
    first, second = await subject.acquire(60.0), await subject.acquire(60.0)
    await subject.throttled(first, retry_after=None)
    await subject.throttled(second, retry_after=None)

    assert subject.rate == pytest.approx(3.6)
    assert subject.stats.decreases == 1


async def test_congestion_soon_after_a_pause_decreases_by_the_fast_factor() -> None:
    """A 429 right after the previous pause ended (within ``quick_repeat``): the rate is still far too high, × 0.7."""
    clock = ManualClock()
    subject = limiter(clock)
    await leave_slow_start(subject, clock)  # 3.6, the pause ended just now
    await subject.throttled(await subject.acquire(60.0), retry_after=None)

    assert subject.rate == pytest.approx(0.7 * 3.6)


async def test_congestion_long_after_a_pause_decreases_by_the_normal_factor() -> None:
    """A 429 more than ``quick_repeat`` after the previous pause: the ordinary × 0.9."""
    clock = ManualClock()
    subject = limiter(clock)
    await leave_slow_start(subject, clock)
    clock.advance(5.0)
    await subject.throttled(await subject.acquire(60.0), retry_after=None)

    assert subject.rate == pytest.approx(0.9 * 3.6)


async def test_the_rate_never_falls_below_the_minimum() -> None:
    """Repeated congestion stops at ``min_rate``."""
    clock = ManualClock()
    subject = limiter(clock)
    for _ in range(40):
        await subject.throttled(await subject.acquire(60.0), retry_after=None)

    assert subject.rate == pytest.approx(0.5)


async def test_a_failure_that_is_not_a_429_leaves_the_rate_alone() -> None:
    """A 5xx or a dropped connection is neither success nor congestion."""
    clock = ManualClock()
    subject = limiter(clock)
    await subject.acquire(60.0)
    subject.failed(await subject.acquire(60.0))

    assert subject.rate == pytest.approx(4.0)
    assert subject.stats.decreases == 0


# --- pauses ------------------------------------------------------------------------------------------------------


async def test_a_429_pauses_every_call_of_the_process_for_its_retry_after() -> None:
    """After a 429 with Retry-After 3, the next call (any call) waits the 3 seconds before it is sent."""
    clock = ManualClock()
    subject = limiter(clock)
    await subject.throttled(await subject.acquire(60.0), retry_after=3.0)
    started = clock.now
    permit = await subject.acquire(60.0)

    assert permit.paused_for == pytest.approx(3.0)
    assert permit.sent_at == pytest.approx(started + 3.0)


async def test_a_429_without_retry_after_pauses_for_the_default() -> None:
    """No Retry-After: the pause is ``default_pause``."""
    clock = ManualClock()
    subject = limiter(clock)
    await subject.throttled(await subject.acquire(60.0), retry_after=None)

    assert subject.paused_until == pytest.approx(clock.now + 1.0)


async def test_a_pause_longer_than_the_call_may_wait_raises_long_pause() -> None:
    """Retry-After 120 against a budget of 60: the next acquire raises ``LongPause`` carrying the 120 s left."""
    clock = ManualClock()
    subject = limiter(clock)
    await subject.throttled(await subject.acquire(60.0), retry_after=120.0)

    with pytest.raises(LongPause) as caught:
        await subject.acquire(60.0)
    assert caught.value.seconds == pytest.approx(120.0)
    assert clock.sleeps == []


async def test_a_pause_is_written_to_the_shared_marker() -> None:
    """A 429 extends the shared marker to the end of its pause."""
    clock = ManualClock()
    shared = RecordingSharedPause()
    subject = limiter(clock, shared)
    await subject.throttled(await subject.acquire(60.0), retry_after=5.0)

    assert shared.extended == [pytest.approx(clock.now + 5.0)]


async def test_a_pause_another_instance_shared_is_waited_out_and_lowers_the_rate() -> None:
    """The marker says paused for 5 s more: the call waits 5 s, and the shared congestion decreases the rate."""
    clock = ManualClock()
    shared = RecordingSharedPause(until=clock.now + 5.0)
    subject = limiter(clock, shared)
    permit = await subject.acquire(60.0)

    assert permit.paused_for == pytest.approx(5.0)
    assert subject.rate == pytest.approx(3.6)
    assert subject.stats.shared_pauses == 1
    assert shared.extended == []


async def test_the_shared_marker_is_read_at_most_once_per_ttl() -> None:
    """Calls within one second reuse one read of the marker; the next second reads it again."""
    clock = ManualClock()
    shared = RecordingSharedPause()
    subject = limiter(clock, shared)
    await succeed_unpaced(subject, clock, count=4, every=0.2)
    reads_within_a_second = shared.reads
    clock.advance(1.0)
    await subject.acquire(60.0)

    assert reads_within_a_second == 1
    assert shared.reads == 2


async def test_an_expired_marker_does_not_pause() -> None:
    """A marker whose time has passed is no pause and no congestion."""
    clock = ManualClock()
    subject = limiter(clock, RecordingSharedPause(until=clock.now - 1.0))
    permit = await subject.acquire(60.0)

    assert permit.paused_for == 0.0
    assert subject.stats.decreases == 0


# --- concurrency -------------------------------------------------------------------------------------------------


async def test_calls_in_flight_never_exceed_the_maximum_concurrency() -> None:
    """With two calls in flight at a maximum of 2, a third waits until one is released."""
    clock = ManualClock()
    subject = limiter(clock, policy=replace(POLICY, max_concurrency=2))
    first = await subject.acquire(60.0)
    await subject.acquire(60.0)
    third = asyncio.create_task(subject.acquire(60.0))
    for _ in range(5):
        await asyncio.sleep(0)
    waiting = not third.done()
    subject.succeeded(first)
    await third

    assert waiting
