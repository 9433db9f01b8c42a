"""The pause marker on Blob Storage (Azurite): the same ETag guard as the file store, over If-Match / If-None-Match."""

from __future__ import annotations

import pytest
from azure.storage.blob.aio import ContainerClient

from shared.metadata_cache.pause_store import BlobPauseStore, SharedPauseMarker, StoredPause

pytestmark = pytest.mark.integration


async def test_blob_marker_creates_once_and_refuses_a_stale_etag(container: ContainerClient) -> None:
    """A second create loses; a write under an old ETag loses; the marker holds the winning time."""
    store = BlobPauseStore(container)
    assert await store.read() is None
    first = await store.write(2_000_000_000.5, if_match=None)
    assert first is not None
    assert await store.write(2_000_000_001.0, if_match=None) is None
    second = await store.write(2_000_000_002.0, if_match=first)
    assert second is not None

    assert await store.write(2_000_000_003.0, if_match=first) is None
    assert await store.read() == StoredPause(2_000_000_002.0, second)


async def test_blob_marker_extends_but_never_shortens(container: ContainerClient) -> None:
    """``SharedPauseMarker`` over the blob: a later time moves it, an earlier one does not."""
    marker = SharedPauseMarker(BlobPauseStore(container))
    await marker.extend(4_000_000_000.0)
    await marker.extend(3_000_000_000.0)

    assert await marker.read() == 4_000_000_000.0
