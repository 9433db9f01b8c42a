"""The local stand-ins as child processes, and the app settings that point the code at them.

``make run``, the benchmarks and some tests start the Partner Center simulator and the Service Bus emulator
as processes of their own (as the real services are), wait for the address each prints, and stop them
on exit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True, slots=True)
class LocalSimulator:
    base_url: str
    token_url: str

    def stats(self) -> dict[str, Any]:
        """The simulator's counters, from its control API."""
        with urllib.request.urlopen(self.base_url + "/_simulator/stats", timeout=10) as response:  # noqa: S310 — loopback
            return dict(json.loads(response.read()))

    def set_direct_signed(self, customer_id: str, signed: bool = True) -> None:
        """Mark a customer as having accepted the MCA in the Microsoft 365 admin center (the control API)."""
        request = urllib.request.Request(  # noqa: S310 — loopback
            f"{self.base_url}/_simulator/customers/{customer_id}/direct-signed",
            data=json.dumps({"isSigned": signed}).encode(),
            headers={"Content-Type": "application/json"},
            method="PUT",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 — loopback
            pass

    def accept_enhanced(self, attestation_id: str) -> dict[str, Any]:
        """The customer accepts an enhanced attestation on Microsoft's page, played by the simulator's control API
        (the tool itself never accepts for a customer). Returns the attestation as the control API shows it."""
        request = urllib.request.Request(  # noqa: S310 — loopback
            f"{self.base_url}/_simulator/enhanced/{attestation_id}/accept", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 — loopback
            return dict(json.loads(response.read()))

    def enhanced_attestations(self) -> list[dict[str, Any]]:
        """Every enhanced attestation the simulator holds (the control API), with ``agreementCreated``."""
        with urllib.request.urlopen(self.base_url + "/_simulator/enhanced", timeout=10) as response:  # noqa: S310 — loopback
            return list(json.loads(response.read())["items"])

    def app_settings(self, cache_dir: Path) -> dict[str, str]:
        return simulator_app_settings(self.base_url, self.token_url, cache_dir)


def simulator_app_settings(base_url: str, token_url: str, cache_dir: Path) -> dict[str, str]:
    """The app settings that point the code at a local simulator (the same names as in Azure)."""
    from emulators.partner_center.conventions import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_REFRESH_TOKEN,
        DEFAULT_TENANT_ID,
    )

    return {
        "PARTNER_CENTER_BASE_URL": base_url,
        "PARTNER_CENTER_TOKEN_URL": token_url,
        "PARTNER_TENANT_ID": DEFAULT_TENANT_ID,
        "PARTNER_CENTER_CLIENT_ID": DEFAULT_CLIENT_ID,
        "PARTNER_CENTER_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "PARTNER_CENTER_REFRESH_TOKEN": DEFAULT_REFRESH_TOKEN,
        "PARTNER_CENTER_AUTH_MODE": "app_user",
        "METADATA_CACHE_DIR": str(cache_dir),
        "LEDGER_PATH": str(cache_dir / "ledger.sqlite3"),
        "LEDGER_ACCOUNT_URL": "",
        "METADATA_CACHE_ACCOUNT_URL": "",
        "KEY_VAULT_URL": "",
    }


@contextmanager
def simulator_process(*extra_args: str) -> Iterator[LocalSimulator]:
    """Run ``python -m emulators.partner_center`` on a free port until the block ends."""
    command = [sys.executable, "-m", "emulators.partner_center", "--port", "0", *extra_args]
    process = subprocess.Popen(  # noqa: S603 — our own module, fixed arguments
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        lines = [_read_line(process) for _ in range(2)]
        base_url = lines[0].rsplit(" ", 1)[-1]
        token_url = lines[1].rsplit(" ", 1)[-1]
        yield LocalSimulator(base_url, token_url)
    finally:
        _stop(process)


@contextmanager
def servicebus_emulator_process(config: Path | None = None) -> Iterator[str]:
    """Run ``python -m emulators.servicebus`` on a free port until the block ends; yields its connection string."""
    command = [sys.executable, "-m", "emulators.servicebus", "--port", "0"]
    if config is not None:
        command += ["--config", str(config)]
    process = subprocess.Popen(  # noqa: S603 — our own module, fixed arguments
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        _read_line(process)  # "listening on …"
        yield _read_line(process).split("Connection string: ", 1)[1]
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _read_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(
            f"the simulator exited before it was ready (exit code {process.wait(START_TIMEOUT_SECONDS)})"
        )
    return line.strip()
