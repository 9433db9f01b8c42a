"""``make run``: the whole job on local stand-ins, no Azure account.

Starts the Partner Center simulator as its own process (with a little throttling, so retries show),
points the ``mca-attest`` command at it through the same app settings production uses, attests the
example events, prints the report, and stops everything it started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
REPORTS = REPO / "reports"
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True, slots=True)
class LocalSimulator:
    base_url: str
    token_url: str

    def stats(self) -> dict[str, Any]:
        """The simulator's counters, from its control API."""
        with urllib.request.urlopen(self.base_url + "/_simulator/stats", timeout=10) as response:  # noqa: S310 — loopback
            return dict(json.loads(response.read()))

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


def run_command(args: list[str], env: Mapping[str, str]) -> int:
    """Run ``mca-attest ARGS`` as a user would, sharing this terminal."""
    print(f"\n$ mca-attest {' '.join(args)}", flush=True)
    # Retries and faults are logged in full to reports/demo.log.jsonl; the console shows errors only.
    logging = ["--log-level", "ERROR", "--log-file", str(REPORTS / "demo.log.jsonl")]
    return subprocess.call([sys.executable, "-m", "shared.cli.main", *logging, *args], cwd=REPO, env=dict(env))  # noqa: S603


def main() -> int:
    REPORTS.mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="mca-cache-") as cache_dir,
        simulator_process(
            "--throttle-rate", "0.15", "--retry-after", "1", "--latency-ms", "20", "--seed", "7"
        ) as simulator,
    ):
        print(f"Partner Center simulator on {simulator.base_url} (15% of calls throttled with Retry-After: 1)")
        env = {**os.environ, **simulator.app_settings(Path(cache_dir))}
        report = REPORTS / "demo-report.json"
        code = run_command(
            ["attest", str(EXAMPLES / "events.jsonl"), "--report", str(report), "--retry-base-seconds", "1"], env
        )
        # The examples hold deliberate mistakes, so exit 1 ("some events failed") is the expected answer.
        print(f"\nmca-attest exited {code} (1 = some events failed, as the examples intend); report: {report}")
        first_count = simulator.stats()["attestations"]
        print("\nThe same file again: every request carries the same MS-RequestId as before (derived from the")
        print("event id and body), so nothing is attested twice.")
        again = run_command(["attest", str(EXAMPLES / "events.jsonl"), "--retry-base-seconds", "1"], env)
        stats = simulator.stats()
        print(
            f"\nPartner Center holds {stats['attestations']} attestations after two runs "
            f"({first_count} after the first; {stats['replays']} requests answered from MS-RequestId replay)."
        )
        return 0 if code in (0, 1) and again in (0, 1) and stats["attestations"] == first_count else 1


if __name__ == "__main__":
    sys.exit(main())
