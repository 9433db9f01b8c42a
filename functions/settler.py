"""``MessageSettler`` over the Functions SDK-type binding's ``ServiceBusMessageActions``.

Settlement goes to the Functions host over gRPC (synchronous calls): they run in a thread so the event
loop keeps serving other messages. Scheduling a retry copy is not something the host offers, so it goes
through the process's ``RetryScheduler`` (one azure-servicebus sender to the same queue, one call at a time).
"""

from __future__ import annotations

import asyncio
from typing import Any

from azure.servicebus import ServiceBusReceivedMessage

from shared.servicebus.messages import copy_for_check, copy_for_retry
from shared.servicebus.retry_scheduler import RetryScheduler
from shared.servicebus.settlement import ScheduleCheck


class FunctionsMessageSettler:
    def __init__(
        self,
        message: ServiceBusReceivedMessage,
        actions: Any,  # azurefunctions.extensions.bindings.servicebus.ServiceBusMessageActions (untyped)
        scheduler: RetryScheduler,
    ) -> None:
        self._message = message
        self._actions = actions
        self._scheduler = scheduler

    async def complete(self) -> None:
        await asyncio.to_thread(self._actions.complete, self._message)

    async def dead_letter(self, reason: str, description: str) -> None:
        await asyncio.to_thread(
            self._actions.deadletter,
            self._message,
            deadletter_reason=reason,
            deadletter_error_description=description,
        )

    async def schedule_copy(self, delay_seconds: float, attempt: int) -> None:
        await self._scheduler.schedule(copy_for_retry(self._message, attempt), delay_seconds)

    async def schedule_check(self, check: ScheduleCheck) -> None:
        await self._scheduler.schedule(
            copy_for_check(self._message, check.check, check.identity, event_id=check.event_id), check.delay_seconds
        )
