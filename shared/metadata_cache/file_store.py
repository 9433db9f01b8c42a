"""``FileMetadataStore``: the metadata cache in a local folder, for runs without Azure Storage.

One JSON file per agreement type under ``root`` (``root/agreements/{agreementType}.json``). A write goes
to a temporary file in the same folder and then replaces the document atomically (``os.replace``), so a
reader sees the old document or the new one, never half of one. The ETag is the SHA-256 of the content.

The guard: a create-only write (``if_match=None``) hard-links the temporary file into place, which fails
if the document already exists, so concurrent creators cannot both win. An ``if_match`` write compares the
current content hash under a process-wide lock and then replaces; between processes that compare is
best-effort (local runs only — production uses Blob Storage and its ETags).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from shared.attestation.metadata import AgreementMetadata
from shared.metadata_cache.store import (
    MetadataStoreError,
    StoredMetadata,
    decode_document,
    document_name,
    encode_document,
)


def content_etag(data: bytes) -> str:
    """The ETag of a document's bytes."""
    return hashlib.sha256(data).hexdigest()


class FileMetadataStore:
    """A ``MetadataStore`` on the local file system; all file work runs in a worker thread."""

    _guard = threading.Lock()  # one check-then-replace at a time in this process

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_of(self, agreement_type: str) -> Path:
        """Where the document of ``agreement_type`` lives."""
        return self.root / document_name(agreement_type)

    async def read(self, agreement_type: str) -> StoredMetadata | None:
        path = self.path_of(agreement_type)
        data = await asyncio.to_thread(self._read_bytes, path)
        if data is None:
            return None
        return decode_document(data, agreement_type=agreement_type, etag=content_etag(data))

    async def write(self, metadata: AgreementMetadata, *, if_match: str | None) -> str | None:
        path = self.path_of(metadata.agreement_type)
        data = encode_document(metadata)
        return await asyncio.to_thread(self._write_guarded, path, data, if_match)

    @staticmethod
    def _read_bytes(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MetadataStoreError(f"cannot read metadata cache file {path}: {exc}") from exc

    def _write_guarded(self, path: Path, data: bytes, if_match: str | None) -> str | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._guard:
                if if_match is None:
                    return self._create(path, data)
                current = self._read_bytes(path)
                if current is None or content_etag(current) != if_match:
                    return None
                tmp = self._write_temp(path, data)
                try:
                    os.replace(tmp, path)
                except OSError:
                    tmp.unlink(missing_ok=True)
                    raise
                return content_etag(data)
        except OSError as exc:
            raise MetadataStoreError(f"cannot write metadata cache file {path}: {exc}") from exc

    def _create(self, path: Path, data: bytes) -> str | None:
        tmp = self._write_temp(path, data)
        try:
            os.link(tmp, path)  # atomic, and fails if another writer created the document first
        except FileExistsError:
            return None
        except OSError:
            # A file system without hard links: check, then replace (best-effort, as documented).
            if path.exists():
                return None
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return content_etag(data)

    @staticmethod
    def _write_temp(path: Path, data: bytes) -> Path:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)
