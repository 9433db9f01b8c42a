"""End to end: events per second through Service Bus emulator → worker → Partner Center simulator.

The simulator (100 ms latency) and the emulator each run in their own process; the worker runs here at
concurrency 32 against a pre-filled queue. Beside it, in the same run, the direct use-case rate at the same
concurrency (no queue) — the ceiling the pipeline is compared to. Goal: ≥ 0.8 of it.

    .venv/bin/python bench/bench_end_to_end.py [--events 960] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from bench_attestation import measure_use_case

from emulators.processes import LocalSimulator, servicebus_emulator_process, simulator_app_settings, simulator_process
from shared.bootstrap import open_services
from shared.servicebus.publishing import send_in_batches
from shared.servicebus.worker import Worker
from shared.settings import Settings

QUEUE = "mca-events"


async def fill_queue(connection_string: str, count: int) -> None:
    agreed = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        bodies = [
            {
                "eventId": f"e2e-{uuid.uuid4().hex}",
                "customerTenantId": str(uuid.uuid4()),
                "dateAgreed": agreed,
                "primaryContact": {"firstName": "End", "lastName": f"ToEnd{i}", "email": f"e{i}@example.com"},
            }
            for i in range(count)
        ]
        await send_in_batches(
            sender, (ServiceBusMessage(json.dumps(b), message_id=b["eventId"]) for b in bodies), batch_size=500
        )


async def run_pipeline(
    settings: Settings, connection_string: str, simulator: LocalSimulator, count: int, concurrency: int
) -> tuple[float, float]:
    """(seconds from starting the worker, seconds from its first attestation) until the simulator holds
    ``count`` new attestations. The second leaves out opening the SDK handlers (~1 s, once per process)."""
    before = simulator.stats()["attestations"]
    os.environ["ServiceBusConnection"] = connection_string  # noqa: SIM112 — the Functions binding's setting name
    async with (
        open_services(settings) as services,
        ServiceBusClient.from_connection_string(connection_string) as client,
    ):
        await services.metadata.get("MicrosoftCustomerAgreement")
        await services.tokens.get_token()
        stop = asyncio.Event()
        worker = Worker(services, client, QUEUE, concurrency=concurrency, grace_seconds=5)
        started = time.perf_counter()
        running = asyncio.create_task(worker.run(stop))
        first_seen: tuple[float, int] | None = None
        while (done := simulator.stats()["attestations"] - before) < count:
            if first_seen is None and done > 0:
                first_seen = (time.perf_counter(), done)
            await asyncio.sleep(0.02)
        finished = time.perf_counter()
        stop.set()
        await running
    assert first_seen is not None
    steady = (finished - first_seen[0]) * count / (count - first_seen[1])
    return finished - started, steady


async def main_async(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as cache,
        simulator_process("--latency-ms", str(args.latency_ms)) as simulator,
        servicebus_emulator_process() as connection_string,
    ):
        settings = Settings.from_environment(
            simulator_app_settings(simulator.base_url, simulator.token_url, Path(cache))
        )
        direct = await measure_use_case(settings, args.concurrency, args.events)
        direct_rate = direct["ok"] / direct["wall"]
        await fill_queue(connection_string, args.events)
        elapsed, steady = await run_pipeline(settings, connection_string, simulator, args.events, args.concurrency)
        print(f"direct use case, concurrency {args.concurrency}: {direct_rate:7.1f} attestations/s")
        for label, seconds in (("steady state", steady), ("incl. opening handlers", elapsed)):
            rate = args.events / seconds
            print(
                f"emulator → worker → simulator, {label:>22}: {rate:7.1f} events/s "
                f"= {rate / direct_rate:.2f} of direct (goal ≥ 0.8)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=960)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
