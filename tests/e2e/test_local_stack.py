"""`make run`'s story, run as a user would: it must finish, fix the wrong tenant id, take a contract v2 request from
link to agreement, reconcile, and stop cleanly."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from demo.local_stack import ACCEPTANCE_REQUESTED, RECONCILIATION_REPORT
from emulators.partner_center.enhanced import LINK_BASE
from tests.unit.test_reconciliation import ReportParser

pytestmark = pytest.mark.e2e


def test_local_stack_tells_the_whole_story() -> None:
    """The demo publishes, skips the direct-signed customer, attests, lists dead letters, replays the fixed one,
    takes a contract v2 request through the link notification (masked), the customer's acceptance (the simulator
    standing in), the scheduled check and the agreement to the ledger's flow state, reconciles the CRM's export
    (a table and an HTML report whose counts agree) and exits 0 within 3 minutes."""
    RECONCILIATION_REPORT.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "demo.local_stack"], capture_output=True, text=True, timeout=180, check=False
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    final = out.split("=== 5.")[1].split("=== 6.")[0]
    assert "dead_letter:NoRelationship       1" in final
    assert "already_accepted                 1" in final  # crm-2026-0014: direct-signed, skipped by the pre-check
    assert "UnknownCustomer" not in final  # replayed with the right tenant id, and attested
    # 12 valid examples - 2 rejected - 1 already accepted + 120 burst + 1 replayed
    assert "Partner Center now holds 130 attestations" in final
    assert "replayed=1" in out

    enhanced = out.split("=== 6.")[1].split("=== 7.")[0]
    link_issued, rest = enhanced.split("mca-notifications → acceptance_link_issued:")[1].split("stands in for")
    assert '"acceptanceLink": "https://mca-acceptance.simulator.invalid/***"' in link_issued
    assert LINK_BASE not in out  # the link itself is never shown: whoever holds it can accept
    assert "never accepts on a customer's behalf" in rest
    assert "is now Accepted" in rest
    created = rest.split("mca-notifications → agreement_created:")[1]
    assert '"terminal": true' in created
    assert "Partner Center holds 1 enhanced attestation for the customer" in created
    assert "agreement created: yes" in created
    ledger = created.split("$ mca-attest ledger show crm-2026-0101")[1]
    shown = dict(re.findall(r"│ (\w+)\s+│ (\S*)\s+│", ledger))
    assert (shown["contract"], shown["state"], shown["flow_step"]) == ("v2", "attested", "agreement_created")
    assert shown["attestation_id"] in link_issued
    signatory = ACCEPTANCE_REQUESTED["signatory"]
    assert isinstance(signatory, dict)
    personal = [*signatory.values(), ACCEPTANCE_REQUESTED["companyName"]]
    assert [value for value in personal if str(value) in out] == []

    reconciliation = out.split("=== 7.")[1]
    summary = {
        standing: int(count)
        for standing, count in re.findall(r"│ (\w+)\s+│\s+(\d+) │", reconciliation.split("Summary")[1])
    }
    assert {k: v for k, v in summary.items() if v} == {
        "accepted_direct": 1,  # crm-2026-0014
        "accepted_attested": 10,  # the valid examples, crm-2026-0007 after its replay included
        "dead_lettered": 1,  # crm-2026-0008, NoRelationship
        "missing": 1,  # crm-2026-0016, never published
    }
    assert "reconcile exit 1" in reconciliation
    parser = ReportParser()
    parser.feed(RECONCILIATION_REPORT.read_text(encoding="utf-8"))
    assert parser.counts == summary
