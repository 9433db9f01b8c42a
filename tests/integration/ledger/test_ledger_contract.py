"""The ``Ledger`` contract, once, for every adapter: the SQLite file and Azure Table Storage on Azurite.

Each test runs per adapter; the Azurite variant is marked ``integration`` (a real Table service on 127.0.0.1).
Over the port, ``AttestationJournal`` is checked too: states never move backwards, whatever the adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from azure.data.tables.aio import TableClient

from emulators.azurite import AzuriteTable
from shared.attestation.ledger import AttestationJournal, Ledger, LedgerEntry, LedgerError, LedgerQuery, LedgerState
from shared.ledger import SqliteLedger, TableLedger, open_table_client_from_connection_string

CUSTOMER = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
OTHER_CUSTOMER = "9b2e3c4d-0000-4000-8000-000000000001"


def entry(event_id: str = "crm-1", state: LedgerState = LedgerState.IN_PROGRESS, **fields: object) -> LedgerEntry:
    base = LedgerEntry(
        CUSTOMER, event_id, state, agreement_type="MicrosoftCustomerAgreement", updated_at="2026-11-20T10:00:00.000Z"
    )
    return replace(base, **fields)  # type: ignore[arg-type] # test builder: fields by name


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("azurite", id="azurite", marks=pytest.mark.integration)]
)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """Each adapter in turn; the Azurite one over a fresh table (the ``table`` fixture of this folder)."""
    if request.param == "sqlite":
        sqlite = SqliteLedger(tmp_path / "ledger.sqlite3")
        yield sqlite
        sqlite.close()
        return
    table: TableClient = request.getfixturevalue("table")
    yield TableLedger(table)


async def test_missing_entry_reads_as_none(ledger: Ledger) -> None:
    """An event never written reads as None, not as an error."""
    assert await ledger.get(CUSTOMER, "crm-unknown") is None


async def test_round_trip_keeps_every_field(ledger: Ledger) -> None:
    """A written entry reads back equal, with the ETag the write returned; an event id with / and % too."""
    written = entry(
        "crm/7%a",
        LedgerState.DEAD_LETTERED,
        template_id="t-1",
        date_agreed="2026-11-20T09:30:00.000Z",
        contact_fingerprint="ab" * 32,
        reason="UnknownCustomer",
        detail="404 60003",
        attempt=3,
        request_id="r-1",
        correlation_id="c-1",
        ms_cv="cv.1",
        user_id="u-1",
        message_id="m-1",
        created_at="2026-11-20T09:59:00.000Z",
    )
    etag = await ledger.put(written, if_match=None)
    stored = await ledger.get(CUSTOMER, "crm/7%a")
    assert stored is not None
    assert stored.entry == written
    assert stored.etag == etag


async def test_create_only_write_loses_to_an_existing_entry(ledger: Ledger) -> None:
    """if_match=None on an existing entry reports the lost race (None) and changes nothing."""
    await ledger.put(entry(attempt=1), if_match=None)
    assert await ledger.put(entry(attempt=2), if_match=None) is None
    stored = await ledger.get(CUSTOMER, "crm-1")
    assert stored is not None
    assert stored.entry.attempt == 1


async def test_guarded_write_with_a_stale_etag_is_refused(ledger: Ledger) -> None:
    """A write naming an ETag that is no longer current reports the lost race and changes nothing."""
    old = await ledger.put(entry(attempt=1), if_match=None)
    new = await ledger.put(entry(attempt=2), if_match=old)
    assert new is not None
    assert new != old
    assert await ledger.put(entry(attempt=3), if_match=old) is None
    stored = await ledger.get(CUSTOMER, "crm-1")
    assert stored is not None
    assert stored.entry.attempt == 2


async def test_concurrent_creators_have_one_winner(ledger: Ledger) -> None:
    """Of 20 concurrent create-only writes of one event exactly one succeeds."""
    results = await asyncio.gather(*(ledger.put(entry(attempt=i), if_match=None) for i in range(20)))
    assert sum(r is not None for r in results) == 1


async def test_query_filters_by_customer_state_reason_and_since(ledger: Ledger) -> None:
    """Each filter narrows the list; entries come back ordered by customer and event id."""
    await ledger.put(entry("crm-2", LedgerState.ATTESTED, updated_at="2026-11-21T00:00:00.000Z"), if_match=None)
    await ledger.put(entry("crm-1", LedgerState.DEAD_LETTERED, reason="NoRelationship"), if_match=None)
    await ledger.put(replace(entry("crm-3"), customer_tenant_id=OTHER_CUSTOMER), if_match=None)
    everything = await ledger.query(LedgerQuery())
    assert [(e.customer_tenant_id, e.event_id) for e in everything] == [
        (CUSTOMER, "crm-1"),
        (CUSTOMER, "crm-2"),
        (OTHER_CUSTOMER, "crm-3"),
    ]
    assert [e.event_id for e in await ledger.query(LedgerQuery(customer_tenant_id=CUSTOMER))] == ["crm-1", "crm-2"]
    assert [e.event_id for e in await ledger.query(LedgerQuery(state=LedgerState.ATTESTED))] == ["crm-2"]
    assert [e.event_id for e in await ledger.query(LedgerQuery(reason="NoRelationship"))] == ["crm-1"]
    assert [e.event_id for e in await ledger.query(LedgerQuery(since="2026-11-20T12:00:00.000Z"))] == ["crm-2"]


async def test_journal_never_moves_a_success_backwards(ledger: Ledger) -> None:
    """After attested, a later retrying or dead-lettered write leaves the entry attested."""
    journal = AttestationJournal(ledger)
    await journal.record(entry(state=LedgerState.ATTESTED, user_id="u-1"))
    await journal.record(entry(state=LedgerState.RETRYING, attempt=2))
    held = await AttestationJournal(ledger).record(entry(state=LedgerState.DEAD_LETTERED, reason="RetriesExhausted"))
    assert held.state is LedgerState.ATTESTED
    stored = await ledger.get(CUSTOMER, "crm-1")
    assert stored is not None
    assert (stored.entry.state, stored.entry.user_id, stored.entry.reason) == (LedgerState.ATTESTED, "u-1", "")


async def test_journal_merges_forward_and_rereads_after_a_lost_race(ledger: Ledger) -> None:
    """A journal whose remembered ETag is stale re-reads, merges its fields onto the stored entry and wins."""
    first, second = AttestationJournal(ledger), AttestationJournal(ledger)
    await first.record(entry(state=LedgerState.IN_PROGRESS, template_id="t-1", attempt=1))
    await second.record(entry(state=LedgerState.RETRYING, attempt=2))  # first's ETag is now stale
    result = await first.record(entry(state=LedgerState.DEAD_LETTERED, reason="RetriesExhausted"))
    assert (result.state, result.template_id, result.attempt, result.reason) == (
        LedgerState.DEAD_LETTERED,
        "t-1",
        2,
        "RetriesExhausted",
    )
    stored = await ledger.get(CUSTOMER, "crm-1")
    assert stored is not None
    assert stored.entry == result


@pytest.mark.integration
async def test_missing_table_is_a_ledger_error(azurite_table: AzuriteTable) -> None:
    """A table that does not exist is a LedgerError on read and on write, never an empty ledger or a lost race."""
    async with open_table_client_from_connection_string(azurite_table.connection_string, "ledgermissing") as client:
        ledger = TableLedger(client)
        with pytest.raises(LedgerError, match="ledgermissing"):
            await ledger.get(CUSTOMER, "crm-1")
        with pytest.raises(LedgerError, match="TableNotFound"):
            await ledger.put(entry(), if_match=None)
