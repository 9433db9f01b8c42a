"""Build the metadata store the settings ask for: Blob Storage when an account URL is set, else a folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from azure.core.credentials_async import AsyncTokenCredential

from shared.credentials import default_credential
from shared.metadata_cache.blob_store import BlobMetadataStore, open_container_if_set
from shared.metadata_cache.file_store import FileMetadataStore
from shared.metadata_cache.store import MetadataStore
from shared.settings import Settings


@asynccontextmanager
async def open_metadata_store(
    settings: Settings,
    *,
    credential: AsyncTokenCredential | None = None,
    credential_factory: Callable[[], AsyncTokenCredential] = default_credential,
) -> AsyncIterator[MetadataStore]:
    """``BlobMetadataStore`` (identity-based) if ``METADATA_CACHE_ACCOUNT_URL`` is set, else
    ``FileMetadataStore`` under ``METADATA_CACHE_DIR``. Clients it opens are closed on exit."""
    async with open_container_if_set(
        settings.metadata_cache_account_url,
        settings.metadata_cache_container,
        credential=credential,
        credential_factory=credential_factory,
    ) as container:
        yield FileMetadataStore(settings.metadata_cache_dir) if container is None else BlobMetadataStore(container)
