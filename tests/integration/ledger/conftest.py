"""Fixtures for the ledger integration tests: Azurite's Table service (module-scoped) and a fresh table per test;
Azurite's Blob service for the reconciliation reports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from azure.data.tables.aio import TableClient

from emulators.azurite import AzuriteTable, azurite, azurite_table  # noqa: F401 - the fixtures, re-exported here
from shared.ledger import create_table_if_missing, open_table_client_from_connection_string


@pytest.fixture
async def table(azurite_table: AzuriteTable) -> AsyncIterator[TableClient]:  # noqa: F811 - the fixture above
    """An empty table of its own for each test, deleted afterwards."""
    name = f"ledger{uuid.uuid4().hex[:12]}"
    async with open_table_client_from_connection_string(azurite_table.connection_string, name) as client:
        await create_table_if_missing(client)
        yield client
        await client.delete_table()
