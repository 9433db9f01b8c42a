"""Run Azurite's Blob or Table service (npm ``azurite``) for tests: on 127.0.0.1, a free port, a throw-away folder.

::

    with run_azurite() as azurite:          # or the pytest fixture ``azurite`` below
        azurite.connection_string           # the well-known devstoreaccount1 account
    with run_azurite_table() as tables:     # or the fixture ``azurite_table``: the attestation ledger
        tables.connection_string

Azurite is installed by ``make .tools/node_modules/.bin/azurite`` (``npm install --prefix .tools
azurite@3.37.0``); ``AZURITE_BLOB_BIN`` / ``AZURITE_TABLE_BIN`` may point at other executables. If it is missing,
``AzuriteNotInstalled`` says so — tests fail, they do not skip.

To reuse the fixture in another test folder, import it into that folder's ``conftest.py``::

    from emulators.azurite import azurite, azurite_table  # noqa: F401
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

AZURITE_VERSION = "3.37.0"
REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BLOB_BIN = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_TABLE_BIN = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "azurite-table"
INSTALL_HINT = f"run `make .tools/node_modules/.bin/azurite` (npm install --prefix .tools azurite@{AZURITE_VERSION})"

# The emulator's published development account; not a secret.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteNotInstalled(RuntimeError):
    """The azurite-blob executable is not where the Makefile installs it."""


class AzuriteFailedToStart(RuntimeError):
    """Azurite exited or did not accept connections in time; the message carries its output."""


@dataclass(frozen=True, slots=True)
class AzuriteBlob:
    """A running Azurite Blob service."""

    host: str
    port: int
    location: Path

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )


@dataclass(frozen=True, slots=True)
class AzuriteTable:
    """A running Azurite Table service."""

    host: str
    port: int
    location: Path

    @property
    def table_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint={self.table_endpoint};"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def run_azurite(
    *,
    executable: Path | None = None,
    host: str = "127.0.0.1",
    startup_timeout: float = 30.0,
    stop_timeout: float = 5.0,
) -> Iterator[AzuriteBlob]:
    """Start azurite-blob, wait (bounded) until it listens, yield it; then terminate, wait, and kill.

    ``executable`` defaults to ``$AZURITE_BLOB_BIN``, else ``.tools/node_modules/.bin/azurite-blob``.
    """
    if executable is None:
        executable = Path(os.environ.get("AZURITE_BLOB_BIN") or AZURITE_BLOB_BIN)
    with _run_service("blob", executable, host, startup_timeout, stop_timeout) as (port, location):
        yield AzuriteBlob(host=host, port=port, location=location)


@contextmanager
def run_azurite_table(
    *,
    executable: Path | None = None,
    host: str = "127.0.0.1",
    startup_timeout: float = 30.0,
    stop_timeout: float = 5.0,
) -> Iterator[AzuriteTable]:
    """Start azurite-table like ``run_azurite`` starts the Blob service.

    ``executable`` defaults to ``$AZURITE_TABLE_BIN``, else ``.tools/node_modules/.bin/azurite-table``.
    """
    if executable is None:
        executable = Path(os.environ.get("AZURITE_TABLE_BIN") or AZURITE_TABLE_BIN)
    with _run_service("table", executable, host, startup_timeout, stop_timeout) as (port, location):
        yield AzuriteTable(host=host, port=port, location=location)


@contextmanager
def _run_service(
    service: str, executable: Path, host: str, startup_timeout: float, stop_timeout: float
) -> Iterator[tuple[int, Path]]:
    """Run one Azurite service executable on a free port of ``host``; yield (port, data folder)."""
    if not os.access(executable, os.X_OK):
        raise AzuriteNotInstalled(f"Azurite is not installed at {executable}: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="azurite-") as tmp:
        location = Path(tmp)
        port = free_port(host)
        log_path = location / "azurite.out"
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - fixed executable and arguments, no shell
                [
                    str(executable),
                    f"--{service}Host",
                    host,
                    f"--{service}Port",
                    str(port),
                    "--location",
                    str(location / "data"),
                    "--silent",
                    "--skipApiVersionCheck",
                    "--disableTelemetry",  # no outbound calls; with telemetry on, SIGTERM leaves node running
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + startup_timeout
            while not _accepts_connections(host, port):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = log_path.read_text(errors="replace").strip()
                    state = f"exited with {process.returncode}" if process.poll() is not None else "timed out"
                    raise AzuriteFailedToStart(
                        f"azurite-{service} on {host}:{port} {state} after start: {output or '(no output)'}"
                    )
                time.sleep(0.05)
            yield port, location
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=stop_timeout)


@pytest.fixture(scope="module")
def azurite() -> Iterator[AzuriteBlob]:
    """A running Azurite Blob service per test module; fails (not skips) when Azurite is not installed."""
    try:
        with run_azurite() as running:
            yield running
    except AzuriteNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def azurite_table() -> Iterator[AzuriteTable]:
    """A running Azurite Table service per test module; fails (not skips) when Azurite is not installed."""
    try:
        with run_azurite_table() as running:
            yield running
    except AzuriteNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
