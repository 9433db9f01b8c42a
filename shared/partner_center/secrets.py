"""Secrets in Azure Key Vault, reached with the app's managed identity (azure-identity)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily at run time: azure-keyvault is only needed when Key Vault is configured
    from azure.keyvault.secrets.aio import SecretClient

log = logging.getLogger(__name__)


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
