"""``SqliteLedger``: the ledger in one SQLite file, for ``make run``, the bulk command and tests without Azure.

One row per (customer, event): the key columns, the state, reason and update time (for filters), the entry as
JSON, and an ETag (a random token, new on every write). Guarded writes are single SQL statements: a create is
an ``INSERT`` that the primary key refuses on a duplicate, an update an ``UPDATE … WHERE etag = ?`` — atomic
within SQLite, so concurrent writers (threads or processes, WAL mode) cannot both win.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

from shared.attestation.ledger import LedgerEntry, LedgerError, LedgerQuery, StoredEntry
from shared.ledger.codec import from_properties, to_properties

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    PartitionKey TEXT NOT NULL,
    RowKey TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    updatedAt TEXT NOT NULL,
    etag TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (PartitionKey, RowKey)
)
"""


class SqliteLedger:
    """A ``Ledger`` in a SQLite file; every statement runs in a worker thread on one connection."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise LedgerError(f"cannot open ledger file {self.path}: {exc}") from exc
            self._connection = connection
        return self._connection

    def _run(self, sql: str, parameters: tuple[Any, ...]) -> tuple[int, list[tuple[Any, ...]]]:
        with self._lock:
            try:
                cursor = self._connect().execute(sql, parameters)
                return cursor.rowcount, cursor.fetchall()
            except sqlite3.IntegrityError:
                return 0, []
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger file {self.path}: {type(exc).__name__}: {exc}") from exc

    async def get(self, customer_tenant_id: str, event_id: str) -> StoredEntry | None:
        _, rows = await asyncio.to_thread(
            self._run,
            "SELECT entry, etag FROM ledger WHERE PartitionKey = ? AND RowKey = ?",
            (customer_tenant_id, event_id),
        )
        if not rows:
            return None
        entry, etag = rows[0]
        return StoredEntry(from_properties(json.loads(entry)), etag)

    async def put(self, entry: LedgerEntry, *, if_match: str | None) -> str | None:
        etag = uuid.uuid4().hex
        document = json.dumps(to_properties(entry), sort_keys=True)
        row = (entry.state.value, entry.reason, entry.updated_at, etag, document)
        if if_match is None:
            sql = (
                "INSERT INTO ledger (state, reason, updatedAt, etag, entry, PartitionKey, RowKey) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)"
            )
            parameters: tuple[Any, ...] = (*row, entry.customer_tenant_id, entry.event_id)
        else:
            sql = (
                "UPDATE ledger SET state = ?, reason = ?, updatedAt = ?, etag = ?, entry = ? "
                "WHERE PartitionKey = ? AND RowKey = ? AND etag = ?"
            )
            parameters = (*row, entry.customer_tenant_id, entry.event_id, if_match)
        changed, _ = await asyncio.to_thread(self._run, sql, parameters)
        return etag if changed == 1 else None

    async def query(self, query: LedgerQuery) -> list[LedgerEntry]:
        clauses, parameters = [], []
        for column, value in (
            ("PartitionKey = ?", query.customer_tenant_id),
            ("state = ?", query.state.value if query.state else ""),
            ("reason = ?", query.reason),
            ("updatedAt >= ?", query.since),
        ):
            if value:
                clauses.append(column)
                parameters.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"SELECT entry FROM ledger{where} ORDER BY PartitionKey, RowKey"  # noqa: S608 — fixed clauses; values bound
        _, rows = await asyncio.to_thread(self._run, sql, tuple(parameters))
        return [from_properties(json.loads(row[0])) for row in rows]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
