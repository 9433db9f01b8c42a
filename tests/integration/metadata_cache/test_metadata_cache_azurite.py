"""BlobMetadataStore and CachedMetadataSource against a real Blob service (Azurite on 127.0.0.1).

The store contract itself runs for every store in test_metadata_store_contract.py."""

from __future__ import annotations

import asyncio
import time

import pytest
from azure.storage.blob.aio import ContainerClient, LinearRetry

from emulators.azurite import AzuriteBlob, free_port
from shared.attestation.metadata import MCA
from shared.metadata_cache import (
    BlobMetadataStore,
    CachedMetadataSource,
    MetadataStoreError,
    create_container_if_missing,
    document_name,
    open_container_client_from_connection_string,
)
from shared.metadata_cache.testing import ManualClock, RecordingFetcher, RecordingStore, make_metadata

pytestmark = pytest.mark.integration

TTL = 3600.0
NO_RETRY = LinearRetry(backoff=0, random_jitter_range=0, retry_total=0)


async def test_document_is_a_json_blob(container: ContainerClient) -> None:
    """A written document is a blob of content type application/json (the round trip is the store contract's)."""
    await BlobMetadataStore(container).write(make_metadata("t-1", extra_templates=("t-0",)), if_match=None)

    properties = await container.get_blob_client(document_name(MCA)).get_blob_properties()
    assert properties.content_settings.content_type == "application/json"


async def test_missing_container_is_a_store_error_until_created(azurite: AzuriteBlob) -> None:
    """Without its container the store fails clearly; create_container_if_missing is explicit and idempotent."""
    async with open_container_client_from_connection_string(azurite.connection_string, "not-created-yet") as client:
        store = BlobMetadataStore(client)
        with pytest.raises(MetadataStoreError, match="ContainerNotFound"):
            await store.read(MCA)
        with pytest.raises(MetadataStoreError, match="ContainerNotFound"):
            await store.write(make_metadata(), if_match=None)
        assert await create_container_if_missing(client) is True
        assert await create_container_if_missing(client) is False
        assert await store.write(make_metadata(), if_match=None) is not None
        await client.delete_container()


async def test_unreachable_storage_is_a_store_error() -> None:
    """Nothing listening at the account URL gives MetadataStoreError, promptly, not an SDK exception."""
    port = free_port()
    connection_string = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    started = time.monotonic()
    async with open_container_client_from_connection_string(
        connection_string, "metadata", retry_policy=NO_RETRY
    ) as client:
        with pytest.raises(MetadataStoreError, match="ServiceRequestError"):
            await BlobMetadataStore(client).read(MCA)
    assert time.monotonic() - started < 10


async def test_second_instance_uses_the_first_instances_fetch(azurite: AzuriteBlob, container: ContainerClient) -> None:
    """Instance A fetches and stores; instance B (own client, empty memory) reads the blob and sends no GET."""
    clock = ManualClock()
    fetch_a, fetch_b = RecordingFetcher(clock), RecordingFetcher(clock)
    source_a = CachedMetadataSource(BlobMetadataStore(container), fetch_a, ttl_seconds=TTL, clock=clock)
    await source_a.get(MCA)

    async with open_container_client_from_connection_string(
        azurite.connection_string, container.container_name
    ) as other_client:
        source_b = CachedMetadataSource(BlobMetadataStore(other_client), fetch_b, ttl_seconds=TTL, clock=clock)
        metadata = await source_b.get(MCA)

    assert metadata.current.template_id == "tmpl-1"
    assert (fetch_a.calls, fetch_b.calls) == ([MCA], [])
    assert source_b.stats.store_hits == 1


