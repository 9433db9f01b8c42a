"""Exponential backoff with jitter, shared by in-call retries and scheduled redeliveries."""

from __future__ import annotations

import random


def exponential_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1-based): base·2^(attempt-1), capped, with "equal jitter".

    Half of the delay is fixed and half random, so retries from many workers spread out (no thundering
    herd) while each still waits at least half the nominal delay.
    """
    # The exponent is clamped: 2.0 ** 1024 overflows, and a redelivery count can grow that large.
    nominal: float = min(cap, base * 2.0 ** min(max(0, attempt - 1), 64))
    return nominal / 2 + rng.uniform(0, nominal / 2)
