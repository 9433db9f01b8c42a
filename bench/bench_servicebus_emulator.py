"""Throughput of the Service Bus emulator: send → receive (PEEK_LOCK) → complete, with the async SDK,
against the pipeline's direct rate measured in the same run.

    .venv/bin/python bench/bench_servicebus_emulator.py [--messages N] [--events N --latency-ms MS]
    .venv/bin/python bench/bench_servicebus_emulator.py --connections N   # how many connections it serves

One process each side: the emulator runs as a subprocess (``python -m emulators.servicebus --port 0``),
so its proton reactor does not share a GIL with the SDK; this process runs one async sender and one
async receiver on one event loop. For each prefetch setting (0 and 50) a producer task sends N
messages in batches of 50 while a consumer task receives and completes them one by one; the figure is N divided by the
time from the first send to the last completion. Each scenario is capped at 20 s (a capped run reports
what it finished), so the whole benchmark stays under a minute. It prints figures; it is not a test.

The yardstick is the pipeline's direct rate (as in ``bench_end_to_end.py``): the attestation use case at
concurrency 32 against the Partner Center simulator (100 ms latency), no queue. The emulator should move
messages at least 5x faster than that, so that a local run measures the app, not the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusError
from bench_attestation import measure_use_case

from emulators.processes import simulator_app_settings, simulator_process
from shared.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
QUEUE = "mca-events"  # from the committed config.json
SCENARIO_CAP_S = 20.0
SEND_BATCH = 50
STARTUP_TIMEOUT_S = 20.0
CONNECTION_OPEN_CONCURRENCY = 100
GOAL_RATIO = 5.0


@dataclass(frozen=True, slots=True)
class Result:
    prefetch: int
    completed: int
    seconds: float
    capped: bool

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


async def run_scenario(connection_string: str, *, prefetch: int, messages: int) -> Result:
    """Send ``messages`` and, concurrently, receive and complete them; time the whole pipeline."""
    completed = 0
    async with ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client:
        sender = client.get_queue_sender(QUEUE)
        receiver = client.get_queue_receiver(QUEUE, prefetch_count=prefetch, max_wait_time=5)
        async with sender, receiver:  # opened before the clock starts: opening costs ~0.5 s each

            async def produce() -> None:
                # In batches, as the publisher sends (one transfer per batch). Distinct ids: mca-events has
                # duplicate detection on.
                for start in range(0, messages, SEND_BATCH):
                    await sender.send_messages(
                        [
                            ServiceBusMessage(b'{"event": "bench"}', message_id=f"{prefetch}-{i}")
                            for i in range(start, min(start + SEND_BATCH, messages))
                        ]
                    )

            async def consume() -> None:
                nonlocal completed
                while completed < messages:
                    batch = await receiver.receive_messages(max_message_count=max(prefetch, 1), max_wait_time=5)
                    for message in batch:
                        await receiver.complete_message(message)
                        completed += 1

            started = time.perf_counter()
            capped = False
            try:
                async with asyncio.timeout(SCENARIO_CAP_S):
                    await asyncio.gather(produce(), consume())
            except TimeoutError:
                capped = True
            elapsed = time.perf_counter() - started
    return Result(prefetch, completed, elapsed, capped)


async def hold_connections(connection_string: str, count: int) -> tuple[int, float]:
    """Open ``count`` clients at once, each with its own connection and a sender that sends one message.

    Returns how many were open and had sent at the same moment, and the seconds it took to get there.
    """
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(CONNECTION_OPEN_CONCURRENCY)
    clients: list[ServiceBusClient] = []

    async def open_one(index: int) -> bool:
        async with semaphore:
            client = ServiceBusClient.from_connection_string(connection_string, retry_total=0)
            clients.append(client)
            try:
                await client.get_queue_sender(QUEUE).send_messages(
                    ServiceBusMessage(b"held", message_id=f"held-{index}")
                )
            except ServiceBusError as exc:
                print(f"connection {index} failed: {exc}", file=sys.stderr)
                return False
            return True

    opened = sum(await asyncio.gather(*(open_one(i) for i in range(count))))
    elapsed = time.perf_counter() - started
    # Closed all at once: each close waits for the peer's close frame (~0.5 s), so one by one takes minutes.
    await asyncio.gather(*(client.close() for client in clients))
    return opened, elapsed


async def measure_direct_rate(events: int, concurrency: int, latency_ms: float) -> float:
    """Attestations per second of the use case called directly (no queue), against the simulator."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-direct-") as cache,
        simulator_process("--latency-ms", str(latency_ms)) as simulator,
    ):
        settings = Settings.from_environment(
            simulator_app_settings(simulator.base_url, simulator.token_url, Path(cache))
        )
        measured = await measure_use_case(settings, concurrency, events)
    return float(measured["ok"] / measured["wall"])


