"""``MessageSettler`` over the Functions SDK-type binding's ``ServiceBusMessageActions``.

Settlement goes to the Functions host over gRPC (synchronous calls): they run in a thread so the event
loop keeps serving other messages. Scheduling a retry copy is not something the host offers, so it goes
through an azure-servicebus sender to the same queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import ServiceBusSender

from shared.queue_messages import copy_for_retry


class FunctionsMessageSettler:
    def __init__(
        self,
        message: ServiceBusReceivedMessage,
        actions: Any,  # azurefunctions.extensions.bindings.servicebus.ServiceBusMessageActions (untyped)
        sender: Callable[[], Awaitable[ServiceBusSender]],
    ) -> None:
        self._message = message
        self._actions = actions
        self._sender = sender

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
        sender = await self._sender()
        when = datetime.now(UTC) + timedelta(seconds=delay_seconds)
        await sender.schedule_messages(copy_for_retry(self._message, attempt), when)
