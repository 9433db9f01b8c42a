"""``make run``: the whole job on local stand-ins, no Azure account.

Starts the Partner Center simulator as its own process (with a little throttling, so retries show),
points the ``mca-attest`` command at it through the same app settings production uses, and tells two stories.

Contract v1 (*the customer accepted*): attests the example events (one customer already accepted in the admin
center, so the pre-check skips it), prints the report, replays a fixed dead letter.

Contract v2 (*ask the customer to accept*, the enhanced attestation): the CRM asks for one customer's acceptance;
the worker creates the attestation and puts the acceptance link on ``mca-notifications`` (shown with the link
masked: whoever holds it can accept); the simulator plays the customer and accepts (the tool never accepts for a
customer); the worker's scheduled status check finds the acceptance and creates the agreement; the CRM hears
``agreement_created``; ``mca-attest ledger show`` prints where the flow stands. Status checks run 1 s after the link,
then every 2 s (production waits minutes to hours), so the story takes seconds.

Finally it reconciles the CRM's view with the ledger and Partner Center (a table and an HTML report), and stops
everything it started.
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
from shared.partner_center.probe_mask import mask_link

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
DIRECT_SIGNED_EVENT = "crm-2026-0014"  # its customer accepted in the Microsoft 365 admin center
NEVER_PUBLISHED: dict[str, object] = {  # the CRM marked this customer signed, but its event never reached the queue
    "eventId": "crm-2026-0016",
    "customerTenantId": "b6d3f9a2-5e1c-4a8b-9d7f-2c4e6a8b0d35",
    "dateAgreed": "2026-11-19T08:00:00Z",
    "primaryContact": {"firstName": "Grady", "lastName": "Archie", "email": "grady.archie@example.com"},
}
RECONCILIATION_REPORT = REPORTS / "reconciliation.html"

NOTIFICATIONS = "mca-notifications"
# Contract v2: the CRM asks for this customer's acceptance (fictional, like examples/; not in the CRM export below).
ACCEPTANCE_REQUESTED: dict[str, object] = {
    "contractVersion": 2,
    "eventId": "crm-2026-0101",
    "customerTenantId": "9e4c7a2b-3f1d-4b8e-a6c5-1d2f3e4a5b60",
    "country": "DE",
    "language": "de-DE",
    "companyName": "Contoso Pharmaceuticals GmbH",
    "signatory": {
        "firstName": "Lidia",
        "lastName": "Holloway",
        "email": "lidia.holloway@contoso.com",
        "phoneNumber": "+49 89 555 0144",
    },
}
# The demo's wait: first status check 1 s after the link, then every 2 s; the customer has 5 minutes.
ENHANCED_TIMING = {
    "ENHANCED_FIRST_CHECK_SECONDS": "1",
    "ENHANCED_MAX_CHECK_SECONDS": "2",
    "ENHANCED_ACCEPTANCE_DEADLINE_SECONDS": "300",
}


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


def example_events() -> list[dict[str, object]]:
    return [json.loads(line) for line in (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines() if line]


def customer_of(event_id: str) -> str:
    return next(str(e["customerTenantId"]) for e in example_events() if e.get("eventId") == event_id)


def write_crm_export(path: Path) -> None:
    """What the CRM holds now: the example events with crm-2026-0007's tenant id fixed, and one more signed
    customer whose event was never published."""
    with path.open("w", encoding="utf-8") as out:
        for event in [*example_events(), NEVER_PUBLISHED]:
            fixed = {"customerTenantId": FIXED_CUSTOMER} if event.get("eventId") == "crm-2026-0007" else {}
            out.write(json.dumps({**event, **fixed}) + "\n")


def queue_is_empty(connection_string: str) -> bool:
    """Nothing active, locked or scheduled on the events queue (peek sees all of them)."""
    from azure.servicebus import ServiceBusClient

    with ServiceBusClient.from_connection_string(connection_string) as client, client.get_queue_receiver(QUEUE) as r:
        return not r.peek_messages(max_message_count=1)


def wait_until_settled(
    connection_string: str, simulator: LocalSimulator, limit_seconds: float, *, warm_up: float = 0, poll: float = 2
) -> None:
    deadline = time.monotonic() + limit_seconds
    time.sleep(warm_up)
    while time.monotonic() < deadline:
        stats = simulator.stats()
        throttled = sum(v for route in stats["requests"].values() for k, v in route.items() if k == "429")
        print(f"  attested so far: {stats['attestations']:4d}   throttled answers (429): {throttled}", flush=True)
        if queue_is_empty(connection_string):
            return
        time.sleep(poll)
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


def wait_for_notification(connection_string: str, event_id: str, kind: str, limit_seconds: float) -> dict[str, object]:
    """Read ``mca-notifications`` as the CRM would, until the ``kind`` notification of ``event_id`` arrives."""
    from azure.servicebus import ServiceBusClient

    deadline = time.monotonic() + limit_seconds
    with (
        ServiceBusClient.from_connection_string(connection_string) as client,
        client.get_queue_receiver(NOTIFICATIONS) as receiver,
    ):
        while time.monotonic() < deadline:
            for message in receiver.receive_messages(max_message_count=10, max_wait_time=1):
                document = json.loads(b"".join(message.body))
                receiver.complete_message(message)
                if document.get("eventId") == event_id and document.get("kind") == kind:
                    return dict(document)
    raise RuntimeError(f"no {kind} notification for {event_id} within {limit_seconds:.0f} s")


def print_notification(document: Mapping[str, object]) -> None:
    """The notification as the CRM receives it, the acceptance link masked (whoever holds it can accept)."""
    shown = dict(document)
    if isinstance(shown.get("acceptanceLink"), str):
        shown["acceptanceLink"] = mask_link(str(shown["acceptanceLink"]))
    print(f"  {NOTIFICATIONS} → {document['kind']}:")
    for line in json.dumps(shown, indent=2).splitlines():
        print(f"    {line}")


def enhanced_story(connection_string: str, simulator: LocalSimulator, env: Mapping[str, str]) -> None:
    """Contract v2: link → the customer accepts (the simulator plays the customer) → status check → agreement."""
    event_id, customer = str(ACCEPTANCE_REQUESTED["eventId"]), str(ACCEPTANCE_REQUESTED["customerTenantId"])
    print(f"  The CRM publishes 'MCA acceptance requested' {event_id} for customer {customer}")
    requested = REPORTS / "acceptance-requested.jsonl"
    requested.write_text(json.dumps(ACCEPTANCE_REQUESTED) + "\n", encoding="utf-8")
    run_command(["publish", str(requested)], env)

    print("  The worker creates the enhanced attestation and tells the CRM the acceptance link:")
    link = wait_for_notification(connection_string, event_id, "acceptance_link_issued", limit_seconds=30)
    print_notification(link)
    print("  (the link is masked here: whoever holds it can accept; the notification names no person)")

    attestation_id = str(link["attestationId"])
    print(
        "\n  The customer opens the link and accepts the MCA on Microsoft's page. Here the Partner Center simulator"
        "\n  stands in for the customer (its control API); mca-attest never accepts on a customer's behalf."
    )
    accepted = simulator.accept_enhanced(attestation_id)
    print(f"  simulator: attestation {attestation_id} is now {accepted['status']}")

    print("\n  The worker's next scheduled status check finds the acceptance and creates the agreement:")
    created = wait_for_notification(connection_string, event_id, "agreement_created", limit_seconds=30)
    print_notification(created)
    held = [a for a in simulator.enhanced_attestations() if a["customerTenantId"] == customer]
    states = "; ".join(
        f"{a['attestationId']} {a['status']}, agreement created: {'yes' if a['agreementCreated'] else 'no'}"
        for a in held
    )
    noun = "enhanced attestation" if len(held) == 1 else "enhanced attestations"
    print(f"  Partner Center holds {len(held)} {noun} for the customer: {states}")
    run_command(["ledger", "show", event_id, "--customer", customer], env)


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
            **ENHANCED_TIMING,
        }

        direct = customer_of(DIRECT_SIGNED_EVENT)
        simulator.set_direct_signed(direct)
        print(f"Customer {direct} ({DIRECT_SIGNED_EVENT}) already accepted the MCA in the Microsoft 365 admin center")

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
            # The worker needs a moment to open its handlers.
            wait_until_settled(connection_string, simulator, limit_seconds=90, warm_up=2)

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
            # The worker is warm: the replayed copy is attested within a second.
            wait_until_settled(connection_string, simulator, limit_seconds=60, warm_up=1, poll=0.5)

            step("5. Final tally (NoRelationship needs a reseller relationship first, so it stays dead-lettered)")
            print_tally(worker_log, simulator)
            run_command(["dlq", "list"], env)

            step("6. Contract v2: the CRM asks a customer to accept the MCA (the enhanced attestation)")
            enhanced_story(connection_string, simulator, env)
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
        print(f"\nworker stopped (exit {code}); logs: {worker_log}")
        if code != 0:
            return code

        step("7. Reconcile the CRM's export with the ledger and Partner Center (exit 1: something needs action)")
        crm_export = REPORTS / "crm-export.jsonl"
        write_crm_export(crm_export)
        RECONCILIATION_REPORT.unlink(missing_ok=True)
        reconciled = run_command(["reconcile", str(crm_export), "--report", str(RECONCILIATION_REPORT)], env)
        print(f"reconcile exit {reconciled}; report for the ticket: {RECONCILIATION_REPORT}")
        return 0 if RECONCILIATION_REPORT.is_file() else 1


if __name__ == "__main__":
    sys.exit(main())
