"""Dead-letter replay throughput: ``mca-attest dlq replay`` over 1,000 dead letters.

The Service Bus emulator runs in its own process. The DLQ is filled with 1,000 messages, then replayed
by the real command (a child process, as an operator runs it; process start-up included). Beside it, in
the same run, a naive baseline does what portal-style tools do: one message at a time — receive one,
send a copy, complete the original.

    .venv/bin/python bench/bench_dlq_replay.py [--messages 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient

from emulators.processes import servicebus_emulator_process
from shared.servicebus.publishing import send_in_batches

QUEUE = "mca-events"
REPO = Path(__file__).resolve().parent.parent


async def fill_dead_letters(connection_string: str, count: int) -> None:
    async with ServiceBusClient.from_connection_string(connection_string) as client:
        async with client.get_queue_sender(QUEUE) as sender:
            bodies = [
                {"eventId": f"dlq-{uuid.uuid4().hex}", "customerTenantId": str(uuid.uuid4())} for _ in range(count)
            ]
            await send_in_batches(
                sender, (ServiceBusMessage(json.dumps(b), message_id=b["eventId"]) for b in bodies), batch_size=500
            )
        async with client.get_queue_receiver(QUEUE, prefetch_count=100) as receiver:
            moved = 0
            while moved < count:
                for message in await receiver.receive_messages(max_message_count=100, max_wait_time=5):
                    await receiver.dead_letter_message(message, reason="UnknownCustomer", error_description="bench")
                    moved += 1


async def drain_queue(connection_string: str) -> int:
    drained = 0
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_receiver(QUEUE, receive_mode="receiveanddelete", prefetch_count=200) as receiver,
    ):
        while batch := await receiver.receive_messages(max_message_count=200, max_wait_time=1):
            drained += len(batch)
    return drained


async def naive_replay(connection_string: str, count: int) -> float:
    started = time.perf_counter()
    async with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_receiver(QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver,
        client.get_queue_sender(QUEUE) as sender,
    ):
        for _ in range(count):
            (message,) = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
            copy = ServiceBusMessage(b"".join(message.body), message_id=f"{message.message_id}/naive")
            await sender.send_messages(copy)
            await receiver.complete_message(message)
    return time.perf_counter() - started


def command_replay(connection_string: str) -> float:
    env = {**os.environ, "ServiceBusConnection": connection_string, "SERVICEBUS_QUEUE_NAME": QUEUE}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "dlq", "replay", "--max-wait", "1"],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--baseline-messages", type=int, default=200)
    args = parser.parse_args()
    with servicebus_emulator_process() as connection_string:
        asyncio.run(fill_dead_letters(connection_string, args.baseline_messages))
        naive = asyncio.run(naive_replay(connection_string, args.baseline_messages))
        asyncio.run(drain_queue(connection_string))
        asyncio.run(fill_dead_letters(connection_string, args.messages))
        seconds = command_replay(connection_string)
        replayed = asyncio.run(drain_queue(connection_string))
    naive_rate = args.baseline_messages / naive
    rate = replayed / seconds
    print(f"naive one-at-a-time replay: {naive_rate:7.1f} messages/s ({args.baseline_messages} messages)")
    print(
        f"mca-attest dlq replay:      {rate:7.1f} messages/s ({replayed} of {args.messages} replayed in {seconds:.1f} s, "
        f"process start included) = {rate / naive_rate:.1f}× the baseline"
    )


if __name__ == "__main__":
    main()
