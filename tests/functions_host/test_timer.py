"""The timers inside the real worker: the host's TimerInfo JSON → TimerRequest → a refreshed metadata cache, and
the reconciliation reports."""

from __future__ import annotations

import json
import uuid

import pytest

from emulators.partner_center.conventions import MCA_TEMPLATE_ID
from shared.metadata_cache.store import document_name
from tests.builders import fresh_event_doc
from tests.functions_host.host import protos
from tests.functions_host.host_conversion import timer_invocation
from tests.functions_host.running import RECONCILE_TIMER, TIMER, RunningApp, deliver
from tests.unit.test_reconciliation import ReportParser

pytestmark = pytest.mark.integration


def test_past_due_timer_refreshes_the_metadata_cache(app: RunningApp) -> None:
    """A past-due timer run logs that it is past due and writes Partner Center's current MCA template to the
    cache every instance reads."""
    cached = app.metadata_cache / document_name("MicrosoftCustomerAgreement")
    cached.unlink(missing_ok=True)
    invocation_id = str(uuid.uuid4())
    response = app.host.invoke(
        timer_invocation(app.functions[TIMER], "timer", past_due=True, invocation_id=invocation_id)
    )
    assert response.result.status == protos.StatusResult.Success, response.result.exception.message
    assert MCA_TEMPLATE_ID in json.dumps(json.loads(cached.read_text(encoding="utf-8")))
    warnings = [log.message for log in app.host.logs_of(invocation_id) if log.level == protos.RpcLog.Warning]
    assert "metadata refresh is past due; running now" in warnings


def test_past_due_reconciliation_timer_writes_the_reports(app: RunningApp) -> None:
    """A past-due reconciliation run says so and leaves an HTML and a JSON report in the report folder, where the
    customer just attested through the queue trigger stands accepted_attested and the page's counts match."""
    event = fresh_event_doc()
    delivery = deliver(app, event)
    assert delivery.succeeded, delivery.response.result.exception.message
    for old in app.reports.glob("reconciliation-*"):
        old.unlink()
    invocation_id = str(uuid.uuid4())
    response = app.host.invoke(
        timer_invocation(app.functions[RECONCILE_TIMER], "timer", past_due=True, invocation_id=invocation_id)
    )
    assert response.result.status == protos.StatusResult.Success, response.result.exception.message
    page, document = sorted(app.reports.glob("reconciliation-*"))  # .html, .json of the same run
    report = json.loads(document.read_text(encoding="utf-8"))
    [line] = [c for c in report["customers"] if c["customer_tenant_id"] == event["customerTenantId"]]
    assert (line["standing"], line["event_id"]) == ("accepted_attested", event["eventId"])
    parser = ReportParser()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.counts == report["counts"]
    assert sum(parser.counts.values()) == len(report["customers"]) == len(parser.rows)
    warnings = [log.message for log in app.host.logs_of(invocation_id) if log.level == protos.RpcLog.Warning]
    assert "reconciliation is past due; running now" in warnings
