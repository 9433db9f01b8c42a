"""FileMetadataStore: one JSON file per agreement type, atomic replace, content-hash ETags."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from shared.attestation.metadata import MCA, MCLOUDA
from shared.metadata_cache import CorruptMetadataDocument, FileMetadataStore, MetadataStoreError, document_name
from shared.metadata_cache.file_store import content_etag
from shared.metadata_cache.testing import make_metadata


async def test_missing_document_reads_as_none(tmp_path: Path) -> None:
    """An agreement type never written reads as None, not as an error."""
    assert await FileMetadataStore(tmp_path).read(MCA) is None


async def test_round_trip_keeps_metadata_and_fetched_at(tmp_path: Path) -> None:
    """A written document reads back equal, including fetchedAt, with the ETag the write returned."""
    store = FileMetadataStore(tmp_path)
    metadata = make_metadata("t-1", extra_templates=("t-0",))
    etag = await store.write(metadata, if_match=None)
    stored = await store.read(MCA)
    assert stored is not None
    assert stored.metadata == metadata
    assert stored.etag == etag


async def test_document_layout_is_one_json_file_per_type(tmp_path: Path) -> None:
    """Each type is its own file at agreements/{agreementType}.json, carrying fetchedAt and a schema version."""
    store = FileMetadataStore(tmp_path)
    await store.write(make_metadata("a"), if_match=None)
    await store.write(make_metadata("b", agreement_type=MCLOUDA), if_match=None)
    assert sorted(p.name for p in (tmp_path / "agreements").iterdir()) == [f"{MCLOUDA}.json", f"{MCA}.json"]
    doc = json.loads((tmp_path / document_name(MCA)).read_text())
    assert doc["schemaVersion"] == 1
    assert doc["fetchedAt"] == "2025-01-01T00:00:00+00:00"
    assert doc["templates"][0]["templateId"] == "a"


async def test_etag_is_the_content_hash(tmp_path: Path) -> None:
    """The ETag is the SHA-256 of the file's bytes."""
    store = FileMetadataStore(tmp_path)
    etag = await store.write(make_metadata(), if_match=None)
    assert etag == content_etag(store.path_of(MCA).read_bytes())


async def test_create_only_write_loses_to_an_existing_document(tmp_path: Path) -> None:
    """if_match=None on an existing document reports the lost race (None) and changes nothing."""
    store = FileMetadataStore(tmp_path)
    await store.write(make_metadata("first"), if_match=None)
    assert await store.write(make_metadata("second"), if_match=None) is None
    stored = await store.read(MCA)
    assert stored is not None
    assert stored.metadata.current.template_id == "first"


async def test_guarded_write_with_a_stale_etag_is_refused(tmp_path: Path) -> None:
    """A write naming an ETag that is no longer current reports the lost race and changes nothing."""
    store = FileMetadataStore(tmp_path)
    old_etag = await store.write(make_metadata("first"), if_match=None)
    new_etag = await store.write(make_metadata("second"), if_match=old_etag)
    assert new_etag is not None
    assert new_etag != old_etag
    assert await store.write(make_metadata("third"), if_match=old_etag) is None
    stored = await store.read(MCA)
    assert stored is not None
    assert stored.metadata.current.template_id == "second"


async def test_guarded_write_on_a_deleted_document_is_refused(tmp_path: Path) -> None:
    """An If-Match write after the document vanished is a lost race too."""
    store = FileMetadataStore(tmp_path)
    etag = await store.write(make_metadata(), if_match=None)
    store.path_of(MCA).unlink()
    assert await store.write(make_metadata(), if_match=etag) is None


async def test_concurrent_creators_have_one_winner(tmp_path: Path) -> None:
    """Of 20 concurrent create-only writes exactly one succeeds."""
    store = FileMetadataStore(tmp_path)
    results = await asyncio.gather(*(store.write(make_metadata(f"t-{i}"), if_match=None) for i in range(20)))
    assert sum(r is not None for r in results) == 1


async def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    """Temporary files are renamed into place or removed, also after a lost race."""
    store = FileMetadataStore(tmp_path)
    etag = await store.write(make_metadata("a"), if_match=None)
    await store.write(make_metadata("b"), if_match=None)
    await store.write(make_metadata("c"), if_match=etag)
    assert [p.name for p in (tmp_path / "agreements").iterdir()] == [f"{MCA}.json"]


async def test_corrupt_document_reports_its_etag(tmp_path: Path) -> None:
    """Unparseable content raises CorruptMetadataDocument carrying the ETag to overwrite it with."""
    store = FileMetadataStore(tmp_path)
    path = store.path_of(MCA)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"agreementType": "MicrosoftCustomerAgreement"}')
    with pytest.raises(CorruptMetadataDocument) as caught:
        await store.read(MCA)
    assert caught.value.etag == content_etag(path.read_bytes())
    assert await store.write(make_metadata(), if_match=caught.value.etag) is not None


async def test_document_of_another_type_is_corrupt(tmp_path: Path) -> None:
    """A file holding a different agreement type than its name is not trusted."""
    store = FileMetadataStore(tmp_path)
    await store.write(make_metadata(agreement_type=MCLOUDA), if_match=None)
    store.path_of(MCLOUDA).rename(store.path_of(MCA))
    with pytest.raises(CorruptMetadataDocument):
        await store.read(MCA)


@pytest.mark.parametrize("agreement_type", ["../escape", "a/b", "", "x" * 101, "Microsoft Customer"])
async def test_unsafe_agreement_type_is_refused(tmp_path: Path, agreement_type: str) -> None:
    """An agreement type that is not a plain name never becomes a path."""
    with pytest.raises(ValueError, match="not a valid agreement type"):
        await FileMetadataStore(tmp_path).read(agreement_type)


async def test_unwritable_folder_is_a_store_error(tmp_path: Path) -> None:
    """File system failures surface as MetadataStoreError, which the cache tolerates."""
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    with pytest.raises(MetadataStoreError):
        await FileMetadataStore(blocker).write(make_metadata(), if_match=None)
