"""`make run`'s story, run as a user would: it must finish, fix the wrong tenant id, reconcile, and stop cleanly."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from demo.local_stack import RECONCILIATION_REPORT
from tests.unit.test_reconciliation import ReportParser

pytestmark = pytest.mark.e2e


def test_local_stack_tells_the_whole_story() -> None:
    """The demo publishes, skips the direct-signed customer, attests, lists dead letters, replays the fixed one,
    reconciles the CRM's export (a table and an HTML report whose counts agree) and exits 0 within 3 minutes."""
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
    reconciliation = out.split("=== 6.")[1]
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