def start_emulator(log_file: Path, *extra_arguments: str) -> tuple[subprocess.Popen[str], str]:
    """Start the emulator subprocess on a free port; return it and its connection string."""
    # The log goes to a file: proton logs "Couldn't send: BrokenPipeError" each time the SDK drops a
    # socket without waiting for the close frame, which is harmless but would clutter the figures.
    command = [sys.executable, "-m", "emulators.servicebus", "--port", "0", "--management-port", "0"]
    command += ["--log-file", str(log_file)]
    command += extra_arguments
    process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter running the emulator package
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("Connection string: "):
            return process, line.removeprefix("Connection string: ").strip()
        if not line and process.poll() is not None:
            break
    process.kill()
    process.wait()
    raise SystemExit(f"the emulator subprocess did not start; see {log_file}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages per scenario (default 2000)")
    parser.add_argument("--events", type=int, default=960, help="events for the direct rate (default 960)")
    parser.add_argument("--concurrency", type=int, default=32, help="direct use-case concurrency (default 32)")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="simulator latency (default 100)")
    parser.add_argument("--connections", type=int, help="instead: hold this many SDK connections open at once")
    arguments = parser.parse_args()
    if arguments.connections:
        measure_connections(arguments.connections)
        return

    direct_rate = asyncio.run(measure_direct_rate(arguments.events, arguments.concurrency, arguments.latency_ms))
    with tempfile.TemporaryDirectory(prefix="bench-servicebus-") as scratch:
        process, connection_string = start_emulator(Path(scratch) / "emulator.log")
        try:
            results = [
                asyncio.run(run_scenario(connection_string, prefetch=prefetch, messages=arguments.messages))
                for prefetch in (0, 50)
            ]
        finally:
            process.terminate()
            process.wait(timeout=15)

    print("Service Bus emulator: send -> receive (PEEK_LOCK) -> complete, async SDK 7.15")
    print("emulator in a subprocess; one async sender + one async receiver in this process")
    print(
        f"direct use case (concurrency {arguments.concurrency}, simulator {arguments.latency_ms:g} ms): "
        f"{direct_rate:.1f} attestations/s"
    )
    print(f"{'prefetch':>8}  {'messages':>8}  {'seconds':>8}  {'msg/s':>8}  {'x direct':>8}")
    for result in results:
        note = f"  (capped at {SCENARIO_CAP_S:.0f} s)" if result.capped else ""
        ratio = result.per_second / direct_rate if direct_rate else float("nan")
        print(
            f"{result.prefetch:>8}  {result.completed:>8}  {result.seconds:>8.2f}  {result.per_second:>8.1f}"
            f"  {ratio:>7.1f}x{note}  (goal >= {GOAL_RATIO:g}x)"
        )


def measure_connections(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-servicebus-") as scratch:
        process, connection_string = start_emulator(Path(scratch) / "emulator.log", "--max-connections", str(count))
        try:
            opened, seconds = asyncio.run(hold_connections(connection_string, count))
        finally:
            process.terminate()
            process.wait(timeout=60)
    print(f"held {opened} of {count} SDK connections open at once (each sent a message) in {seconds:.1f} s")


if __name__ == "__main__":
    main()
