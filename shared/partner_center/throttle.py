"""The adaptive limiter in front of every Partner Center call of a process: pacing, a concurrency cap, pauses.

Why AIMD on 429, paced as a rate, and not a latency gradient
-----------------------------------------------------------
Partner Center throttles per partner tenant with an unpublished budget, and its gateway *rejects* what is over
the budget (429 + ``Retry-After``) instead of queueing it: latency does not rise as the budget is approached, so
a latency gradient (Vegas, Netflix's gradient2) has nothing to read until the 429s arrive. The 429 is the only
signal, and AIMD is the classic controller for a binary loss signal: it converges, and several independent
instances sharing one budget converge to fair shares of it.

The controlled quantity is a *rate* (requests started per second), not a window of concurrent calls. The budget
is counted in requests per second; a window W gives W ÷ latency requests per second, and at Partner Center's
tens of milliseconds and a budget shared by four workers, the right window is a fraction of one call. A rate
has no such floor. The configured maximum concurrency caps the calls in flight on top of the rate.

- **Slow start**: from ``initial_rate``, each paced success adds one request/s (the rate grows e-fold every
  second) until the first congestion signal.
- **Additive increase**: afterwards each paced success adds ``increase / rate``, i.e. ``increase`` requests/s
  per second; above the rate measured at the last congestion (``ceiling``), only ``probe_fraction`` of that.
  Only *paced* successes count — calls that waited for their slot — so an idle process does not grow a rate it
  never used (RFC 7661's rule for application-limited senders).
- **Multiplicative decrease** on a congestion signal: ``rate = decrease × min(rate, delivered)``, where
  ``delivered`` is the success rate measured since the previous pause ended (at most ``window`` seconds, and
  not before the first call). When Partner Center answers 429 its bucket is empty, so the successes just
  before arrive at about this process's share of the budget: ``delivered`` measures the share, which lets a
  decrease land near the limit instead of taking the log₂ halvings of blind AIMD. Congestion again within
  ``quick_repeat`` seconds of the end of the last pause means the rate is still far too high (the limit
  dropped; the burst refilled during the pause hides it from ``delivered``): ``fast_decrease`` instead. One
  decrease per round: a 429 for a call started before the last decrease is the same congestion, not new.
- **Pacing**: one caller at a time takes its turn ``1 / rate`` after the previous call, at the rate of *now*:
  slots reserved in advance would keep an old rate for as long as the queue of callers is deep.
- **Pause**: a 429 pauses the whole process until its ``Retry-After`` (``default_pause`` without one) has
  passed, and the pause is written to a ``SharedPause`` (a marker in the storage the instances already share),
  which every instance reads, cached ``marker_ttl`` seconds, before calling. A pause another instance wrote is
  a congestion signal here too: the budget is one for all.
- **Waiting**: a pause is waited out inside ``acquire`` while the call's ``pause_budget`` lasts (the setting
  ``PARTNER_CENTER_MAX_PAUSE_WAIT_SECONDS``, 60 s); a longer one raises ``LongPause`` and the client turns it
  into ``Paused``, which the host schedules for after the pause.

Everything time-related goes through an injected ``clock`` (wall-clock seconds: pauses are shared between
processes as epoch times) and ``sleep``, so tests pin the arithmetic without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

# Pauses that end this close together are one pause (a marker read back as written, give or take a float).
_SAME_PAUSE = 0.01


class SharedPause(Protocol):
    """The "paused until" marker every instance reads. Implementations never raise: a store that cannot be
    reached reads as no pause and ignores writes (each instance still honours its own 429s)."""

    async def read(self) -> float | None:
        """The epoch second until which every instance pauses, or None."""
        ...

    async def extend(self, until: float) -> None:
        """Make the shared pause last at least until ``until`` (never shortens it)."""
        ...


class LongPause(Exception):
    """The pause outlasts the call's remaining ``pause_budget``: give the message back to the queue."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"paused for another {seconds:.1f} s")
        self.seconds = seconds


