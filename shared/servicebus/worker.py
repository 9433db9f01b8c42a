"""The standalone worker: the queue trigger's job, hosted by the azure-servicebus SDK instead of Functions.

It is how the system runs locally, and how a partner runs it in a container (Azure Container Apps with
a KEDA Service Bus scaler). Same use case (``Attestor``), same settlement policy (``shared.servicebus.settlement``);
only the ``MessageSettler`` differs: here it is an SDK receiver plus a sender for retry copies.

- peek-lock receive, at most ``concurrency`` messages in flight, each with automatic lock renewal;
- a message whose processing fails unexpectedly is abandoned (logged with its type), so Service Bus
  redelivers it and, past MaxDeliveryCount, dead-letters it: never completed by accident, never lost;
- ``stop`` (SIGINT/SIGTERM in the command) stops receiving, lets in-flight messages finish within a grace
  period, and closes the receiver, which releases any prefetched messages back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import AutoLockRenewer, ServiceBusClient, ServiceBusReceiver
from azure.servicebus.exceptions import ServiceBusError

from shared.attestation.contract import MAX_BODY_BYTES
from shared.bootstrap import Services
from shared.servicebus.messages import body_bytes, copy_for_check, copy_for_retry, delivery_of, time_to_live_seconds
from shared.servicebus.processing import MessageNotSettled, process_message
from shared.servicebus.retry_scheduler import RetryScheduler
from shared.servicebus.settlement import ScheduleCheck, settlement_name

log = logging.getLogger(__name__)

LOCK_RENEWAL_SECONDS = 600.0  # longest a message may be worked on (in-call retries included)
IDLE_RECEIVE_WAIT_SECONDS = 1.0  # one receive's wait on an idle queue: bounds how long a stop takes
BUSY_RECEIVE_WAIT_SECONDS = 0.005  # while messages are in flight: their settlements wait behind it
RECONNECT_DELAY_SECONDS = 1.0


class SettlementLane:
    """Runs receiver settlements one at a time, from the receive loop, between receive calls.

    With azure-servicebus 7.15 a settlement waits for the broker's echo, and it reads that echo on the
    same connection the receive loop is reading: run concurrently with a receive, each complete took
    ~300 ms (bench/bench_end_to_end.py measured the pipeline at 0.24 of the direct rate). Settled in
    turn by the loop, each takes a couple of milliseconds.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Callable[[], Awaitable[None]], asyncio.Future[None]]] = []
        self.requested = asyncio.Event()

    async def submit(self, operation: Callable[[], Awaitable[None]]) -> None:
        """Queue ``operation`` and wait until the loop has run it (its exception is raised here)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((operation, done))
        self.requested.set()
        await done

    async def run_pending(self) -> None:
        self.requested.clear()
        pending, self._pending = self._pending, []
        for operation, done in pending:
            try:
                await operation()
            except (TimeoutError, ServiceBusError, OSError, ValueError) as exc:
                done.set_exception(exc)  # the message's own task handles it (abandon → redelivery)
            else:
                done.set_result(None)


class SdkMessageSettler:
    """``MessageSettler`` over an azure-servicebus receiver (settlement) and a shared retry scheduler."""

    def __init__(
        self,
        receiver: ServiceBusReceiver,
        scheduler: RetryScheduler,
        message: ServiceBusReceivedMessage,
        lane: SettlementLane,
    ) -> None:
        self._receiver = receiver
        self._scheduler = scheduler
        self._message = message
        self._lane = lane

    async def complete(self) -> None:
        await self._lane.submit(lambda: self._receiver.complete_message(self._message))

    async def dead_letter(self, reason: str, description: str) -> None:
        await self._lane.submit(
            lambda: self._receiver.dead_letter_message(self._message, reason=reason, error_description=description)
        )

    async def schedule_copy(self, delay_seconds: float, attempt: int) -> None:
        await self._scheduler.schedule(copy_for_retry(self._message, attempt), delay_seconds)

    async def schedule_check(self, check: ScheduleCheck) -> None:
        await self._scheduler.schedule(
            copy_for_check(self._message, check.check, check.identity, event_id=check.event_id), check.delay_seconds
        )

    async def give_back(self) -> None:
        """Abandon the message so Service Bus redelivers it. If even that fails, its lock lapses on its own;
        redelivery follows either way."""

        async def abandon_quietly() -> None:
            with contextlib.suppress(TimeoutError, ServiceBusError, OSError, ValueError):
                await self._receiver.abandon_message(self._message)

        await self._lane.submit(abandon_quietly)


@dataclass(slots=True)
class WorkerStats:
    received: int = 0
    settled: int = 0
    failed: int = 0  # processing raised; the message was abandoned for redelivery
    by_settlement: dict[str, int] = field(default_factory=dict)


class Worker:
    """Consumes one queue until ``stop`` is set."""

    def __init__(
        self,
        services: Services,
        client: ServiceBusClient,
        queue_name: str,
        *,
        concurrency: int = 32,
        grace_seconds: float = 30.0,
    ) -> None:
        self._services = services
        self._client = client
        self._queue_name = queue_name
        self._concurrency = concurrency
        self._grace_seconds = grace_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self.stats = WorkerStats()

    async def run(self, stop: asyncio.Event) -> WorkerStats:
        log.info("worker started", extra={"event": "worker.started", "queue": self._queue_name})
        while not stop.is_set():
            try:
                await self._consume(stop)
            except ServiceBusError as exc:
                # The link or connection failed under us (broker restart, network). Messages we held come back
                # when their locks lapse; open new handlers and go on.
                log.warning(
                    "receiver failed; reconnecting: %s",
                    type(exc).__name__,
                    extra={"event": "worker.reconnect", "queue": self._queue_name},
                )
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
        log.info(
            "worker stopped",
            extra={"event": "worker.stopped", "received": self.stats.received, "settled": self.stats.settled},
        )
        return self.stats

    async def _consume(self, stop: asyncio.Event) -> None:
        """Receive, dispatch and settle until ``stop``; the handlers live exactly as long as this call."""
        receiver = self._client.get_queue_receiver(self._queue_name, prefetch_count=self._concurrency)
        sender = self._client.get_queue_sender(self._queue_name)
        renewer = AutoLockRenewer(max_lock_renewal_duration=LOCK_RENEWAL_SECONDS)
        lane = SettlementLane()
        scheduler = RetryScheduler.over(sender)  # one schedule at a time: see shared/servicebus/retry_scheduler.py
        async with receiver, sender, renewer:
            try:
                while not stop.is_set():
                    await lane.run_pending()
                    free = self._concurrency - len(self._in_flight)
                    if free <= 0:
                        await self._wait_for_work(lane, limit_seconds=None)
                        continue
                    # Short receives while work is in flight, so settlements are not held up behind them.
                    wait = BUSY_RECEIVE_WAIT_SECONDS if self._in_flight else IDLE_RECEIVE_WAIT_SECONDS
                    messages = await receiver.receive_messages(max_message_count=free, max_wait_time=wait)
                    for message in messages:
                        self.stats.received += 1
                        renewer.register(receiver, message, max_lock_renewal_duration=LOCK_RENEWAL_SECONDS)
                        task = asyncio.create_task(
                            self._handle(message, SdkMessageSettler(receiver, scheduler, message, lane))
                        )
                        self._in_flight.add(task)
                        task.add_done_callback(self._in_flight.discard)
            finally:
                await self._drain(lane)  # in-flight work settles through these handlers, so finish it first

    async def _wait_for_work(self, lane: SettlementLane, limit_seconds: float | None) -> None:
        """Until a settlement is requested or an in-flight message finishes."""
        requested = asyncio.create_task(lane.requested.wait())
        try:
            await asyncio.wait(
                {requested, *self._in_flight}, timeout=limit_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            requested.cancel()

    async def _drain(self, lane: SettlementLane) -> None:
        """Let in-flight messages finish within the grace period; then cancel them (their locks lapse, so
        Service Bus redelivers them)."""
        deadline = asyncio.get_running_loop().time() + self._grace_seconds
        while self._in_flight:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await self._wait_for_work(lane, limit_seconds=remaining)
            await lane.run_pending()
        pending = set(self._in_flight)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _handle(self, message: ServiceBusReceivedMessage, settler: SdkMessageSettler) -> None:
        services = self._services
        try:
            processed = await process_message(
                body_bytes(message, limit=MAX_BODY_BYTES),
                delivery=delivery_of(message),
                router=services.router,
                settler=settler,
                policy=services.redelivery,
                rng=services.rng,
                time_to_live=time_to_live_seconds(message),
            )
        except (TimeoutError, ServiceBusError, OSError, ValueError, MessageNotSettled) as exc:
            # Settlement or scheduling failed (lock lost, connection dropped, handler already shut down — the
            # SDK raises ValueError for that): the message stays on the queue and comes back; the consumer
            # is idempotent, so a second attempt is safe.
            self.stats.failed += 1
            log.warning(
                "message not settled; it will be redelivered: %s",
                type(exc).__name__,
                extra={"event": "worker.settle_failed", "message_id": str(message.message_id or "")},
            )
            await settler.give_back()
            return
        self.stats.settled += 1
        name = settlement_name(processed.settlement)
        self.stats.by_settlement[name] = self.stats.by_settlement.get(name, 0) + 1
