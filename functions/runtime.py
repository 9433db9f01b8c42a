"""The function app's process-wide state, built on first use and reused by every invocation.

Nothing is built at import: an import-time failure in Functions stops *every* function from loading,
and heavy imports slow every cold start. The first invocation pays for settings, the HTTP pool, the
token provider, the metadata cache and (for retries) one Service Bus sender; later ones reuse them.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.bootstrap import Services
    from shared.metrics import Metrics
    from shared.servicebus.retry_scheduler import MessageScheduler, RetryScheduler


class FunctionRuntime:
    """Lazily opened services, one set per worker process."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._stack: AsyncExitStack | None = None
        self._services: Services | None = None
        self._scheduler: RetryScheduler | None = None
        self._metrics: Metrics | None = None

    async def services(self) -> Services:
        if self._services is None:
            async with self._lock:
                if self._services is None:
                    from shared.bootstrap import open_services
                    from shared.settings import Settings

                    settings = Settings.from_environment()
                    self._metrics = _configure_telemetry(settings.appinsights_connection_string)
                    stack = AsyncExitStack()
                    self._services = await stack.enter_async_context(open_services(settings))
                    self._stack = stack
        return self._services

    async def metrics(self) -> Metrics:
        await self.services()
        assert self._metrics is not None
        return self._metrics

    def retry_scheduler(self) -> RetryScheduler:
        """The process's one scheduler of retry copies: every invocation shares its sender, one schedule at a
        time (concurrent first calls on a fresh sender race in the SDK; see shared/servicebus/retry_scheduler.py)."""
        if self._scheduler is None:
            from shared.servicebus.retry_scheduler import RetryScheduler

            self._scheduler = RetryScheduler(self._open_retry_sender)
        return self._scheduler

    async def _open_retry_sender(self) -> MessageScheduler:
        """A sender to the events queue (identity-based connection); called once, under the scheduler's lock."""
        from shared.servicebus.connection import open_client_from_environment

        services = await self.services()
        assert self._stack is not None
        client = await self._stack.enter_async_context(open_client_from_environment())
        return await self._stack.enter_async_context(client.get_queue_sender(services.settings.queue_name))

    def install(self, services: Services, metrics: Metrics, retry_sender: MessageScheduler) -> None:
        """Test switch: use these instead of building from the environment (no host, no Azure)."""
        from shared.servicebus.retry_scheduler import RetryScheduler

        self._services, self._metrics = services, metrics
        self._scheduler = RetryScheduler.over(retry_sender)

    @property
    def has_services(self) -> bool:
        """Test switch: whether services were built (or installed) yet; nothing is at import."""
        return self._services is not None

    def uninstall(self) -> None:
        """Test switch: forget what ``install`` set, without closing anything."""
        self._services = self._metrics = self._scheduler = None

    async def aclose(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._services, self._scheduler = None, None, None


def _configure_telemetry(connection_string: str) -> Metrics:
    """Application Insights through OpenTelemetry when its connection string is set; otherwise none."""
    from shared.metrics import NoMetrics, OpenTelemetryMetrics

    if not connection_string:
        return NoMetrics()
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(connection_string=connection_string, logger_name="shared")
    return OpenTelemetryMetrics()


runtime = FunctionRuntime()  # holds no resources until first use
