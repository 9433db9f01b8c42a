"""Attestations per second through the use case, against the simulator (its own process) over TCP.

Reports, for concurrency 1, 8, 32 and 64 with 100 ms injected latency:
  rate, ratio to the ideal (concurrency ÷ latency), client CPU ms per attestation;
and, in the same run, a naive baseline doing what existing tools do: one event at a time, a new
connection per call, agreement metadata fetched for every event.

    .venv/bin/python bench/bench_attestation.py [--latency-ms 100] [--per-level 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from emulators.processes import simulator_app_settings, simulator_process
from shared.attestation.contract import SignedAgreementEvent, parse_event
from shared.attestation.outcomes import Attested
from shared.attestation.ports import AttestationRequest
from shared.bootstrap import open_services
from shared.partner_center.agreement_attestation import agreement_request_for
from shared.partner_center.agreement_request import derive_request_id
from shared.settings import Settings


def make_events(count: int) -> list[SignedAgreementEvent]:
    agreed = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return [
        parse_event(
            {
                "eventId": f"bench-{uuid.uuid4().hex}",
                "customerTenantId": str(uuid.uuid4()),
                "dateAgreed": agreed,
                "primaryContact": {"firstName": "Bench", "lastName": "Mark", "email": "bench@example.com"},
            }
        )
        for _ in range(count)
    ]


async def measure_use_case(settings: Settings, concurrency: int, count: int) -> dict[str, Any]:
    events = make_events(count)
    async with open_services(settings) as services:
        await services.metadata.get("MicrosoftCustomerAgreement")  # warm: steady state, not the first call
        await services.tokens.get_token()
        slots = asyncio.Semaphore(concurrency)

        async def one(event: SignedAgreementEvent) -> bool:
            async with slots:
                return isinstance(await services.attestor.attest(event), Attested)

        cpu, wall = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(one(e) for e in events))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"count": count, "ok": sum(results), "wall": wall, "cpu_ms_per": cpu * 1000 / count}


async def measure_naive_baseline(settings: Settings, count: int) -> dict[str, Any]:
    """Sequential; a new HTTP client (so a new connection) per call; metadata GET per event."""
    events = make_events(count)
    async with httpx.AsyncClient() as auth_client:  # the token, at least, is fetched once (as scripts do)
        token_response = await auth_client.post(
            settings.token_url,
            data={
                "grant_type": "refresh_token",
                "client_id": settings.client_id,
                "client_secret": settings.client_secret,
                "refresh_token": settings.refresh_token,
                "scope": settings.scope,
            },
        )
        token = token_response.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    ok = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for event in events:
        async with httpx.AsyncClient(headers=headers) as client:
            meta = await client.get(
                settings.partner_center_base_url + "/v1/agreements", params={"agreementType": event.agreement_type}
            )
            template_id = meta.json()["items"][0]["templateId"]
        request = agreement_request_for(AttestationRequest(event, template_id, ""))
        async with httpx.AsyncClient(headers=headers) as client:
            response = await client.post(
                f"{settings.partner_center_base_url}/v1/customers/{event.customer_tenant_id}/agreements",
                content=request.canonical_bytes(),
                headers={
                    "Content-Type": "application/json",
                    "MS-RequestId": derive_request_id(event.event_id, request),
                },
            )
        ok += response.status_code == 201
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"count": count, "ok": ok, "wall": wall, "cpu_ms_per": cpu * 1000 / count}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    latency = args.latency_ms / 1000
    report: dict[str, Any] = {"latency_ms": args.latency_ms, "levels": {}}
    with tempfile.TemporaryDirectory() as cache, simulator_process("--latency-ms", str(args.latency_ms)) as sim:
        settings = Settings.from_environment(simulator_app_settings(sim.base_url, sim.token_url, Path(cache)))
        baseline = await measure_naive_baseline(settings, args.baseline_events)
        baseline_rate = baseline["ok"] / baseline["wall"]
        report["baseline"] = {**baseline, "rate": baseline_rate}
        print(
            f"naive baseline: {baseline_rate:7.1f}/s  ({baseline['ok']}/{baseline['count']} ok, "
            f"{baseline['cpu_ms_per']:.2f} ms CPU each)"
        )
        print(f"{'concurrency':>11} {'rate/s':>8} {'ideal/s':>8} {'of ideal':>8} {'× baseline':>10} {'CPU ms/att':>10}")
        for concurrency in args.levels:
            count = max(args.min_events, concurrency * args.per_level)
            result = await measure_use_case(settings, concurrency, count)
            rate = result["ok"] / result["wall"]
            ideal = concurrency / latency
            report["levels"][concurrency] = {**result, "rate": rate, "of_ideal": rate / ideal}
            print(
                f"{concurrency:>11} {rate:8.1f} {ideal:8.1f} {rate / ideal:8.2f} {rate / baseline_rate:10.1f} "
                f"{result['cpu_ms_per']:10.2f}   ({result['ok']}/{count} attested)"
            )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--per-level", type=int, default=10, help="events per unit of concurrency")
    parser.add_argument("--min-events", type=int, default=30)
    parser.add_argument("--baseline-events", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