@dataclass(frozen=True, slots=True)
class LimiterPolicy:
    """The limiter's bounds and gains (the first two are app settings; the rest are tuned constants)."""

    max_concurrency: int = 32  # calls in flight at most (PARTNER_CENTER_MAX_CONCURRENCY)
    max_pause_wait: float = 60.0  # pause waited out per call (PARTNER_CENTER_MAX_PAUSE_WAIT_SECONDS)
    initial_rate: float = 8.0  # requests/s before anything is known
    min_rate: float = 0.5  # the slowest the limiter paces
    increase: float = 0.5  # requests/s gained per second of paced sending, below the ceiling
    probe_fraction: float = 0.1  # share of ``increase`` above the ceiling
    decrease: float = 0.9  # multiplier of min(rate, delivered) on congestion
    fast_decrease: float = 0.7  # the multiplier when congestion comes back within ``quick_repeat`` of a pause
    quick_repeat: float = 3.0  # seconds after a pause ended within which congestion means "still far too fast"
    window: float = 2.0  # seconds of successes that measure ``delivered``
    min_window: float = 0.5  # shorter measurements are not trusted; the decrease uses the rate alone
    default_pause: float = 1.0  # a 429 without Retry-After pauses this long; also the shortest pause
    marker_ttl: float = 1.0  # how long a read of the shared marker is reused

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not 0.0 < self.fast_decrease <= self.decrease < 1.0:
            raise ValueError("0 < fast_decrease <= decrease < 1")
        if not 0.0 < self.min_rate <= self.initial_rate:
            raise ValueError("0 < min_rate <= initial_rate")


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to send one request, returned by ``acquire`` and handed back to one of the release methods."""

    sent_at: float  # clock time the permit was granted
    paced: bool  # the call waited for its slot: the limiter, not demand, bounded the rate
    paused_for: float  # seconds this acquire waited out pauses


@dataclass(slots=True)
class LimiterStats:
    """What the limiter did (benchmarks and logs read it)."""

    decreases: int = 0
    pauses: int = 0  # pauses from this process's own 429s
    shared_pauses: int = 0  # pauses another instance wrote to the marker


class AdaptiveLimiter:
    """Paces a process's Partner Center calls at an AIMD-adapted rate under a concurrency cap; see the module."""

    def __init__(
        self,
        policy: LimiterPolicy | None = None,
        *,
        shared: SharedPause | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy or LimiterPolicy()
        self._shared = shared
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(self.policy.max_concurrency)
        self._rate = self.policy.initial_rate
        self._slow_start = True
        self._ceiling = 0.0
        self._last_sent = float("-inf")
        self._turn = asyncio.Lock()  # callers take the pace one at a time
        self._pause_until = 0.0
        self._last_decrease = float("-inf")
        self._successes: deque[float] = deque()
        self._first_sent: float | None = None  # the measurement of ``delivered`` starts no earlier
        self._shared_until = 0.0
        self._shared_read_at = float("-inf")
        self._read_lock = asyncio.Lock()
        self.stats = LimiterStats()

    @property
    def rate(self) -> float:
        """The current pace, in requests per second."""
        return self._rate

    @property
    def paused_until(self) -> float:
        """The clock time this process is paused until (in the past when it is not paused)."""
        return self._pause_until

    async def acquire(self, pause_budget: float) -> Permit:
        """Wait for a free slot, the end of any pause (local or shared) and this call's turn at the current pace.

        Raises ``LongPause`` when the pause outlasts ``pause_budget`` seconds (what the call may still wait).
        """
        await self._slots.acquire()
        try:
            return await self._wait_for_turn(pause_budget)
        except BaseException:
            self._slots.release()
            raise

    async def _wait_for_turn(self, pause_budget: float) -> Permit:
        """Pauses are waited out first, outside the turn; then, one caller at a time, the pace: a call goes
        ``1 / rate`` after the previous one, at the rate of *now* (a slot reserved in advance would keep an old
        rate for as long as the queue of callers is deep)."""
        paused_for, paced = 0.0, self._turn.locked()
        while True:
            now = self._clock()
            until = max(self._pause_until, await self._read_shared(now))
            if until > now:
                remaining = until - now
                if remaining > pause_budget - paused_for:
                    raise LongPause(remaining)
                await self._sleep(remaining)
                paused_for += remaining
                continue
            async with self._turn:
                now = self._clock()
                if self._pause_until > now:
                    continue  # a pause began while this caller waited for its turn
                slot = self._last_sent + 1.0 / self._rate
                if slot > now:
                    paced = True
                    await self._sleep(slot - now)
                    continue
                self._last_sent = now
                if self._first_sent is None:
                    self._first_sent = now
                return Permit(sent_at=now, paced=paced, paused_for=paused_for)

    def succeeded(self, permit: Permit) -> None:
        """The call got an answer that was not a 429: count it, and grow the rate if the limiter bound it."""
        self._slots.release()
        now = self._clock()
        self._successes.append(now)
        while self._successes and self._successes[0] < now - self.policy.window:
            self._successes.popleft()
        if not permit.paced:
            return
        if self._slow_start:
            self._rate += 1.0
        else:
            gain = (
                self.policy.increase
                if self._rate < self._ceiling
                else self.policy.increase * self.policy.probe_fraction
            )
            self._rate += gain / self._rate

    def failed(self, permit: Permit) -> None:
        """The call failed some other way (no answer, 5xx): neither a success nor a throttling signal."""
        self._slots.release()

    async def throttled(self, permit: Permit, retry_after: float | None) -> None:
        """The call was answered 429: decrease (once per round), pause the process, share the pause."""
        self._slots.release()
        now = self._clock()
        if permit.sent_at > self._last_decrease:
            self._decrease(now)
        wait = max(self.policy.default_pause, retry_after if retry_after is not None else 0.0)
        until = now + wait
        if until <= self._pause_until:
            return
        self.stats.pauses += 1
        self._pause(until, origin="429")
        if self._shared is not None:
            self._shared_until = max(self._shared_until, until)
            await self._shared.extend(until)

    async def _read_shared(self, now: float) -> float:
        """The shared pause, read at most once per ``marker_ttl`` (one read at a time; others reuse it)."""
        if self._shared is None or now - self._shared_read_at < self.policy.marker_ttl:
            return self._shared_until
        async with self._read_lock:
            if self._clock() - self._shared_read_at >= self.policy.marker_ttl:
                until = await self._shared.read()
                self._shared_read_at = self._clock()
                if until is not None and until > self._shared_until + _SAME_PAUSE:
                    self._shared_until = until
                    if until > self._pause_until + _SAME_PAUSE and until > self._shared_read_at:
                        self._adopt(until)
        return self._shared_until

    def _adopt(self, until: float) -> None:
        """Another instance was told to wait: the budget is shared, so this is congestion here too."""
        now = self._clock()
        self.stats.shared_pauses += 1
        if now - self._last_decrease > self.policy.marker_ttl:
            self._decrease(now)
        self._pause(until, origin="shared")

    def _decrease(self, now: float) -> None:
        start = max(now - self.policy.window, self._pause_until, self._first_sent or now)
        span = now - start
        delivered = sum(1 for t in self._successes if t >= start) / span if span >= self.policy.min_window else 0.0
        basis = min(self._rate, delivered) if delivered > 0 else self._rate
        quick = not self._slow_start and now - self._pause_until < self.policy.quick_repeat
        factor = self.policy.fast_decrease if quick else self.policy.decrease
        self._ceiling = basis
        self._rate = max(self.policy.min_rate, factor * basis)
        self._slow_start = False
        self._last_decrease = now
        self.stats.decreases += 1

    def _pause(self, until: float, *, origin: str) -> None:
        self._pause_until = until
        log.warning(
            "partner center calls paused for %.1f s (%s)",
            until - self._clock(),
            origin,
            extra={
                "event": "partner_center.paused",
                "origin": origin,
                "paused_until": round(until, 3),
                "rate": round(self._rate, 2),
            },
        )
