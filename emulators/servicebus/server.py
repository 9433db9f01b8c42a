"""Run the emulator in-process: the proton reactor on a background thread, plus the inspection API.

    with ServiceBusEmulator(EmulatorConfig.with_queues(["orders"])) as emulator:
        client = ServiceBusClient.from_connection_string(emulator.connection_string)
        ...
        assert emulator.queue_depths("orders").active == 0

The inspection methods read the emulator's state directly (not over AMQP) and are safe to call from
any thread while the reactor runs.
"""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType
from typing import Any, Self

from proton.reactor import ApplicationEvent, Container, EventInjector

from .broker import Broker
from .config import EmulatorConfig, load_default_config
from .management_http import ManagementHttpServer
from .poller import PollingIOHandler
from .sas import SasKeyCheck
from .snapshots import MessageSnapshot, QueueDepths
from .store import DEAD_LETTER_QUEUE_SUFFIX, Clock, Namespace, wall_clock_ms

logger = logging.getLogger(__name__)

# Service Bus Standard tier limit; the SDK reads it from the link and refuses bigger messages itself.
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024
# Concurrent AMQP connections served before new ones are refused (Microsoft's emulator allows 10). Each SDK
# sender or receiver holds one; the cap keeps a client that leaks them from exhausting descriptors.
DEFAULT_MAX_CONNECTIONS = 4096
# The key Microsoft's emulator documents; checked only with check_sas_key=True.
SHARED_ACCESS_KEY_NAME = "RootManageSharedAccessKey"
SHARED_ACCESS_KEY = "SAS_KEY_VALUE"


class EmulatorStartError(RuntimeError):
    """The emulator could not start listening (port in use, bad host, ...)."""


