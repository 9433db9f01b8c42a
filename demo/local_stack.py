"""``make run``: the whole job on local stand-ins, no Azure account.

Starts the Partner Center simulator as its own process (with a little throttling, so retries show),
points the ``mca-attest`` command at it through the same app settings production uses, attests the
example events, prints the report, and stops everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from emulators.processes import LocalSimulator, servicebus_emulator_process, simulator_process

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
REPORTS = REPO / "reports"


def run_command(args: list[str], env: Mapping[str, str]) -> int:
    """Run ``mca-attest ARGS`` as a user would, sharing this terminal."""
    print(f"\n$ mca-attest {' '.join(args)}", flush=True)
    # Retries and faults are logged in full to reports/demo.log.jsonl; the console shows errors only.
    logging = ["--log-level", "ERROR", "--log-file", str(REPORTS / "demo.log.jsonl")]
    return subprocess.call([sys.executable, "-m", "shared.cli.main", *logging, *args], cwd=REPO, env=dict(env))  # noqa: S603


QUEUE = "mca-events"
BURST_EVENTS = 120
FIXED_CUSTOMER = "5b2e9d41-7c3a-4f8e-a1d6-0e4b7c9f2a13"  # the right tenant id for crm-2026-0007


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def write_burst(path: Path, count: int) -> None:
    """A burst of valid events, enough for the simulator's rate limit to throttle."""
    agreed = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            event = {
                "eventId": f"burst-{i:04d}",
                "customerTenantId": str(uuid.UUID(int=0x5EED0000_0000_4000_8000_000000000000 + i)),
                "dateAgreed": agreed,
                "primaryContact": {"firstName": "Burst", "lastName": f"Customer {i}", "email": f"it{i}@example.com"},
            }
            out.write(json.dumps(event) + "\n")


def queue_is_empty(connection_string: str) -> bool:
    """Nothing active, locked or scheduled on the events queue (peek sees all of them)."""
    from azure.servicebus import ServiceBusClient

    with ServiceBusClient.from_connection_string(connection_string) as client, client.get_queue_receiver(QUEUE) as r:
        return not r.peek_messages(max_message_count=1)


def wait_until_settled(connection_string: str, simulator: LocalSimulator, limit_seconds: float) -> None:
    deadline = time.monotonic() + limit_seconds
    time.sleep(2)  # the worker needs a moment to open its handlers
    while time.monotonic() < deadline:
        stats = simulator.stats()
        throttled = sum(v for route in stats["requests"].values() for k, v in route.items() if k == "429")
        print(f"  attested so far: {stats['attestations']:4d}   throttled answers (429): {throttled}", flush=True)
        if queue_is_empty(connection_string):
            return
        time.sleep(2)
    raise RuntimeError(f"the queue did not drain within {limit_seconds:.0f} s")


def tally(log: Path) -> Counter[str]:
    """The last outcome of each event, from the worker's JSON log."""
    last: dict[str, str] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "attestation.outcome" and record.get("event_id") and "settlement" in record:
            settled = record["settlement"]
            if settled != "schedule_retry":
                last[record["event_id"]] = (
                    f"dead_letter:{record['reason']}" if settled == "dead_letter" else record["outcome"]
                )
    return Counter(last.values())


def print_tally(log: Path, simulator: LocalSimulator) -> None:
    counts = tally(log)
    for outcome, count in sorted(counts.items()):
        print(f"  {outcome:32} {count}")
    print(f"  Partner Center now holds {simulator.stats()['attestations']} attestations")


def main() -> int:
    REPORTS.mkdir(exist_ok=True)
    worker_log = REPORTS / "worker.log.jsonl"
    worker_log.unlink(missing_ok=True)
    burst = REPORTS / "burst.jsonl"
    write_burst(burst, BURST_EVENTS)
    with (
        tempfile.TemporaryDirectory(prefix="mca-cache-") as cache_dir,
        simulator_process(
            "--rate-limit", "25", "--burst", "10", "--retry-after", "1", "--latency-ms", "30"
        ) as simulator,
        servicebus_emulator_process() as connection_string,
    ):
        print(f"Partner Center simulator on {simulator.base_url} (rate limit: 25 requests/s per partner)")
        print("Service Bus emulator on", connection_string.split(";")[0])
        env = {
            **os.environ,
            **simulator.app_settings(Path(cache_dir)),
            "ServiceBusConnection": connection_string,
            "SERVICEBUS_QUEUE_NAME": QUEUE,
            "ATTEST_RETRY_BASE_SECONDS": "1",
            "ATTEST_RETRY_MAX_SECONDS": "5",
        }

        step("1. The CRM publishes the example events (three are invalid and refused) and a burst of 120")
        run_command(["publish", str(EXAMPLES / "events.jsonl")], env)
        run_command(["publish", str(burst)], env)

        step("2. The worker attests them; Partner Center throttles the burst")
        with worker_log.open("ab") as sink:
            worker = subprocess.Popen(
                [sys.executable, "-m", "shared.cli.main", "--log-level", "INFO", "worker", "--concurrency", "16"],
                cwd=REPO,
                env=env,
                stdout=sink,
                stderr=sink,
            )
        try:
            wait_until_settled(connection_string, simulator, limit_seconds=90)

            step("3. Outcome, and the dead letters an operator would look at")
            print_tally(worker_log, simulator)
            run_command(["dlq", "list"], env)

            step("4. The CRM had the wrong tenant id for crm-2026-0007: fix it and replay that dead letter")
            run_command(
                [
                    "dlq",
                    "replay",
                    "--event-id",
                    "crm-2026-0007",
                    "--set",
                    f"customerTenantId={FIXED_CUSTOMER}",
                    "--max-wait",
                    "1",
                ],
                env,
            )
            wait_until_settled(connection_string, simulator, limit_seconds=60)

            step("5. Final tally (NoRelationship needs a reseller relationship first, so it stays dead-lettered)")
            print_tally(worker_log, simulator)
            run_command(["dlq", "list"], env)
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
        print(f"\nworker stopped (exit {code}); logs: {worker_log}")
        return code


if __name__ == "__main__":
    sys.exit(main())
