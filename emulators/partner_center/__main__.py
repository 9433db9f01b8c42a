"""``python -m emulators.partner_center`` / ``partner-center-simulator``: serve until SIGINT or SIGTERM.

Prints the base URL and the token URL on start, one per line, so scripts can read them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from emulators.partner_center.conventions import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TENANT_ID,
)
from emulators.partner_center.customers import UnknownCustomerResponse
from emulators.partner_center.faults import FaultConfig
from emulators.partner_center.server import running_simulator
from emulators.partner_center.state import SimulatorConfig, SimulatorState

DEFAULT_PORT = 8765


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="partner-center-simulator",
        description="A local Partner Center and Entra token endpoint for tests, benchmarks and demos.",
        epilog=(
            f"Credentials: client id {DEFAULT_CLIENT_ID}, secret {DEFAULT_CLIENT_SECRET!r}, "
            f"refresh token {DEFAULT_REFRESH_TOKEN!r}; any tenant (e.g. {DEFAULT_TENANT_ID})."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every /v1 call")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="uniform extra latency, 0..N ms")
    parser.add_argument("--spike-rate", type=float, default=0.0, help="share of calls with a latency spike")
    parser.add_argument("--spike-ms", type=float, default=0.0, help="size of a latency spike")
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=None,
        help="total share of transient faults, split evenly between 429, 5xx and dropped connections",
    )
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="share of calls answered 429")
    parser.add_argument("--server-error-rate", type=float, default=0.0, help="share of calls answered 5xx")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped unanswered")
    parser.add_argument("--lost-response-rate", type=float, default=0.0, help="share of POSTs processed, then dropped")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds of injected 429s")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second per partner")
    parser.add_argument("--burst", type=int, default=None, help="bucket size of the per-partner rate limit")
    parser.add_argument(
        "--faults-on-token-endpoint", action="store_true", help="apply latency and faults to the token endpoint"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault RNG")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, help="access-token lifetime, seconds")
    parser.add_argument(
        "--unknown-customer-response",
        choices=[str(v) for v in UnknownCustomerResponse],
        default=str(UnknownCustomerResponse.TENANT_NOT_FOUND_60003),
        help="what an unknown customer gets",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request line")
    return parser.parse_args(argv)


def build_state(args: argparse.Namespace) -> SimulatorState:
    throttle, server_error, drop = args.throttle_rate, args.server_error_rate, args.drop_rate
    if args.fault_rate is not None:
        throttle = server_error = drop = args.fault_rate / 3
    faults = FaultConfig(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        spike_rate=args.spike_rate,
        spike_ms=args.spike_ms,
        throttle_rate=throttle,
        server_error_rate=server_error,
        drop_rate=drop,
        lost_response_rate=args.lost_response_rate,
        retry_after_seconds=args.retry_after,
        partner_rate_limit=args.rate_limit,
        partner_burst=args.burst,
        apply_to_token_endpoint=args.faults_on_token_endpoint,
        seed=args.seed,
    )
    config = SimulatorConfig(
        token_lifetime_seconds=args.token_lifetime,
        unknown_customer_response=UnknownCustomerResponse(args.unknown_customer_response),
    )
    return SimulatorState(config, faults)


async def serve(args: argparse.Namespace) -> None:
    state = build_state(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_simulator(state, host=args.host, port=args.port, access_log=args.access_log) as sim:
        print(f"Partner Center simulator listening on {sim.base_url}", flush=True)
        print(f"token endpoint: {sim.token_url()}", flush=True)
        print(f"control API: {sim.control_url}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(serve(args))
    except (OSError, ValueError) as exc:
        print(f"partner-center-simulator: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
