"""Where the daily reconciliation leaves its reports: a Blob container (Azure, Azurite) or a local folder.

``open_report_store(settings)`` picks one the way the metadata cache does: Blob Storage, identity-based, when
``RECONCILE_REPORT_ACCOUNT_URL`` is set, else the folder ``RECONCILE_REPORT_DIR``. A report is written once
under a name of its own (the run's time is in it); nothing is ever overwritten, so no ETag is needed.
Azure SDK and file-system errors are translated here, once, into ``ReportStoreError``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from shared.credentials import default_credential
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.storage.blob.aio import ContainerClient


class ReportStoreError(Exception):
    """A report could not be written (unreachable, denied, no such container or folder)."""


class ReportStore(Protocol):
    """Somewhere to put one finished report."""

    async def put(self, name: str, text: str, content_type: str) -> str:
        """Write ``text`` as ``name``; return where it is (a URL or a path). Raises ``ReportStoreError``."""
        ...


class FileReportStore:
    """Reports as files under ``root`` (local runs); written to a temporary name, then renamed into place."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    async def put(self, name: str, text: str, content_type: str) -> str:
        return await asyncio.to_thread(self._write, self.root / name, text)

    @staticmethod
    def _write(path: Path, text: str) -> str:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, path)
        except OSError as exc:
            raise ReportStoreError(f"cannot write report {path}: {exc}") from exc
        return str(path)


class BlobReportStore:
    """Reports as blobs in one container (created by the infrastructure, or by the caller for Azurite)."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    async def put(self, name: str, text: str, content_type: str) -> str:
        from azure.core.exceptions import AzureError
        from azure.storage.blob import ContentSettings

        blob = self._container.get_blob_client(name)
        try:
            await blob.upload_blob(
                text.encode("utf-8"), overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
        except AzureError as exc:
            code = getattr(exc, "error_code", None) or ""
            raise ReportStoreError(
                f"cannot write report {name!r} to container {self._container.container_name!r}: "
                f"{type(exc).__name__} {code}".rstrip()
            ) from exc
        return str(blob.url)


@asynccontextmanager
async def open_report_store(
    settings: Settings,
    *,
    credential: AsyncTokenCredential | None = None,
    credential_factory: Callable[[], AsyncTokenCredential] = default_credential,
) -> AsyncIterator[ReportStore]:
    """``BlobReportStore`` (identity-based) if ``RECONCILE_REPORT_ACCOUNT_URL`` is set, else ``FileReportStore``
    under ``RECONCILE_REPORT_DIR``. What it opens is closed on exit."""
    from shared.metadata_cache.blob_store import open_container_if_set

    async with open_container_if_set(
        settings.reconcile_report_account_url,
        settings.reconcile_report_container,
        credential=credential,
        credential_factory=credential_factory,
    ) as container:
        yield FileReportStore(settings.reconcile_report_dir) if container is None else BlobReportStore(container)
