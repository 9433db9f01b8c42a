"""Build the ledger the settings ask for: Azure Table Storage when an account URL (or, locally, a connection
string) is set, else a SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from azure.core.credentials_async import AsyncTokenCredential

from shared.attestation.ledger import Ledger
from shared.credentials import default_credential
from shared.ledger.sqlite_ledger import SqliteLedger
from shared.ledger.table_ledger import (
    TableLedger,
    create_table_if_missing,
    open_table_client,
    open_table_client_from_connection_string,
)
from shared.settings import Settings


@asynccontextmanager
async def open_ledger(
    settings: Settings,
    *,
    credential: AsyncTokenCredential | None = None,
    credential_factory: Callable[[], AsyncTokenCredential] = default_credential,
) -> AsyncIterator[Ledger]:
    """``TableLedger`` (identity-based) if ``LEDGER_ACCOUNT_URL`` is set; ``TableLedger`` over
    ``LEDGER_CONNECTION_STRING`` (Azurite: the table is created if missing); else ``SqliteLedger`` at
    ``LEDGER_PATH``. What it opens is closed on exit."""
    if settings.ledger_account_url:
        async with open_table_client(
            settings.ledger_account_url,
            settings.ledger_table,
            credential=credential,
            credential_factory=credential_factory,
        ) as table:
            yield TableLedger(table)
    elif settings.ledger_connection_string:
        async with open_table_client_from_connection_string(
            settings.ledger_connection_string, settings.ledger_table
        ) as table:
            await create_table_if_missing(table)
            yield TableLedger(table)
    else:
        ledger = SqliteLedger(settings.ledger_path)
        try:
            yield ledger
        finally:
            ledger.close()
