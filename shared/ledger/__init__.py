"""Adapters of the ``Ledger`` port (``shared.attestation.ledger``): SQLite and Azure Table Storage."""

from shared.ledger.factory import open_ledger
from shared.ledger.sqlite_ledger import SqliteLedger
from shared.ledger.table_ledger import (
    TableLedger,
    create_table_if_missing,
    open_table_client,
    open_table_client_from_connection_string,
)

__all__ = [
    "SqliteLedger",
    "TableLedger",
    "create_table_if_missing",
    "open_ledger",
    "open_table_client",
    "open_table_client_from_connection_string",
]
