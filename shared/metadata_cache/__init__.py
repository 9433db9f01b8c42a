"""The agreement-metadata cache: memory (TTL) → shared store (Blob or file) → Partner Center.

- ``CachedMetadataSource`` — the ``MetadataSource`` of the queue path, and ``refresh`` for the timer.
- ``MetadataStore`` — the seam to the shared store: ``BlobMetadataStore`` (production, Azurite) and
  ``FileMetadataStore`` (local runs); ``open_metadata_store(settings)`` picks one.

Importing this package does no I/O and builds no client.
"""

from shared.metadata_cache.blob_store import (
    BlobMetadataStore,
    create_container_if_missing,
    open_container_client,
    open_container_client_from_connection_string,
)
from shared.metadata_cache.cached import CachedMetadataSource, CacheStats, Fetcher, RefreshResult
from shared.metadata_cache.factory import open_metadata_store
from shared.metadata_cache.file_store import FileMetadataStore
from shared.metadata_cache.store import (
    CorruptMetadataDocument,
    MetadataStore,
    MetadataStoreError,
    StoredMetadata,
    document_name,
)

__all__ = [
    "BlobMetadataStore",
    "CacheStats",
    "CachedMetadataSource",
    "CorruptMetadataDocument",
    "Fetcher",
    "FileMetadataStore",
    "MetadataStore",
    "MetadataStoreError",
    "RefreshResult",
    "StoredMetadata",
    "create_container_if_missing",
    "document_name",
    "open_container_client",
    "open_container_client_from_connection_string",
    "open_metadata_store",
]
