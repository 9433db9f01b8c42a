"""Reconciliation: each customer's standing from the CRM, the ledger and Partner Center; the reports agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from shared.attestation import errors as pc
from shared.attestation.ledger import LedgerEntry, LedgerState
from shared.attestation.ports import CustomerAcceptance, RecordedAgreement
from shared.attestation.reconciliation import Expectation, Reconciled, Standing, classify, counts, reconcile
from shared.ledger.reports import render_csv, render_html, render_json
from shared.partner_center.acceptance import PartnerCenterAcceptance
from tests.builders import TEMPLATE, TENANT, FakeAcceptanceReads, FakeLedger

DATE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
NOTHING = CustomerAcceptance(direct_signed=False, agreements=())
LISTED = CustomerAcceptance(direct_signed=False, agreements=(RecordedAgreement(TEMPLATE, DATE, ""),))
S = LedgerState


def entry(state: LedgerState, event_id: str = "crm-1", reason: str = "") -> LedgerEntry:
    return LedgerEntry(TENANT, event_id, state, reason=reason)


@pytest.mark.parametrize(
    ("entries", "view", "expected"),
    [
        ([], CustomerAcceptance(direct_signed=True, agreements=()), Standing.ACCEPTED_DIRECT),
        ([entry(S.ATTESTED)], LISTED, Standing.ACCEPTED_ATTESTED),
        ([entry(S.ATTESTED)], NOTHING, Standing.ACCEPTED_ATTESTED),  # Partner Center's listing lags
        ([], LISTED, Standing.ACCEPTED_ALREADY),
        ([entry(S.ALREADY_ACCEPTED, reason="direct_signed")], NOTHING, Standing.ACCEPTED_ALREADY),
        ([entry(S.RETRYING)], NOTHING, Standing.IN_PROGRESS),
        ([entry(S.DEAD_LETTERED, reason="NoRelationship")], NOTHING, Standing.DEAD_LETTERED),
        ([], NOTHING, Standing.MISSING),
    ],
)
def test_each_standing(entries: list[LedgerEntry], view: CustomerAcceptance, expected: Standing) -> None:
    """The standing follows the table in the module docstring."""
    assert classify(Expectation(TENANT), entries, view).standing is expected


def test_conflict_when_partner_center_holds_another_date_or_template() -> None:
    """Partner Center's agreement differs from the CRM's template or date: conflict, and the detail says both."""
    other_date = classify(Expectation(TENANT, date_agreed=datetime(2026, 1, 2, tzinfo=UTC)), [], LISTED)
    other_template = classify(Expectation(TENANT, template_id="t-other", date_agreed=DATE), [], LISTED)
    same = classify(Expectation(TENANT, template_id=TEMPLATE, date_agreed=DATE), [entry(S.ATTESTED)], LISTED)
    assert other_date.standing is Standing.CONFLICT
    assert other_template.standing is Standing.CONFLICT
    assert "t-other" in other_template.detail
    assert same.standing is Standing.ACCEPTED_ATTESTED


def test_the_expected_event_is_preferred_else_the_furthest_entry() -> None:
    """With the CRM's event id its entry decides; without, the most advanced of the customer's entries."""
    entries = [entry(S.DEAD_LETTERED, "crm-1", "NoRelationship"), entry(S.ATTESTED, "crm-2")]
    assert classify(Expectation(TENANT, event_id="crm-1"), entries, NOTHING).standing is Standing.DEAD_LETTERED
    assert classify(Expectation(TENANT), entries, NOTHING).standing is Standing.ACCEPTED_ATTESTED


async def test_reconcile_reads_each_customer_once_and_survives_a_failing_one() -> None:
    """Two expectations of one customer make one line and one read; a customer Partner Center refuses is still
    classified from the ledger, with the refusal in the detail."""
    ledger, reads = FakeLedger(), FakeAcceptanceReads()
    await ledger.put(entry(S.DEAD_LETTERED, reason="UnknownCustomer"), if_match=None)
    failing = FakeAcceptanceReads(error=pc.UnknownCustomer("Tenant not found", status=404, code="60003"))
    ok = await reconcile([Expectation("c-2"), Expectation("c-2", "e-9")], ledger, PartnerCenterAcceptance(reads))
    refused = await reconcile([Expectation(TENANT)], ledger, PartnerCenterAcceptance(failing))
    assert [r.standing for r in ok] == [Standing.MISSING]
    assert reads.calls == [("direct_signed", "c-2"), ("agreements", "c-2")]
    assert refused[0].standing is Standing.DEAD_LETTERED
    assert "Partner Center did not answer" in refused[0].detail


SAMPLE = [
    Reconciled("c-1", Standing.ACCEPTED_ATTESTED),
    Reconciled("c-2", Standing.ACCEPTED_DIRECT, direct_signed=True),
    Reconciled("c-3", Standing.MISSING),
    Reconciled("c-4", Standing.MISSING),
    Reconciled("c-5", Standing.DEAD_LETTERED, reason="NoRelationship", detail="<script>alert(1)</script>"),
]


class ReportParser(HTMLParser):
    """Reads the counts table, the customer rows' standings and every external reference of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.rows: list[str] = []
        self.external: list[str] = []
        self.scripts = 0
        self._count_of: str | None = None
        self._in_count_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.external += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "script":
            self.scripts += 1
        if tag == "tr" and found.get("data-count-standing"):
            self._count_of = found["data-count-standing"]
        if tag == "tr" and found.get("data-standing"):
            self.rows.append(str(found["data-standing"]))
        self._in_count_cell = tag == "td" and found.get("class") == "count"

    def handle_data(self, data: str) -> None:
        if self._in_count_cell and self._count_of:
            self.counts[self._count_of] = int(data)
            self._in_count_cell = False


def test_html_report_counts_match_its_table_and_it_loads_nothing() -> None:
    """Parsed, the page's counts equal its rows per standing and the input; no external resource; text escaped."""
    page = render_html(SAMPLE)
    parser = ReportParser()
    parser.feed(page)
    assert parser.counts == counts(SAMPLE)
    assert parser.counts == {standing: parser.rows.count(standing) for standing in parser.counts}
    assert parser.counts["missing"] == 2
    assert parser.external == []
    assert parser.scripts == 1  # the filter's own inline script only
    assert "<script>alert(1)</script>" not in page


def test_json_and_csv_reports_hold_every_customer() -> None:
    """The JSON counts match its rows; the CSV has a header and one line per customer."""
    doc = json.loads(render_json(SAMPLE))
    assert doc["counts"]["missing"] == 2
    assert len(doc["customers"]) == 5
    assert len(render_csv(SAMPLE).strip().splitlines()) == 6