class ServiceBusEmulator:
    """A Service Bus look-alike for the azure-servicebus SDK, served from a daemon thread.

    ``port=0`` (the default) picks a free port; read the chosen one from :attr:`port` after
    :meth:`start`. ``config=None`` serves the committed ``config.json`` (queues ``mca-events`` and
    ``mca-notifications``).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        management_port: int = 0,
        check_sas_key: bool = False,
        clock: Clock = wall_clock_ms,
        startup_timeout: float = 10.0,
    ) -> None:
        self.config = config if config is not None else load_default_config()
        self.host = host
        self._namespace = Namespace(self.config, clock)
        # Off by default, like Microsoft's emulator: then any key works.
        self._sas_check = SasKeyCheck(SHARED_ACCESS_KEY_NAME, SHARED_ACCESS_KEY) if check_sas_key else None
        self._broker = Broker(
            self._namespace,
            host=host,
            port=port,
            max_message_size=max_message_size,
            max_connections=max_connections,
            sas_check=self._sas_check,
            on_listening=self._on_listening,
        )
        self._startup_timeout = startup_timeout
        self._management_port = management_port
        self._management: ManagementHttpServer | None = None
        self._injector: EventInjector | None = None
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()
        self._failure: BaseException | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Start the reactor thread and return once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._injector = EventInjector()
        # epoll instead of proton's select(), which dies past 1,024 descriptors (see poller.py).
        container = Container(self._broker, global_handler=PollingIOHandler())
        container.selectable(self._injector)
        self._thread = threading.Thread(target=self._run, args=(container,), name="servicebus-emulator", daemon=True)
        self._thread.start()
        self._listening.wait(self._startup_timeout)
        if self._port is None:
            self.stop()
            raise EmulatorStartError(f"the emulator did not start listening on {self.host}") from self._failure
        try:
            self._management = ManagementHttpServer(
                self._namespace,
                host=self.host,
                port=self._management_port,
                authorized=self._sas_check.accepts if self._sas_check is not None else None,
            )
        except OSError as exc:
            self.stop()
            raise EmulatorStartError(f"the management port {self._management_port} is not free") from exc
        self._management.start()
        logger.info("servicebus_emulator.started", extra={"port": self._port})
        return self

    def _on_listening(self, port: int) -> None:
        self._port = port
        self._listening.set()

    def _run(self, container: Container) -> None:
        try:
            container.run()
        except BaseException as exc:
            logger.exception("servicebus_emulator.reactor_failed")
            self._failure = exc
        finally:
            self._listening.set()  # unblock start() if the reactor died before listening
            self._broker.close_sockets()

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection, stop the reactor and release the port.

        Raises the reactor's exception, if it died of one, so a broken emulator fails the test using it.
        """
        if self._management is not None:
            self._management.stop()
            self._management = None
        thread, injector = self._thread, self._injector
        if thread is None or injector is None:
            return
        if thread.is_alive():
            injector.trigger(ApplicationEvent("emulator_stop"))
            thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the emulator's reactor thread did not stop within {timeout} s")
        for fd in injector.pipe:
            os.close(fd)
        self._thread = self._injector = None
        failure, self._failure = self._failure, None
        if failure is not None:
            raise RuntimeError("the emulator's reactor thread failed") from failure

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not running")
        return self._port

    @property
    def connection_string(self) -> str:
        """What the SDK's ``from_connection_string`` needs (``UseDevelopmentEmulator=true`` is case-sensitive)."""
        return (
            f"Endpoint=sb://localhost:{self.port};SharedAccessKeyName={SHARED_ACCESS_KEY_NAME};"
            f"SharedAccessKey={SHARED_ACCESS_KEY};UseDevelopmentEmulator=true"
        )

    @property
    def management_port(self) -> int:
        """The HTTP port of the management API and ``/health`` (Microsoft's emulator: 5300)."""
        if self._management is None:
            raise RuntimeError("the emulator is not running")
        return self._management.port

    @property
    def management_connection_string(self) -> str:
        """For ``ServiceBusAdministrationClient``: the connection string, with the management port."""
        return self.connection_string.replace(f"localhost:{self.port};", f"localhost:{self.management_port};")

    # ------------------------------------------------------------------ inspection (thread-safe, not AMQP)
    @property
    def queue_names(self) -> list[str]:
        return self._namespace.queue_names

    @property
    def connection_count(self) -> int:
        """AMQP connections open now (each SDK sender, receiver or management call holds one)."""
        return self._broker.connection_count

    def queue_depths(self, queue: str) -> QueueDepths:
        """Active (including locked), scheduled, deferred and dead-lettered counts of ``queue``."""
        return self._namespace.depths(queue)

    def messages(self, queue: str) -> list[MessageSnapshot]:
        """Every message in ``queue`` (any state), in sequence order; ``queue/$DeadLetterQueue`` works too."""
        return self._namespace.snapshots(queue)

    def dead_letters(self, queue: str) -> list[MessageSnapshot]:
        """The dead-letter queue of ``queue``, with ``dead_letter_reason`` and ``dead_letter_description``."""
        return self._namespace.snapshots(f"{queue}/{DEAD_LETTER_QUEUE_SUFFIX}")

    def find_message(
        self, queue: str, *, message_id: Any = None, sequence_number: int | None = None
    ) -> MessageSnapshot | None:
        """A message of ``queue`` or its dead-letter queue by message id or sequence number (None if absent)."""
        if message_id is None and sequence_number is None:
            raise ValueError("pass message_id or sequence_number")
        return self._namespace.find(queue, message_id=message_id, sequence_number=sequence_number)

    # ------------------------------------------------------------------ test controls (thread-safe)
    def expire_locks(self, queue: str | None = None) -> int:
        """Expire every held lock now (of ``queue``, or all); returns how many. Redelivery follows within 0.1 s.

        Simulates a consumer that stalled past its lock, without waiting for the lock duration.
        """
        return self._namespace.expire_locks(queue)

    @property
    def sweeps(self) -> int:
        """How many times the 0.1 s sweep has applied lock expiry, scheduling and TTL (for tests that move time)."""
        return self._namespace.sweeps

    def reset(self) -> None:
        """Empty every queue and dead-letter queue and forget duplicate-detection history."""
        self._namespace.reset()
