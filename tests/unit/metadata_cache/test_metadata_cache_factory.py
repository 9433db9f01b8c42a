"""open_metadata_store and open_container_client: the right store for the settings, and nothing left open."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken

from shared.metadata_cache import BlobMetadataStore, FileMetadataStore, open_container_client, open_metadata_store
from shared.settings import Settings

REQUIRED = {"PARTNER_TENANT_ID": "tenant", "PARTNER_CENTER_CLIENT_ID": "client"}


class RecordingCredential:
    """An async token credential that records being closed and never hands out a token."""

    def __init__(self) -> None:
        self.closed = 0

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise AssertionError("no request is expected")

    async def close(self) -> None:
        self.closed += 1

    async def __aenter__(self) -> RecordingCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def test_file_store_without_an_account_url(tmp_path: Path) -> None:
    """With METADATA_CACHE_ACCOUNT_URL empty the settings give a file store under METADATA_CACHE_DIR."""
    settings = Settings.from_environment({**REQUIRED, "METADATA_CACHE_DIR": str(tmp_path)})
    async with open_metadata_store(settings) as store:
        assert isinstance(store, FileMetadataStore)
        assert store.root == tmp_path


async def test_blob_store_is_identity_based_and_closes_its_credential() -> None:
    """With an account URL the store is a Blob container reached with a built credential, closed on exit."""
    built: list[RecordingCredential] = []

    def factory() -> RecordingCredential:
        built.append(RecordingCredential())
        return built[-1]

    settings = Settings.from_environment(
        {
            **REQUIRED,
            "METADATA_CACHE_ACCOUNT_URL": "https://acct.blob.core.windows.net",
            "METADATA_CACHE_CONTAINER": "agreement-metadata",
        }
    )
    async with open_metadata_store(settings, credential_factory=factory) as store:
        assert isinstance(store, BlobMetadataStore)
        assert store.container_name == "agreement-metadata"
        assert built[0].closed == 0
    assert [c.closed for c in built] == [1]


async def test_given_credential_is_left_to_its_owner() -> None:
    """A credential passed in is not closed by the client context: the caller opened it."""
    credential = RecordingCredential()
    async with open_container_client(
        "https://acct.blob.core.windows.net",
        "agreement-metadata",
        credential=credential,
    ) as container:
        assert container.container_name == "agreement-metadata"
    assert credential.closed == 0


def test_import_does_no_io_and_builds_no_client() -> None:
    """Importing the package builds no credential and opens no socket (checked in a fresh interpreter)."""
    probe = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise RuntimeError('socket at import')\n"
        "socket.socket.connect = refuse\n"
        "import shared.metadata_cache\n"
        "assert 'azure.identity.aio' not in sys.modules, 'DefaultAzureCredential imported at import time'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)  # noqa: S603
