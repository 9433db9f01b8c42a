"""The Azure credential the Storage adapters (metadata cache, pause marker, reports, ledger) build when none is given."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential


def default_credential() -> AsyncTokenCredential:
    """``DefaultAzureCredential``: the managed identity in Azure, ``az login`` on a laptop."""
    from azure.identity.aio import DefaultAzureCredential  # lazy: pulls in much of azure.identity

    return DefaultAzureCredential()
