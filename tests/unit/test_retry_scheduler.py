"""Retry copies are scheduled through one sender, one call at a time; a failure pauses before it is raised."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusConnectionError

from shared.servicebus.retry_scheduler import RetryScheduler


class SlowSender:
    """Records how many schedule calls overlap; optionally fails the first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.in_flight = 0
        self.peak = 0
        self.scheduled: list[tuple[str, datetime]] = []
        self.failures = failures

    async def schedule_messages(self, messages: ServiceBusMessage, schedule_time_utc: datetime) -> list[int]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            if self.failures:
                self.failures -= 1
                raise ServiceBusConnectionError(message="link detached")
            self.scheduled.append((str(messages.message_id), schedule_time_utc))
            return [len(self.scheduled)]
        finally:
            self.in_flight -= 1


async def test_concurrent_schedules_share_one_sender_opened_once_and_never_overlap() -> None:
    """32 messages scheduling at once: the sender is opened once and sees one call at a time."""
    sender = SlowSender()
    opened: list[SlowSender] = []

    async def open_sender() -> SlowSender:
        await asyncio.sleep(0.001)  # opening takes a while: concurrent first calls would race here
        opened.append(sender)
        return sender

    scheduler = RetryScheduler(open_sender)
    await asyncio.gather(*(scheduler.schedule(ServiceBusMessage(b"{}", message_id=f"m-{i}"), 30) for i in range(32)))
    assert len(opened) == 1
    assert sender.peak == 1
    assert len(sender.scheduled) == 32
    assert scheduler.scheduled == 32


async def test_a_failed_schedule_pauses_then_raises_and_the_pause_grows() -> None:
    """A failure is raised only after a pause (so the abandoned message does not bounce at once), longer each time
    in a row; a success resets it."""
    pauses: list[float] = []

    async def record_pause(seconds: float) -> None:
        pauses.append(seconds)

    sender = SlowSender(failures=3)

    async def open_sender() -> SlowSender:
        return sender

    scheduler = RetryScheduler(open_sender, sleep=record_pause, rng=random.Random(1))
    for _ in range(3):
        with pytest.raises(ServiceBusConnectionError):
            await scheduler.schedule(ServiceBusMessage(b"{}", message_id="m"), 30)
    await scheduler.schedule(ServiceBusMessage(b"{}", message_id="m"), 30)
    assert len(pauses) == 3
    assert all(p >= 1.0 for p in pauses)
    assert pauses[0] < pauses[2]
    assert scheduler.consecutive_failures == 0


async def test_the_copy_is_scheduled_the_delay_ahead() -> None:
    """The scheduled time is now + delay."""
    sender = SlowSender()
    before = datetime.now(UTC)
    await RetryScheduler.over(sender).schedule(ServiceBusMessage(b"{}", message_id="m"), 90)
    [(_, when)] = sender.scheduled
    assert 89 <= (when - before).total_seconds() <= 91
