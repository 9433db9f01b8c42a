"""End to end: events per second through Service Bus emulator → worker → Partner Center simulator, with the
attestation ledger on Azurite's Table service and the pre-check on (the production configuration).

The simulator (100 ms latency), the emulator and Azurite each run in their own process; the worker runs here at
concurrency 32 against a pre-filled queue. Beside it, in the same run, at the same concurrency and without a queue:

- the direct use-case rate with the same ledger and pre-check — the ceiling the pipeline is compared to
  (goal: ≥ 0.8 of it);
- the bare direct rate (no ledger, no pre-check: one POST per event), to show what the ledger and the pre-check
  cost on their own;

and the Partner Center calls per event beyond the POST (the pre-check's reads: direct-signed status, then the
customer's agreements), counted by the simulator during the pipeline run.

    .venv/bin/python bench/bench_end_to_end.py [--events 960] [--latency-ms 100] [--ledger azurite|sqlite]
                                                [--no-precheck]

``--ledger sqlite`` and ``--no-precheck`` split the cost between the two. Needs Azurite
(``make .tools/node_modules/.bin/azurite``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from bench_attestation import make_events, measure_use_case

from emulators.azurite import run_azurite_table
from emulators.processes import LocalSimulator, servicebus_emulator_process, simulator_app_settings, simulator_process
from shared.attestation.contract import SignedAgreementEvent
from shared.attestation.outcomes import Attested
from shared.attestation.use_case import Attestor
from shared.bootstrap import open_services
from shared.partner_center.agreement_attestation import AgreementPostAttestation
from shared.servicebus.publishing import send_in_batches
from shared.servicebus.worker import Worker
from shared.settings import Settings

QUEUE = "mca-events"
POST_ROUTE = "POST /v1/customers/{customer_id}/agreements"


def calls_beyond_the_post(before: dict[str, Any], after: dict[str, Any]) -> int:
    """Customer-scoped Partner Center requests other than the POST between two simulator stats (the metadata
    GET and tokens are per process, not per event)."""

    def count(stats: dict[str, Any]) -> int:
        return sum(
            n
            for route, by_status in stats["requests"].items()
            if "/v1/customers/" in route and route != POST_ROUTE
            for n in by_status.values()
        )

    return count(after) - count(before)


async def measure_bare_use_case(settings: Settings, concurrency: int, count: int) -> float:
    """Attestations per second through the use case with no ledger and no pre-check: one POST per event."""
    events = make_events(count)
    async with open_services(settings) as services:
        attestor = Attestor(AgreementPostAttestation(services.partner_center), services.metadata)
        await services.metadata.get("MicrosoftCustomerAgreement")
        await services.tokens.get_token()
        slots = asyncio.Semaphore(concurrency)

        async def one(event: SignedAgreementEvent) -> bool:
            async with slots:
                return isinstance(await attestor.attest(event), Attested)

        wall = time.perf_counter()
        ok = sum(await asyncio.gather(*(one(e) for e in events)))
        return ok / (time.perf_counter() - wall)


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
    # A customer without agreements answers the pre-check's read with 404 (600009), which the client logs as a
    # warning: one line per event here, so only errors are shown.
    logging.getLogger("shared.partner_center").setLevel(logging.ERROR)
    with (
        tempfile.TemporaryDirectory() as cache,
        simulator_process("--latency-ms", str(args.latency_ms)) as simulator,
        servicebus_emulator_process() as connection_string,
        run_azurite_table() as tables,
    ):
        environment = simulator_app_settings(simulator.base_url, simulator.token_url, Path(cache))
        environment["ATTEST_PRECHECK"] = "true" if args.precheck else "false"
        if args.ledger == "azurite":
            environment.update({"LEDGER_CONNECTION_STRING": tables.connection_string, "LEDGER_TABLE": "benchledger"})
        settings = Settings.from_environment(environment)
        bare_rate = await measure_bare_use_case(settings, args.concurrency, args.events)
        direct = await measure_use_case(settings, args.concurrency, args.events)
        direct_rate = direct["ok"] / direct["wall"]
        await fill_queue(connection_string, args.events)
        before = simulator.stats()
        elapsed, steady = await run_pipeline(settings, connection_string, simulator, args.events, args.concurrency)
        extra_calls = calls_beyond_the_post(before, simulator.stats()) / args.events
        where = "Azurite's Table service" if args.ledger == "azurite" else "SQLite"
        print(
            f"ledger on {where}, pre-check {'on' if args.precheck else 'off'}; "
            f"{args.events} events, {args.latency_ms:.0f} ms latency"
        )
        print(f"direct use case, bare (no ledger, no pre-check), concurrency {args.concurrency}: {bare_rate:7.1f} /s")
        print(
            f"direct use case, same ledger and pre-check, concurrency {args.concurrency}: {direct_rate:7.1f} /s "
            f"= {direct_rate / bare_rate:.2f} of bare, {direct['cpu_ms_per']:.1f} ms of this process's CPU per event"
        )
        for label, seconds in (("steady state", steady), ("incl. opening handlers", elapsed)):
            rate = args.events / seconds
            print(
                f"emulator → worker → simulator, {label:>22}: {rate:7.1f} events/s "
                f"= {rate / direct_rate:.2f} of direct (goal ≥ 0.8), {rate / bare_rate:.2f} of bare"
            )
        print(f"Partner Center calls per event beyond the POST (the pre-check's reads): {extra_calls:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=960)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--ledger", choices=("azurite", "sqlite"), default="azurite")
    parser.add_argument("--no-precheck", dest="precheck", action="store_false")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