async def test_hundred_concurrent_gets_on_two_instances(azurite: AzuriteBlob, container: ContainerClient) -> None:
    """Two cold instances × 100 concurrent gets: one GET per instance, one blob write wins, both agree."""
    clock = ManualClock()
    async with open_container_client_from_connection_string(
        azurite.connection_string, container.container_name
    ) as other_client:
        fetchers = [RecordingFetcher(clock, "tmpl-a"), RecordingFetcher(clock, "tmpl-b")]
        stores = [RecordingStore(BlobMetadataStore(container)), RecordingStore(BlobMetadataStore(other_client))]
        gate = asyncio.Event()
        for fetcher in fetchers:
            fetcher.gate = gate
        sources = [
            CachedMetadataSource(store, fetcher, ttl_seconds=TTL, clock=clock)
            for store, fetcher in zip(stores, fetchers, strict=True)
        ]
        waiting = [asyncio.create_task(s.get(MCA)) for s in sources for _ in range(100)]
        await asyncio.gather(*(f.called.wait() for f in fetchers))
        gate.set()
        results = await asyncio.gather(*waiting)

    assert [f.calls for f in fetchers] == [[MCA], [MCA]]
    successful_writes = [w for s in stores for w in s.writes if w[2] is not None]
    assert len(successful_writes) == 1
    assert len({r.current.template_id for r in results}) == 1
    stored = await BlobMetadataStore(container).read(MCA)
    assert stored is not None
    assert stored.metadata.current.template_id == results[0].current.template_id


async def test_refresh_reaches_other_instances_through_the_blob(
    azurite: AzuriteBlob, container: ContainerClient
) -> None:
    """The timer's refresh writes the blob under If-Match; a queue instance adopts it when its memory expires."""
    clock = ManualClock()
    timer_fetch, queue_fetch = RecordingFetcher(clock), RecordingFetcher(clock)
    timer = CachedMetadataSource(BlobMetadataStore(container), timer_fetch, ttl_seconds=TTL, clock=clock)
    async with open_container_client_from_connection_string(
        azurite.connection_string, container.container_name
    ) as other_client:
        queue = CachedMetadataSource(BlobMetadataStore(other_client), queue_fetch, ttl_seconds=TTL, clock=clock)
        await queue.get(MCA)

        clock.advance(TTL / 2)
        timer_fetch.template_id = "tmpl-2"
        result = await timer.refresh(MCA)
        assert (result.previous_template_id, result.current_template_id, result.changed) == ("tmpl-1", "tmpl-2", True)
        assert result.stored

        assert (await queue.get(MCA)).current.template_id == "tmpl-1"  # memory still fresh
        clock.advance(TTL / 2)
        assert (await queue.get(MCA)).current.template_id == "tmpl-2"
    assert queue_fetch.calls == [MCA]


async def test_stale_blob_is_used_when_partner_center_is_down(container: ContainerClient) -> None:
    """A restarted instance serves the expired templateId from the blob when Partner Center is unreachable."""
    from shared.attestation.errors import ConnectionFailed

    clock = ManualClock()
    await BlobMetadataStore(container).write(make_metadata("stored", fetched_at=clock()), if_match=None)
    clock.advance(TTL * 3)
    fetcher = RecordingFetcher(clock)
    fetcher.error = ConnectionFailed("ConnectError")
    source = CachedMetadataSource(BlobMetadataStore(container), fetcher, ttl_seconds=TTL, clock=clock)

    assert (await source.get(MCA)).current.template_id == "stored"
    assert source.stats.stale_served == 1


async def test_unreachable_blob_does_not_stop_the_queue_path() -> None:
    """With the storage endpoint down, metadata still comes from Partner Center."""
    port = free_port()
    connection_string = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    clock = ManualClock()
    fetcher = RecordingFetcher(clock)
    async with open_container_client_from_connection_string(
        connection_string, "metadata", retry_policy=NO_RETRY
    ) as client:
        source = CachedMetadataSource(BlobMetadataStore(client), fetcher, ttl_seconds=TTL, clock=clock)
        assert (await source.get(MCA)).current.template_id == "tmpl-1"
    assert source.stats.store_errors == 1
