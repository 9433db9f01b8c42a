"""Fixtures for the metadata-cache integration tests: Azurite (module-scoped) and a fresh container per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from azure.storage.blob.aio import ContainerClient

from emulators.azurite import AzuriteBlob, azurite  # noqa: F401 - the fixture, re-exported for this folder
from shared.metadata_cache import create_container_if_missing, open_container_client_from_connection_string


@pytest.fixture
async def container(azurite: AzuriteBlob) -> AsyncIterator[ContainerClient]:  # noqa: F811 - the fixture above
    """An empty container of its own for each test, deleted afterwards."""
    name = f"metadata-{uuid.uuid4().hex[:12]}"
    async with open_container_client_from_connection_string(azurite.connection_string, name) as client:
        await create_container_if_missing(client)
        yield client
        await client.delete_container()
