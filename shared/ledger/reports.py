"""The reconciliation report as CSV, JSON or one self-contained HTML page (no external files, scripts or fonts):
counts per standing, a bar chart of them (inline SVG), and the table with a filter by standing.

Every value is escaped; the report holds ids, states, reasons, dates and templates only — no personal data.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from shared.attestation.reconciliation import NEEDS_ACTION, Reconciled, Standing, counts

_COLOURS = {
    Standing.ACCEPTED_DIRECT: "#2e7d32",
    Standing.ACCEPTED_ATTESTED: "#43a047",
    Standing.ACCEPTED_ALREADY: "#66bb6a",
    Standing.IN_PROGRESS: "#1e88e5",
    Standing.DEAD_LETTERED: "#e53935",
    Standing.MISSING: "#fb8c00",
    Standing.CONFLICT: "#8e24aa",
}
_COLUMNS = (
    "customer_tenant_id",
    "standing",
    "event_id",
    "ledger_state",
    "reason",
    "direct_signed",
    "agreements",
    "detail",
)


def _rows(results: Sequence[Reconciled]) -> list[dict[str, object]]:
    ordered = sorted(results, key=lambda r: (r.standing not in NEEDS_ACTION, r.standing.value, r.customer_tenant_id))
    return [{**asdict(r), "standing": r.standing.value} for r in ordered]


def render_csv(results: Sequence[Reconciled]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(_COLUMNS))
    writer.writeheader()
    writer.writerows(_rows(results))
    return out.getvalue()


def render_json(results: Sequence[Reconciled], *, generated_at: datetime | None = None) -> str:
    generated = (generated_at or datetime.now(UTC)).isoformat()
    return json.dumps({"generatedAt": generated, "counts": counts(results), "customers": _rows(results)}, indent=2)


def _chart(tally: dict[str, int]) -> str:
    top = max(tally.values(), default=0) or 1
    bars = []
    for i, (standing, count) in enumerate(tally.items()):
        width = round(300 * count / top)
        y = i * 26
        bars.append(
            f'<text x="0" y="{y + 16}" font-size="12">{html.escape(standing)}</text>'
            f'<rect x="130" y="{y + 4}" width="{width}" height="18" fill="{_COLOURS[Standing(standing)]}"/>'
            f'<text x="{136 + width}" y="{y + 17}" font-size="12">{count}</text>'
        )
    return f'<svg role="img" aria-label="customers per standing" width="480" height="{26 * len(tally)}">{"".join(bars)}</svg>'


_SCRIPT = """
document.getElementById('filter').addEventListener('change', function (e) {
  var wanted = e.target.value;
  document.querySelectorAll('#customers tbody tr').forEach(function (row) {
    row.hidden = wanted !== '' && row.dataset.standing !== wanted;
  });
});
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; margin-top: 1em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; font-size: 13px; }
tr.needs-action td:nth-child(2) { font-weight: bold; color: #b71c1c; }
"""


def render_html(results: Sequence[Reconciled], *, generated_at: datetime | None = None) -> str:
    """One page an operator can attach to a ticket: it loads nothing from anywhere."""
    tally = counts(results)
    generated = html.escape((generated_at or datetime.now(UTC)).isoformat(timespec="seconds"))
    count_rows = "".join(
        f'<tr data-count-standing="{html.escape(s)}"><td>{html.escape(s)}</td><td class="count">{n}</td></tr>'
        for s, n in tally.items()
    )
    options = "".join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in tally)
    header = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
    body = []
    for row in _rows(results):
        css = ' class="needs-action"' if Standing(str(row["standing"])) in NEEDS_ACTION else ""
        cells = "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in _COLUMNS)
        body.append(f'<tr data-standing="{html.escape(str(row["standing"]))}"{css}>{cells}</tr>')
    needs_action = sum(tally[s.value] for s in NEEDS_ACTION)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>MCA reconciliation</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>MCA reconciliation</h1><p>Generated {generated}: {len(results)} customers, "
        f'<strong id="needs-action">{needs_action}</strong> need action (missing, dead-lettered or in conflict).</p>'
        f'<table id="counts"><thead><tr><th>standing</th><th>customers</th></tr></thead><tbody>{count_rows}</tbody></table>'
        f"{_chart(tally)}"
        f'<p><label>Show <select id="filter"><option value="">all</option>{options}</select></label></p>'
        f'<table id="customers"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def render_report(results: Sequence[Reconciled], suffix: str) -> str:
    """The report in the format a file suffix names (.csv, .json, .html/.htm)."""
    suffix = suffix.lower()
    if suffix == ".csv":
        return render_csv(results)
    if suffix == ".json":
        return render_json(results)
    if suffix in (".html", ".htm"):
        return render_html(results)
    raise ValueError(f"unsupported report format {suffix!r}: use .csv, .json or .html")


def write_report(results: Sequence[Reconciled], path: Path) -> None:
    text = render_report(results, path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
