"""``BlobMetadataStore``: the metadata cache in an Azure Blob Storage container, shared by every instance.

The store is handed a ``ContainerClient`` and never builds one. ``open_container_client`` builds one
identity-based (``DefaultAzureCredential`` + account URL) for production and
``open_container_client_from_connection_string`` one for Azurite; both close what they opened.
Creating the container is an explicit call (``create_container_if_missing``): in production the
infrastructure creates it, and a missing container is a store failure, not something to paper over.

Guarded writes map onto HTTP conditions: ``if_match=etag`` sends ``If-Match`` (a lost race is 412),
``if_match=None`` sends ``If-None-Match: *`` (a lost race is 409). Azure SDK exceptions are translated
here, once, into ``MetadataStoreError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from enum import Enum
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import ContainerClient, ExponentialRetry

from shared.attestation.metadata import AgreementMetadata
from shared.credentials import default_credential
from shared.metadata_cache.store import (
    MetadataStoreError,
    StoredMetadata,
    decode_document,
    document_name,
    encode_document,
)

_JSON = ContentSettings(content_type="application/json")


def _fail_fast_options() -> dict[str, Any]:
    """Client options for a cache: a few quick retries, not the SDK's 15 s backoff, and short timeouts.

    The cache sits on the queue path; an unreachable store must cost seconds, not minutes, before the
    source falls back to Partner Center.
    """
    return {
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2, random_jitter_range=1),
        "connection_timeout": 5,
        "read_timeout": 10,
    }


class BlobMetadataStore:
    """A ``MetadataStore`` on a Blob container: one JSON blob per agreement type."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    @property
    def container_name(self) -> str:
        return self._container.container_name

    async def read(self, agreement_type: str) -> StoredMetadata | None:
        name = document_name(agreement_type)
        try:
            downloader = await self._container.get_blob_client(name).download_blob()
            data = await downloader.readall()
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "BlobNotFound":
                return None
            raise self._translate(exc, f"read {name}") from exc
        except AzureError as exc:
            raise self._translate(exc, f"read {name}") from exc
        etag = downloader.properties.etag
        return decode_document(data, agreement_type=agreement_type, etag=etag)

    async def write(self, metadata: AgreementMetadata, *, if_match: str | None) -> str | None:
        name = document_name(metadata.agreement_type)
        blob = self._container.get_blob_client(name)
        data = encode_document(metadata)
        try:
            if if_match is None:
                result = await blob.upload_blob(data, overwrite=False, content_settings=_JSON)
            else:
                result = await blob.upload_blob(
                    data,
                    overwrite=True,
                    etag=if_match,
                    match_condition=MatchConditions.IfNotModified,
                    content_settings=_JSON,
                )
        except (ResourceModifiedError, ResourceExistsError) as exc:
            if _error_code(exc) == "ContainerBeingDeleted":
                raise self._translate(exc, f"write {name}") from exc
            return None  # 412 / 409: another writer got there first
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "BlobNotFound":  # deleted under an If-Match write: a lost race too
                return None
            raise self._translate(exc, f"write {name}") from exc
        except AzureError as exc:
            raise self._translate(exc, f"write {name}") from exc
        return str(result["etag"])

    def _translate(self, exc: AzureError, action: str) -> MetadataStoreError:
        code = _error_code(exc)
        detail = type(exc).__name__ + (f" {code}" if code else "")
        lines = (exc.message or str(exc)).splitlines()
        return MetadataStoreError(
            f"metadata cache container {self.container_name!r}: cannot {action}: {detail}: "
            + (lines[0] if lines else "")
        )


def _error_code(exc: AzureError) -> str:
    """The storage service's error code (``BlobNotFound``, ``ContainerNotFound``, …), or ""."""
    code = getattr(exc, "error_code", None)
    if isinstance(code, Enum):
        return str(code.value)
    return str(code or "")


async def create_container_if_missing(container: ContainerClient) -> bool:
    """Create the container unless it exists (local runs and tests); True if this call created it."""
    try:
        await container.create_container()
    except ResourceExistsError:
        return False
    except AzureError as exc:
        raise MetadataStoreError(
            f"cannot create metadata cache container {container.container_name!r}: "
            f"{type(exc).__name__} {_error_code(exc)}".rstrip()
        ) from exc
    return True


@asynccontextmanager
async def open_container_client(
    account_url: str,
    container_name: str,
    *,
    credential: AsyncTokenCredential | None = None,
    credential_factory: Callable[[], AsyncTokenCredential] = default_credential,
    **client_options: Any,
) -> AsyncIterator[ContainerClient]:
    """An identity-based client (production). Without ``credential``, builds ``DefaultAzureCredential``
    with ``credential_factory`` and closes it afterwards; a given credential is the caller's to close.
    """
    async with AsyncExitStack() as stack:
        if credential is None:
            credential = credential_factory()
            stack.push_async_callback(credential.close)
        client = ContainerClient(
            account_url, container_name, credential=credential, **{**_fail_fast_options(), **client_options}
        )
        await stack.enter_async_context(client)
        yield client


@asynccontextmanager
async def open_container_if_set(
    account_url: str,
    container_name: str,
    *,
    credential: AsyncTokenCredential | None = None,
    credential_factory: Callable[[], AsyncTokenCredential] = default_credential,
) -> AsyncIterator[ContainerClient | None]:
    """How every store beside the cache picks its backend: the Blob container (identity-based, closed on exit)
    when ``account_url`` is set, else None — the caller then uses its local folder."""
    if not account_url:
        yield None
        return
    async with open_container_client(
        account_url, container_name, credential=credential, credential_factory=credential_factory
    ) as container:
        yield container


@asynccontextmanager
async def open_container_client_from_connection_string(
    connection_string: str, container_name: str, **client_options: Any
) -> AsyncIterator[ContainerClient]:
    """A client from a connection string (Azurite, local runs); closed afterwards."""
    client = ContainerClient.from_connection_string(
        connection_string, container_name, **{**_fail_fast_options(), **client_options}
    )
    async with client:
        yield client
