"""The function app without a host: lazy imports, and settlement per outcome.

Registration and binding JSON are pinned where the real worker reports them (tests/functions_host/test_indexing.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from functions.runtime import runtime
from shared.attestation.outcomes import AlreadyAttested, Attested, DeadLetter, DeadLetterReason, Outcome, RetryLater
from shared.metadata_cache import RefreshResult
from shared.metrics import RecordingMetrics
from shared.servicebus.messages import ATTEMPT_PROPERTY, retry_message_id
from shared.servicebus.settlement import RedeliveryPolicy
from tests.builders import (
    Journal,
    RecordingMessageActions,
    RecordingSender,
    app_functions,
    fresh_event_doc,
    received_message,
)


def _functions() -> dict[str, Any]:
    return app_functions()


def test_importing_the_app_builds_nothing_and_loads_no_client_library() -> None:
    """A fresh `import function_app` reads no settings and imports neither httpx, pydantic nor our wiring."""
    probe = (
        "import sys, function_app; from functions.runtime import runtime; "
        "print(sorted(m for m in ('httpx', 'pydantic', 'shared.bootstrap', 'shared.attestation.contract', 'azure.storage.blob') "
        "if m in sys.modules)); print(not runtime.has_services)"
    )
    out = subprocess.run(  # noqa: S603 — the test's own interpreter and probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={"PATH": ""}
    )
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


class ScriptedAttestor:
    """Answers every body with the next scripted outcome, and records the bodies it saw."""

    journal = None  # no ledger: the trigger's settlement is what these tests pin
    enhanced = None  # the hosts' shared path reads it of an ``EventRouter``

    def __init__(self, *outcomes: Outcome) -> None:
        self._outcomes = list(outcomes)
        self.bodies: list[bytes] = []

    async def attest_body(self, body: bytes, delivery: object = None) -> Outcome:
        self.bodies.append(body)
        return self._outcomes.pop(0)


class FakeServices:
    def __init__(
        self,
        attestor: Any,
        metadata: Any = None,
        agreement_types: tuple[str, ...] = (),
        *,
        journal: Any = None,
        acceptance: Any = None,
        **settings: Any,
    ) -> None:
        self.attestor = attestor
        self.router = attestor  # the trigger hands bodies to the router; these tests script its outcomes
        self.metadata = metadata
        self.journal = journal
        self.acceptance = acceptance
        self.redelivery = RedeliveryPolicy(budget=3, base_seconds=10, max_seconds=100)
        self.rng = random.Random(1)
        self.settings = type("S", (), {"agreement_types": agreement_types, "queue_name": "mca-events", **settings})()


def _install(services: FakeServices, metrics: RecordingMetrics, sender: RecordingSender) -> None:
    """``runtime.install`` with the fakes (the runtime's own test switch)."""
    runtime.install(services, metrics, sender)  # type: ignore[arg-type]  # FakeServices holds only what the triggers read


@pytest.fixture
def journal() -> Journal:
    return []


@pytest.fixture
def sender(journal: Journal) -> RecordingSender:
    return RecordingSender(journal)


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture(autouse=True)
def _reset_runtime() -> Iterator[None]:
    yield
    runtime.uninstall()


async def _trigger(
    attestor: ScriptedAttestor, sender: RecordingSender, message: Any, metrics: RecordingMetrics
) -> RecordingMessageActions:
    _install(FakeServices(attestor), metrics, sender)
    actions = RecordingMessageActions()
    await _functions()["attest_signed_agreement"].get_user_function()(message=message, message_actions=actions)
    return actions


_IDS = ("evt", "req", "corr")


@pytest.mark.parametrize(
    "outcome",
    [Attested(*_IDS, user_id="u"), AlreadyAttested(*_IDS)],
    ids=["attested", "already-attested"],
)
async def test_success_outcomes_complete_the_message(
    outcome: Outcome, sender: RecordingSender, metrics: RecordingMetrics
) -> None:
    """Attested and 600061 both complete the message and schedule nothing."""
    message = received_message(fresh_event_doc())
    actions = await _trigger(ScriptedAttestor(outcome), sender, message, metrics)
    assert actions.names == ["complete"]
    assert actions.calls[0][1] is message
    assert sender.scheduled == []


async def test_permanent_failure_dead_letters_with_reason_and_description(
    sender: RecordingSender, metrics: RecordingMetrics
) -> None:
    """A DeadLetter outcome dead-letters the very message with the stable reason and the description."""
    outcome = DeadLetter(
        *_IDS, reason=DeadLetterReason.UNKNOWN_CUSTOMER, description="HTTP 404 code 60003: Tenant not found"
    )
    message = received_message(fresh_event_doc())
    actions = await _trigger(ScriptedAttestor(outcome), sender, message, metrics)
    assert actions.calls == [
        ("deadletter", message, {"reason": "UnknownCustomer", "description": "HTTP 404 code 60003: Tenant not found"})
    ]


async def test_transient_failure_schedules_a_copy_then_completes(
    journal: Journal, sender: RecordingSender, metrics: RecordingMetrics
) -> None:
    """RetryLater schedules a copy (attempt 1, delay ≥ Retry-After, fresh id, same body) before completing."""
    body = fresh_event_doc()
    message = received_message(body, message_id="crm-7")
    actions = RecordingMessageActions(journal)
    _install(FakeServices(ScriptedAttestor(RetryLater(*_IDS, retry_after=57, description="429"))), metrics, sender)
    before = datetime.now(UTC)
    await _functions()["attest_signed_agreement"].get_user_function()(message=message, message_actions=actions)
    assert [name for name, _ in journal] == ["schedule", "complete"]
    copy, when = sender.scheduled[0]
    assert copy.application_properties is not None
    assert copy.application_properties[ATTEMPT_PROPERTY] == 1
    assert copy.message_id == retry_message_id("crm-7", 1)
    assert copy.message_id.startswith("crm-7/retry1-")
    assert b"".join(copy.body) == json.dumps(body).encode()
    assert (when - before).total_seconds() >= 57


async def test_retry_budget_spent_dead_letters_as_retries_exhausted(
    sender: RecordingSender, metrics: RecordingMetrics
) -> None:
    """A message that already had `budget` retries is dead-lettered RetriesExhausted with the last error."""
    message = received_message(fresh_event_doc(), application_properties={ATTEMPT_PROPERTY.encode(): 3})
    actions = await _trigger(
        ScriptedAttestor(RetryLater(*_IDS, retry_after=None, description="HTTP 503")), sender, message, metrics
    )
    assert actions.names == ["deadletter"]
    assert actions.calls[0][2]["reason"] == "RetriesExhausted"
    assert "HTTP 503" in actions.calls[0][2]["description"]
    assert sender.scheduled == []


class RecordingRefresher:
    def __init__(self, results: dict[str, RefreshResult]) -> None:
        self.results = results
        self.refreshed: list[str] = []

    async def refresh(self, agreement_type: str) -> RefreshResult:
        self.refreshed.append(agreement_type)
        return self.results[agreement_type]


async def test_timer_refreshes_each_type_and_counts_a_template_change(
    caplog: pytest.LogCaptureFixture, sender: RecordingSender, metrics: RecordingMetrics
) -> None:
    """Past due or not, the timer refreshes every configured type; a new templateId warns and is counted."""
    now = datetime.now(UTC)
    refresher = RecordingRefresher(
        {
            "MicrosoftCustomerAgreement": RefreshResult("MicrosoftCustomerAgreement", "old-id", "new-id", now),
            "MicrosoftCloudAgreement": RefreshResult("MicrosoftCloudAgreement", "same", "same", now),
        }
    )
    services = FakeServices(None, refresher, ("MicrosoftCustomerAgreement", "MicrosoftCloudAgreement"))
    _install(services, metrics, sender)
    with caplog.at_level(logging.INFO):
        await _functions()["refresh_agreement_metadata"].get_user_function()(timer=TimerRequest(past_due=True))
    assert refresher.refreshed == ["MicrosoftCustomerAgreement", "MicrosoftCloudAgreement"]
    assert metrics.total("metadata.template_changed") == 1
    assert metrics.total("metadata.refreshed") == 2
    events = [getattr(r, "event", "") for r in caplog.records]
    assert "metadata.refresh_past_due" in events
    assert "metadata.template_changed" in events


async def test_timer_failed_refresh_is_logged_and_counted_not_raised(
    caplog: pytest.LogCaptureFixture, sender: RecordingSender, metrics: RecordingMetrics
) -> None:
    """A failed refresh keeps the last good value: an error log and a metric, and the timer does not raise."""
    from shared.attestation.errors import ServerError

    kept = RefreshResult(
        "MicrosoftCustomerAgreement", "good-id", "good-id", datetime.now(UTC), error=ServerError("HTTP 503", status=503)
    )
    _install(
        FakeServices(None, RecordingRefresher({"MicrosoftCustomerAgreement": kept}), ("MicrosoftCustomerAgreement",)),
        metrics,
        sender,
    )
    await _functions()["refresh_agreement_metadata"].get_user_function()(timer=TimerRequest(past_due=False))
    assert metrics.total("metadata.refresh_failed") == 1
    failed = [r for r in caplog.records if getattr(r, "event", "") == "metadata.refresh_failed"]
    assert len(failed) == 1
    assert failed[0].levelno == logging.ERROR
    assert failed[0].__dict__["template_id"] == "good-id"


def test_reconciliation_timer_writes_both_reports_and_counts_each_standing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, sender: RecordingSender, metrics: RecordingMetrics
) -> None:
    """Past due, the reconciliation timer says so, reconciles the ledger's customers against Partner Center and
    leaves the HTML and JSON reports in the report folder; the counts are metrics."""
    from shared.attestation.ledger import AttestationJournal, LedgerEntry, LedgerState
    from shared.ledger.daily_reconciliation import METRIC
    from shared.partner_center.acceptance import PartnerCenterAcceptance
    from tests.builders import FakeAcceptanceReads, FakeLedger

    ledger, reads = FakeLedger(), FakeAcceptanceReads()
    asyncio.run(ledger.put(LedgerEntry("c-1", "e-1", LedgerState.ATTESTED), if_match=None))
    reads.attested("c-1")
    services = FakeServices(
        None,
        journal=AttestationJournal(ledger),
        acceptance=PartnerCenterAcceptance(reads),
        reconcile_report_account_url="",
        reconcile_report_container="reconciliation-reports",  # unused without an account URL
        reconcile_report_dir=str(tmp_path),
        reconcile_concurrency=2,
    )
    _install(services, metrics, sender)
    with caplog.at_level(logging.INFO):
        asyncio.run(_functions()["reconcile_ledger_daily"].get_user_function()(timer=TimerRequest(past_due=True)))
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".html", ".json"]
    assert metrics.total(METRIC) == 1
    events = [getattr(r, "event", "") for r in caplog.records]
    assert "reconcile.past_due" in events
    assert events.count("reconcile.completed") == 1
