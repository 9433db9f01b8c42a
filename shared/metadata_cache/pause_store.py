"""The shared "paused until" marker: one small document beside the metadata cache, ETag-guarded.

When Partner Center throttles one instance, every instance must wait: they share one budget per partner
tenant. The instances already share the metadata cache's storage, so the marker lives there, with no new
service: ``throttle/paused-until.json`` in the Blob container (Azure) or under the cache folder (tests,
``make run``). Its content: ``{"schemaVersion": 1, "pausedUntil": <epoch seconds>}``.

- ``PauseStore``: read the marker with its ETag; write it if the ETag still matches (``None``: if absent).
  ``FilePauseStore`` guards the compare-and-replace with an exclusive ``flock`` on a lock file, so it holds
  between processes on one machine; ``BlobPauseStore`` maps it onto ``If-Match`` / ``If-None-Match: *``.
- ``SharedPauseMarker``: the limiter's ``SharedPause`` over a store. ``extend`` only ever lengthens the pause
  (re-reading after a lost race); failures of the store are logged and read as "no pause" — the marker
  helps instances cooperate, and losing it must not stop attestation (each instance still honours its own
  429s). The limiter caches reads for ``marker_ttl`` (1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import ContainerClient

from shared.metadata_cache.blob_store import open_container_if_set
from shared.metadata_cache.store import MetadataStoreError
from shared.settings import Settings

log = logging.getLogger(__name__)

MARKER_NAME = "throttle/paused-until.json"
_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class StoredPause:
    """The marker as read, with the ETag that guards the next write."""

    until: float  # epoch seconds
    etag: str


class PauseStore(Protocol):
    """Where the marker lives; raises ``MetadataStoreError`` when the storage fails."""

    async def read(self) -> StoredPause | None: ...

    async def write(self, until: float, *, if_match: str | None) -> str | None:
        """Store ``until`` if the marker still has ETag ``if_match`` (None: if there is none yet); the new ETag,
        or None when another writer got there first."""
        ...


def encode_marker(until: float) -> bytes:
    # Not rounded: the writer compares what it reads back with what it wrote (a float's repr round-trips).
    return json.dumps({"schemaVersion": _SCHEMA_VERSION, "pausedUntil": until}).encode("utf-8")


def decode_marker(data: bytes) -> float:
    """The marker's epoch seconds; an unreadable marker is no pause (0), and the next writer replaces it."""
    try:
        until = json.loads(data.decode("utf-8"))["pausedUntil"]
    except (ValueError, TypeError, KeyError):
        return 0.0
    return float(until) if isinstance(until, int | float) and math.isfinite(until) else 0.0


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FilePauseStore:
    """The marker in a local folder; a compare-and-replace under ``flock`` (Linux and macOS)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = Path(root) / MARKER_NAME

    async def read(self) -> StoredPause | None:
        data = await asyncio.to_thread(self._read_bytes)
        return None if data is None else StoredPause(decode_marker(data), _etag(data))

    async def write(self, until: float, *, if_match: str | None) -> str | None:
        return await asyncio.to_thread(self._write, encode_marker(until), if_match)

    def _read_bytes(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MetadataStoreError(f"cannot read the pause marker {self.path}: {exc}") from exc

    def _write(self, data: bytes, if_match: str | None) -> str | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with (self.path.parent / ".paused-until.lock").open("a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                current = self._read_bytes()
                if (None if current is None else _etag(current)) != if_match:
                    return None
                fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".paused-until.", suffix=".tmp")
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                try:
                    os.replace(name, self.path)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.unlink(name)
                    raise
                return _etag(data)
        except OSError as exc:
            raise MetadataStoreError(f"cannot write the pause marker {self.path}: {exc}") from exc


class BlobPauseStore:
    """The marker as a blob in the metadata cache's container."""

    def __init__(self, container: ContainerClient) -> None:
        self._blob = container.get_blob_client(MARKER_NAME)

    async def read(self) -> StoredPause | None:
        try:
            downloader = await self._blob.download_blob()
            data = await downloader.readall()
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise MetadataStoreError(f"cannot read the pause marker: {type(exc).__name__}") from exc
        return StoredPause(decode_marker(data), str(downloader.properties.etag))

    async def write(self, until: float, *, if_match: str | None) -> str | None:
        json_type = ContentSettings(content_type="application/json")
        try:
            if if_match is None:
                result = await self._blob.upload_blob(encode_marker(until), overwrite=False, content_settings=json_type)
            else:
                result = await self._blob.upload_blob(
                    encode_marker(until),
                    overwrite=True,
                    etag=if_match,
                    match_condition=MatchConditions.IfNotModified,
                    content_settings=json_type,
                )
        except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError):
            return None  # 412 / 409 / deleted under If-Match: another writer got there first
        except AzureError as exc:
            raise MetadataStoreError(f"cannot write the pause marker: {type(exc).__name__}") from exc
        return str(result["etag"])


class SharedPauseMarker:
    """The limiter's ``SharedPause`` over a ``PauseStore``: extend-only, and a failing store is no pause."""

    def __init__(self, store: PauseStore, *, attempts: int = 3, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._attempts = attempts
        self._clock = clock

    async def read(self) -> float | None:
        try:
            stored = await self._store.read()
        except MetadataStoreError as exc:
            _log_failure("read", exc)
            return None
        return None if stored is None or stored.until <= self._clock() else stored.until

    async def extend(self, until: float) -> None:
        for _ in range(self._attempts):
            try:
                stored = await self._store.read()
                if stored is not None and stored.until >= until:
                    return
                if await self._store.write(until, if_match=stored.etag if stored else None) is not None:
                    return
            except MetadataStoreError as exc:
                _log_failure("write", exc)
                return
        # Lost every race: other instances are writing pauses of their own at this very moment, which is enough.


def _log_failure(action: str, exc: MetadataStoreError) -> None:
    log.warning(
        "pause marker %s failed; each instance honours its own 429s meanwhile: %s",
        action,
        exc,
        extra={"event": "partner_center.pause_marker_failed", "action": action},
    )


@asynccontextmanager
async def open_pause_store(settings: Settings) -> AsyncIterator[PauseStore]:
    """The marker where the metadata cache lives: its Blob container, or its folder."""
    async with open_container_if_set(
        settings.metadata_cache_account_url, settings.metadata_cache_container
    ) as container:
        yield FilePauseStore(settings.metadata_cache_dir) if container is None else BlobPauseStore(container)
