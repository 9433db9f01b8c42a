"""Open an async ``ServiceBusClient`` the way the Functions binding ``connection="ServiceBusConnection"`` does.

- ``ServiceBusConnection__fullyQualifiedNamespace`` set → identity-based (managed identity in Azure).
- ``ServiceBusConnection`` set → a connection string (the local emulator; never used in Azure).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

from azure.servicebus.aio import ServiceBusClient

from shared.settings import MissingSettingError

CONNECTION_STRING_SETTING = "ServiceBusConnection"
NAMESPACE_SETTING = "ServiceBusConnection__fullyQualifiedNamespace"


def connection_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names a Service Bus connection (either way), without opening one."""
    env = os.environ if env is None else env
    return bool(env.get(CONNECTION_STRING_SETTING) or env.get(NAMESPACE_SETTING))


@asynccontextmanager
async def open_client_from_environment(env: Mapping[str, str] | None = None) -> AsyncIterator[ServiceBusClient]:
    env = os.environ if env is None else env
    async with AsyncExitStack() as stack:
        if env.get(CONNECTION_STRING_SETTING):
            client = ServiceBusClient.from_connection_string(env[CONNECTION_STRING_SETTING])
        elif env.get(NAMESPACE_SETTING):
            from azure.identity.aio import DefaultAzureCredential

            credential = await stack.enter_async_context(DefaultAzureCredential())
            client = ServiceBusClient(env[NAMESPACE_SETTING], credential)
        else:
            raise MissingSettingError(
                f"set {NAMESPACE_SETTING} (Azure, managed identity) or {CONNECTION_STRING_SETTING} (local emulator)"
            )
        yield await stack.enter_async_context(client)
