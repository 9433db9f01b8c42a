"""The ``MetadataStore`` contract, once, for every store: the file store and the Blob store on Azurite.

Each test runs per store; the Azurite variant is marked ``integration`` (a real Blob service on 127.0.0.1), the
file variant needs no server. What only one store does (the file layout and content-hash ETags, the blob's content
type and container handling) stays in that store's own tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob.aio import ContainerClient

from shared.attestation.metadata import MCA, MCLOUDA
from shared.metadata_cache import (
    BlobMetadataStore,
    CorruptMetadataDocument,
    FileMetadataStore,
    MetadataStore,
    document_name,
)
from shared.metadata_cache.file_store import content_etag
from shared.metadata_cache.store import encode_document
from shared.metadata_cache.testing import make_metadata


@dataclass(frozen=True)
class StoreUnderTest:
    """A store, and what a test needs to do to its documents behind its back."""

    store: MetadataStore
    put_raw: Callable[[str, bytes], Awaitable[str]]  # replace a type's document with these bytes; its new ETag
    delete: Callable[[str], Awaitable[None]]  # remove a type's document


def _file_store(root: Path) -> StoreUnderTest:
    store = FileMetadataStore(root)

    async def put_raw(agreement_type: str, data: bytes) -> str:
        path = store.path_of(agreement_type)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return content_etag(data)

    async def delete(agreement_type: str) -> None:
        store.path_of(agreement_type).unlink()

    return StoreUnderTest(store, put_raw, delete)


def _blob_store(container: ContainerClient) -> StoreUnderTest:
    async def put_raw(agreement_type: str, data: bytes) -> str:
        result = await container.get_blob_client(document_name(agreement_type)).upload_blob(data, overwrite=True)
        return str(result["etag"])

    async def delete(agreement_type: str) -> None:
        await container.delete_blob(document_name(agreement_type))

    return StoreUnderTest(BlobMetadataStore(container), put_raw, delete)


@pytest.fixture(
    params=[pytest.param("file", id="file"), pytest.param("azurite", id="azurite", marks=pytest.mark.integration)]
)
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    """Each store in turn; the Azurite one over a fresh container (the ``container`` fixture of this folder)."""
    if request.param == "file":
        return _file_store(tmp_path)
    container: ContainerClient = request.getfixturevalue("container")
    return _blob_store(container)


async def test_missing_document_reads_as_none(subject: StoreUnderTest) -> None:
    """An agreement type never written reads as None, not as an error."""
    assert await subject.store.read(MCA) is None


async def test_round_trip_keeps_metadata_and_fetched_at(subject: StoreUnderTest) -> None:
    """A written document reads back equal, including fetchedAt, with the ETag the write returned."""
    metadata = make_metadata("t-1", extra_templates=("t-0",))
    etag = await subject.store.write(metadata, if_match=None)
    stored = await subject.store.read(MCA)
    assert stored is not None
    assert stored.metadata == metadata
    assert stored.etag == etag


async def test_create_only_write_loses_to_an_existing_document(subject: StoreUnderTest) -> None:
    """if_match=None on an existing document reports the lost race (None) and changes nothing."""
    await subject.store.write(make_metadata("first"), if_match=None)
    assert await subject.store.write(make_metadata("second"), if_match=None) is None
    stored = await subject.store.read(MCA)
    assert stored is not None
    assert stored.metadata.current.template_id == "first"


async def test_guarded_write_with_a_stale_etag_is_refused(subject: StoreUnderTest) -> None:
    """A write naming an ETag that is no longer current reports the lost race and changes nothing."""
    old_etag = await subject.store.write(make_metadata("first"), if_match=None)
    new_etag = await subject.store.write(make_metadata("second"), if_match=old_etag)
    assert new_etag is not None
    assert new_etag != old_etag
    assert await subject.store.write(make_metadata("third"), if_match=old_etag) is None
    stored = await subject.store.read(MCA)
    assert stored is not None
    assert stored.metadata.current.template_id == "second"


async def test_guarded_write_on_a_deleted_document_is_refused(subject: StoreUnderTest) -> None:
    """An If-Match write after the document vanished is a lost race too."""
    etag = await subject.store.write(make_metadata(), if_match=None)
    await subject.delete(MCA)
    assert await subject.store.write(make_metadata(), if_match=etag) is None


async def test_concurrent_creators_have_one_winner(subject: StoreUnderTest) -> None:
    """Of 20 concurrent create-only writes exactly one succeeds."""
    results = await asyncio.gather(*(subject.store.write(make_metadata(f"t-{i}"), if_match=None) for i in range(20)))
    assert sum(r is not None for r in results) == 1


async def test_corrupt_document_reports_its_etag(subject: StoreUnderTest) -> None:
    """Unparseable content raises CorruptMetadataDocument carrying the ETag to overwrite it with."""
    etag = await subject.put_raw(MCA, b'{"agreementType": "MicrosoftCustomerAgreement"}')
    with pytest.raises(CorruptMetadataDocument) as caught:
        await subject.store.read(MCA)
    assert caught.value.etag == etag
    assert await subject.store.write(make_metadata(), if_match=caught.value.etag) is not None


async def test_document_of_another_type_is_corrupt(subject: StoreUnderTest) -> None:
    """A document holding a different agreement type than its name is not trusted."""
    await subject.put_raw(MCA, encode_document(make_metadata(agreement_type=MCLOUDA)))
    with pytest.raises(CorruptMetadataDocument):
        await subject.store.read(MCA)


@pytest.mark.parametrize("agreement_type", ["../escape", "a/b", "", "x" * 101, "Microsoft Customer"])
async def test_unsafe_agreement_type_is_refused(subject: StoreUnderTest, agreement_type: str) -> None:
    """An agreement type that is not a plain name never becomes a path or a blob name."""
    with pytest.raises(ValueError, match="not a valid agreement type"):
        await subject.store.read(agreement_type)
