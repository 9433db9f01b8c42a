"""Scheduling retry copies: one shared sender, one call at a time, and a pause before giving up on a failure.

Both queue hosts (the function app and the worker) schedule a copy of a message that Partner Center could
not take yet, then complete the original. During a Partner Center outage every message in flight does this
at once. azure-servicebus opens a sender's management link on the first ``schedule_messages`` and again
after a failure; concurrent calls race to open it, fail, and each failure left a connection behind (at
concurrency 32: 148 → 818 file descriptors in 21 s, and an emulator out of sockets). Serialised here, there
is one link to open and each failure costs only itself.

When scheduling fails anyway, the caller leaves the message unsettled and the host abandons it, which
redelivers it at once: without a pause, a short Service Bus hiccup would burn through the queue's
MaxDeliveryCount in seconds. So a failure waits (growing with consecutive failures, with jitter) before it
is raised; the message's lock is renewed meanwhile (the worker's lock renewer, the Functions host's).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from azure.servicebus import ServiceBusMessage

from shared.attestation.backoff import exponential_delay

log = logging.getLogger(__name__)

FAILURE_BACKOFF_BASE_SECONDS = 2.0
FAILURE_BACKOFF_MAX_SECONDS = 60.0


class MessageScheduler(Protocol):
    """The scheduling part of ``azure.servicebus.aio.ServiceBusSender``."""

    async def schedule_messages(self, messages: ServiceBusMessage, schedule_time_utc: datetime) -> list[int]: ...


class RetryScheduler:
    """Schedules copies through one sender (given, or opened on first use by ``open_sender``), serially."""

    def __init__(
        self,
        open_sender: Callable[[], Awaitable[MessageScheduler]],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        backoff_base: float = FAILURE_BACKOFF_BASE_SECONDS,
        backoff_max: float = FAILURE_BACKOFF_MAX_SECONDS,
    ) -> None:
        self._open_sender = open_sender
        self._sender: MessageScheduler | None = None
        self._lock = asyncio.Lock()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self.consecutive_failures = 0
        self.scheduled = 0

    @classmethod
    def over(cls, sender: MessageScheduler) -> RetryScheduler:
        """A scheduler over a sender that is already open."""

        async def given() -> MessageScheduler:
            return sender

        return cls(given)

    async def schedule(self, message: ServiceBusMessage, delay_seconds: float) -> None:
        """Enqueue ``message`` ``delay_seconds`` from now. On failure: pause, then raise (see the module doc)."""
        try:
            async with self._lock:
                if self._sender is None:
                    self._sender = await self._open_sender()
                when = datetime.now(UTC) + timedelta(seconds=delay_seconds)
                await self._sender.schedule_messages(message, when)
                self.consecutive_failures = 0
                self.scheduled += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # re-raised below: only the pause is added
            self.consecutive_failures += 1
            pause = exponential_delay(
                self.consecutive_failures, base=self._backoff_base, cap=self._backoff_max, rng=self._rng
            )
            log.warning(
                "retry copy not scheduled; pausing %.1f s before giving the message back: %s",
                pause,
                type(exc).__name__,
                extra={"event": "retry.schedule_failed", "pause_seconds": round(pause, 1)},
            )
            await self._sleep(pause)
            raise
