"""In-call retry policy: which failures are retried inside one call, how often and how long.

Only ``TransientError`` is retried (throttling, 5xx/408, connection failures); everything else goes
straight back to the caller. Retries are bounded in attempts *and* in total waiting time, honour
``Retry-After``, and add jitter. A ``Retry-After`` longer than ``max_delay`` is not slept through in-call:
the error goes back to the host, which schedules the message for later instead of holding its lock.

With the adaptive limiter (``throttle.py``), 429s do not come here: the limiter pauses the whole process for
the Retry-After, and the pause is waited out in the call up to ``PARTNER_CENTER_MAX_PAUSE_WAIT_SECONDS``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from shared.attestation.backoff import exponential_delay
from shared.attestation.errors import PartnerCenterError, TransientError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for retrying one Partner Center call."""

    attempts: int = 3  # HTTP attempts in total, the first included
    base_delay: float = 0.5  # seconds before the first retry (then doubling)
    max_delay: float = 8.0  # the longest single wait made in-call
    max_total_delay: float = 20.0  # the most time spent waiting across one call's retries

    def next_delay(self, attempt: int, error: PartnerCenterError, waited: float, rng: random.Random) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up and raise ``error``."""
        if not isinstance(error, TransientError) or attempt >= self.attempts:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_delay:
                return None
            # Jitter spreads the herd but must not push one wait past max_delay (Retry-After is still met).
            delay = min(self.max_delay, error.retry_after + rng.uniform(0, min(1.0, self.base_delay)))
        else:
            delay = exponential_delay(attempt, base=self.base_delay, cap=self.max_delay, rng=rng)
        if waited + delay > self.max_total_delay:
            return None
        return delay


NO_RETRY = RetryPolicy(attempts=1)
