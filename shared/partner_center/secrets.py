"""Every source of a secret the app reads: the environment (local runs), a file (a local certificate), Key Vault.

``open_secret_sources`` picks them from the settings: Key Vault when ``KEY_VAULT_URL`` is set (production,
reached with the app's managed identity), else the environment and files (local runs only).
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from shared.settings import ClientCredentialType, Settings

if TYPE_CHECKING:  # imported lazily at run time: azure-keyvault is only needed when Key Vault is configured
    from azure.keyvault.secrets.aio import SecretClient

log = logging.getLogger(__name__)


class SecretSource(Protocol):
    """Where a secret lives: the environment for local runs, Key Vault in production."""

    async def read(self) -> str: ...

    async def write(self, value: str) -> None:
        """Store a rotated value (may be a no-op)."""
        ...


class InMemorySecret:
    """A secret given at start (from the environment); rotation updates only this process's copy."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "InMemorySecret(<redacted>)"

    async def read(self) -> str:
        return self._value

    async def write(self, value: str) -> None:
        self._value = value


class FileSecret:
    """A secret kept in a local file (the certificate PEM of local runs); read when first needed."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)

    def __repr__(self) -> str:
        return f"FileSecret({str(self._path)!r})"

    async def read(self) -> str:
        try:
            return self._path.read_text(encoding="ascii")
        except OSError as exc:
            raise LookupError(f"cannot read {self._path}: {exc.strerror}") from None

    async def write(self, value: str) -> None:
        raise NotImplementedError("a certificate file is never rewritten")


class KeyVaultSecret:
    """One Key Vault secret as a ``SecretSource``. ``write`` stores a new version only if allowed.

    Write-back needs the *Key Vault Secrets Officer* role on the secret; without it (``write_back`` False)
    a rotated refresh token lives in memory only, which is safe: Entra does not revoke the old one.
    """

    def __init__(self, client: SecretClient, name: str, *, write_back: bool = False) -> None:
        self._client = client
        self._name = name
        self._write_back = write_back

    def __repr__(self) -> str:
        return f"KeyVaultSecret({self._name!r})"

    async def read(self) -> str:
        secret = await self._client.get_secret(self._name)
        if not secret.value:
            raise LookupError(f"Key Vault secret {self._name} is empty")
        return secret.value

    async def write(self, value: str) -> None:
        if not self._write_back:
            return
        await self._client.set_secret(self._name, value, content_type="refresh-token")
        log.info("rotated secret stored", extra={"event": "auth.secret_rotated", "secret_name": self._name})


async def open_secret_sources(
    settings: Settings, stack: AsyncExitStack
) -> tuple[SecretSource | None, SecretSource | None]:
    """(refresh token, client credential): from Key Vault when KEY_VAULT_URL is set, else from the environment.

    The client credential is a secret or a certificate PEM, as ``PARTNER_CENTER_CLIENT_CREDENTIAL_TYPE`` says.
    """
    if settings.key_vault_url:
        from azure.identity.aio import DefaultAzureCredential
        from azure.keyvault.secrets.aio import SecretClient

        credential = await stack.enter_async_context(DefaultAzureCredential())
        client = await stack.enter_async_context(SecretClient(settings.key_vault_url, credential))
        return (
            KeyVaultSecret(client, settings.refresh_token_secret_name, write_back=settings.write_back_refresh_token),
            KeyVaultSecret(client, settings.client_secret_secret_name),
        )
    refresh = InMemorySecret(settings.refresh_token) if settings.refresh_token else None
    credential_source: SecretSource | None = None
    if settings.client_credential_type is ClientCredentialType.CERTIFICATE:
        credential_source = FileSecret(settings.client_certificate_path) if settings.client_certificate_path else None
    elif settings.client_secret:
        credential_source = InMemorySecret(settings.client_secret)
    return refresh, credential_source
