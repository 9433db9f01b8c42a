"""The enhanced attestation's steps per second, against the simulator (its own process) over TCP, with the
legacy POST measured in the same run as the baseline.

Each v2 request costs Partner Center more calls than a v1 event (create, one status read per check, the
agreement POST; the pre-check's two reads when it is on), and Partner Center's per-partner throttle counts
calls, not events: so the figure that matters is Partner Center calls per second, which should match the
legacy flow's, and events per second, which the extra calls divide. Steps (concurrency ``--concurrency``,
``--latency-ms`` injected by the simulator on every call):

  v1 attest           one POST per event (the baseline)
  v2 start            create the attestation, record, notify (in memory), schedule the first check
  v2 check, pending   one status read, record, schedule the next check
  v2 finish           one status read (accepted), the agreement POST, record, notify

    .venv/bin/python bench/bench_enhanced.py [--events 200] [--concurrency 32] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from emulators.processes import simulator_app_settings, simulator_process
from shared.attestation.flow_state import Delivery
from shared.attestation.notifications import FlowNotification
from shared.attestation.outcomes import Attested, AwaitingAcceptance, Outcome
from shared.bootstrap import Services, open_services
from shared.settings import Settings

CHECK_NOW = Delivery(check_now=True)


class CountingNotifier:
    """The notifications queue left out (its cost is the emulator's, measured in bench_servicebus_emulator)."""

    def __init__(self) -> None:
        self.sent = 0

    async def notify(self, notification: FlowNotification) -> None:
        self.sent += 1


def v1_body(event_id: str, customer: str) -> bytes:
    agreed = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    contact = {"firstName": "Bench", "lastName": "Mark", "email": "bench@example.com"}
    doc = {"eventId": event_id, "customerTenantId": customer, "dateAgreed": agreed, "primaryContact": contact}
    return json.dumps(doc).encode()


def v2_body(event_id: str, customer: str) -> bytes:
    signatory = {"firstName": "Bench", "lastName": "Mark", "email": "bench@example.com"}
    doc = {
        "contractVersion": 2,
        "eventId": event_id,
        "customerTenantId": customer,
        "country": "DE",
        "language": "de-DE",
        "companyName": "Bench GmbH",
        "signatory": signatory,
    }
    return json.dumps(doc).encode()


async def timed(
    bodies: list[bytes], concurrency: int, step: Callable[[bytes], Awaitable[Outcome]], wanted: type
) -> dict[str, Any]:
    slots = asyncio.Semaphore(concurrency)

    async def one(body: bytes) -> bool:
        async with slots:
            return isinstance(await step(body), wanted)

    wall = time.perf_counter()
    results = await asyncio.gather(*(one(body) for body in bodies))
    wall = time.perf_counter() - wall
    return {"ok": sum(results), "count": len(bodies), "wall": wall, "rate": sum(results) / wall}


async def accept_all(base_url: str, attestation_ids: list[str]) -> None:
    """The simulator's control API stands in for the customers (never the tool)."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        for attestation_id in attestation_ids:
            (await client.post(f"/_simulator/enhanced/{attestation_id}/accept")).raise_for_status()


async def measure(services: Services, base_url: str, events: int, concurrency: int) -> dict[str, Any]:
    router = services.router
    await services.metadata.get("MicrosoftCustomerAgreement")
    # Warm the adaptive limiter (it starts low and ramps up): every step below then runs at its steady state.
    warm = [str(uuid.uuid4()) for _ in range(events)]
    await timed([v1_body(f"w-{c}", c) for c in warm], concurrency, router.attest_body, Attested)
    customers = [str(uuid.uuid4()) for _ in range(events)]
    report: dict[str, Any] = {}
    report["v1 attest"] = await timed(
        [v1_body(f"b1-{c}", c) for c in customers], concurrency, router.attest_body, Attested
    ) | {"calls_per_event": 1}
    v2 = [v2_body(f"b2-{c}", c) for c in (str(uuid.uuid4()) for _ in range(events))]  # not attested by v1
    ids: list[str] = []

    async def start(body: bytes) -> Outcome:
        outcome = await router.attest_body(body)
        if isinstance(outcome, AwaitingAcceptance):
            ids.append(outcome.attestation_id)
        return outcome

    report["v2 start"] = await timed(v2, concurrency, start, AwaitingAcceptance) | {"calls_per_event": 1}

    async def check(body: bytes) -> Outcome:
        return await router.attest_body(body, CHECK_NOW)

    report["v2 check, pending"] = await timed(v2, concurrency, check, AwaitingAcceptance) | {"calls_per_event": 1}
    await accept_all(base_url, ids)
    report["v2 finish"] = await timed(v2, concurrency, check, Attested) | {"calls_per_event": 2}
    return report


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cache, simulator_process("--latency-ms", str(args.latency_ms)) as sim:
        env = simulator_app_settings(sim.base_url, sim.token_url, Path(cache))
        env["ATTEST_PRECHECK"] = "false"  # the pre-check's reads are the same for both flows: leave them out
        settings = Settings.from_environment(env)
        async with open_services(settings, notifier=CountingNotifier()) as services:
            report = await measure(services, sim.base_url, args.events, args.concurrency)
    baseline = report["v1 attest"]
    ideal = args.concurrency / (args.latency_ms / 1000)
    print(f"{args.events} events per step, concurrency {args.concurrency}, {args.latency_ms:g} ms per call")
    print(f"{'step':<18} {'events/s':>9} {'calls/s':>8} {'× v1 calls/s':>12} {'of ideal':>8}  ok")
    for name, row in report.items():
        calls = row["rate"] * row["calls_per_event"]
        row["calls_rate"] = calls
        row["calls_vs_v1"] = calls / baseline["rate"]
        print(
            f"{name:<18} {row['rate']:9.1f} {calls:8.1f} {row['calls_vs_v1']:12.2f} {calls / ideal:8.2f}"
            f"  {row['ok']}/{row['count']}"
        )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
