"""``python -m emulators.servicebus --config FILE --port N --log-file F``: run the emulator until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .config import ConfigError, load_config, load_default_config
from .server import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE_SIZE, EmulatorStartError, ServiceBusEmulator

logger = logging.getLogger("emulators.servicebus")


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point (``servicebus-emulator``); returns the process exit code."""
    arguments = _parse_arguments(argv)
    _configure_logging(arguments.log_file, arguments.log_level)
    try:
        config = load_config(arguments.config) if arguments.config else load_default_config()
    except ConfigError as exc:
        logger.error("servicebus_emulator.config_invalid: %s", exc)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    emulator = ServiceBusEmulator(
        config,
        host=arguments.host,
        port=arguments.port,
        max_message_size=arguments.max_message_size,
        max_connections=arguments.max_connections,
        management_port=_management_port(arguments),
        check_sas_key=arguments.check_sas_key,
    )
    try:
        emulator.start()
    except EmulatorStartError as exc:
        logger.error("servicebus_emulator.start_failed: %s", exc.__cause__ or exc)
        return 1
    try:
        # Printed (not only logged) so a script can wait for this line before connecting.
        print(f"Service Bus emulator listening on {arguments.host}:{emulator.port}", flush=True)
        print(f"Connection string: {emulator.connection_string}", flush=True)
        print(f"Management API and /health: http://{arguments.host}:{emulator.management_port}", flush=True)
        logger.info("servicebus_emulator.queues", extra={"queues": emulator.queue_names})
        stop.wait()
    finally:
        emulator.stop()
    return 0


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="servicebus-emulator",
        description="Local Azure Service Bus emulator (queues) for tests and local runs. Not for production.",
    )
    parser.add_argument("--config", type=Path, help="config.json in Microsoft's emulator shape (default: bundled)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5672, help="AMQP port (default: 5672; 0 picks a free one)")
    parser.add_argument("--log-file", type=Path, help="write the log here instead of stderr")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument(
        "--max-message-size", type=int, default=DEFAULT_MAX_MESSAGE_SIZE, help="bytes (default: 256 KiB)"
    )
    parser.add_argument(
        "--management-port",
        type=int,
        help="HTTP port of the management API and /health (default: 5300, as Microsoft's emulator; "
        "a free port when --port is 0)",
    )
    parser.add_argument(
        "--check-sas-key",
        action="store_true",
        help="refuse tokens not signed with the documented key SAS_KEY_VALUE (default: accept any key)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"concurrent AMQP connections before new ones are refused (default: {DEFAULT_MAX_CONNECTIONS})",
    )
    return parser.parse_args(argv)


def _management_port(arguments: argparse.Namespace) -> int:
    """5300 (Microsoft's) unless given; a free port when the AMQP port is, so parallel test runs never collide."""
    if arguments.management_port is not None:
        return int(arguments.management_port)
    return 0 if arguments.port == 0 else 5300


def _configure_logging(log_file: Path | None, level: str) -> None:
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # proton logs every reactor event at DEBUG; keep that out even when the emulator's own DEBUG is on.
    logging.getLogger("proton").setLevel(max(logging.getLevelName(level), logging.INFO))


if __name__ == "__main__":
    raise SystemExit(main())
