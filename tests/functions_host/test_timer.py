"""The metadata timer inside the real worker: the host's TimerInfo JSON → TimerRequest → a refreshed cache."""

from __future__ import annotations

import json
import uuid

import pytest

from emulators.partner_center.conventions import MCA_TEMPLATE_ID
from shared.metadata_cache.store import document_name
from tests.functions_host.host import protos
from tests.functions_host.host_conversion import timer_invocation
from tests.functions_host.running import TIMER, RunningApp

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
