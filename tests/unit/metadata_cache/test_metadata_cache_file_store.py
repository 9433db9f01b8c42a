"""FileMetadataStore: one JSON file per agreement type, atomic replace, content-hash ETags.

What every store promises (ETag-guarded writes, lost races, corrupt documents) is pinned once for all stores in
tests/integration/metadata_cache/test_metadata_store_contract.py; here is what only the file store does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.attestation.metadata import MCA, MCLOUDA
from shared.metadata_cache import FileMetadataStore, MetadataStoreError, document_name
from shared.metadata_cache.file_store import content_etag
from shared.metadata_cache.testing import make_metadata


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


async def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    """Temporary files are renamed into place or removed, also after a lost race."""
    store = FileMetadataStore(tmp_path)
    etag = await store.write(make_metadata("a"), if_match=None)
    await store.write(make_metadata("b"), if_match=None)
    await store.write(make_metadata("c"), if_match=etag)
    assert [p.name for p in (tmp_path / "agreements").iterdir()] == [f"{MCA}.json"]


async def test_unwritable_folder_is_a_store_error(tmp_path: Path) -> None:
    """File system failures surface as MetadataStoreError, which the cache tolerates."""
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    with pytest.raises(MetadataStoreError):
        await FileMetadataStore(blocker).write(make_metadata(), if_match=None)
