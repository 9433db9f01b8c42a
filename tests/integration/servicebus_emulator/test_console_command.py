"""``python -m emulators.servicebus``: the console command for local runs, as a real subprocess."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from .receiving import receive_exactly

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).parents[3]
STARTUP_TIMEOUT_S = 20


def _read_line(process: subprocess.Popen[str], *, timeout: float) -> str:
    """The next stdout line, or a test failure if none arrives in time."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            pytest.fail(f"no output from the emulator within {timeout} s")
    line = process.stdout.readline()
    assert line, f"the emulator exited early (code {process.wait(5)})"
    return line


def test_console_command_serves_the_config_until_terminated(tmp_path: Path) -> None:
    """The command prints its port and connection string, serves config.json, logs to a file, exits 0 on SIGTERM."""
    log_file = tmp_path / "emulator.log"
    command = [
        sys.executable,
        "-m",
        "emulators.servicebus",
        "--config",
        str(REPO_ROOT / "emulators" / "servicebus" / "config.json"),
        "--port",
        "0",
        "--management-port",
        "0",
        "--log-file",
        str(log_file),
    ]
    # Fixed argv: this interpreter running the package under test.
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        try:
            listening = _read_line(process, timeout=STARTUP_TIMEOUT_S)
            assert process.stdout is not None
            # Printed right after the first line, so already in the pipe (or the reader's buffer).
            connection_string = process.stdout.readline().removeprefix("Connection string: ").strip()
            assert re.match(r"Service Bus emulator listening on 127\.0\.0\.1:\d+", listening)

            with ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client:
                with client.get_queue_sender("mca-events") as sender:
                    sender.send_messages(ServiceBusMessage(b"from the console test"))
                with client.get_queue_receiver("mca-events", max_wait_time=5) as receiver:
                    [message] = receive_exactly(receiver, 1)
                    receiver.complete_message(message)
        finally:
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=15)
    assert exit_code == 0
    assert b"".join(message.body) == b"from the console test"
    assert "servicebus_emulator.listening" in log_file.read_text()


def test_console_command_rejects_a_bad_config(tmp_path: Path) -> None:
    """An invalid config file makes the command exit with status 2 and say why."""
    bad = tmp_path / "config.json"
    bad.write_text('{"UserConfig": {"Namespaces": []}}')
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - fixed argv: this interpreter running the package under test
        [sys.executable, "-m", "emulators.servicebus", "--config", str(bad), "--port", "0", "--management-port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "exactly one namespace" in result.stderr
    assert time.monotonic() - started < 30
