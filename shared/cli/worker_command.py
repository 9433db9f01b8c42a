"""``mca-attest worker``: consume the events queue until SIGINT or SIGTERM, then stop cleanly (exit 0)."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from shared.cli.options import EXIT_USAGE, queue_option
from shared.settings import MissingSettingError, Settings


@click.command("worker")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 512))
@queue_option("Queue to consume")
@click.option("--grace-seconds", default=30.0, show_default=True, help="How long in-flight messages may finish.")
def worker(concurrency: int, queue: str, grace_seconds: float) -> None:
    """Attest events from the Service Bus queue (peek-lock, lock renewal, bounded concurrency)."""
    try:
        settings = Settings.from_environment()
    except MissingSettingError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    asyncio.run(_run(settings, concurrency, queue, grace_seconds))


async def _run(settings: Settings, concurrency: int, queue: str, grace_seconds: float) -> None:
    from shared.bootstrap import open_services
    from shared.servicebus.connection import open_client_from_environment
    from shared.servicebus.worker import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with open_services(settings) as services, open_client_from_environment() as client:
        stats = await Worker(services, client, queue, concurrency=concurrency, grace_seconds=grace_seconds).run(stop)
    click.echo(
        f"worker stopped: received {stats.received}, settled {stats.settled}, unsettled {stats.failed}", err=True
    )
