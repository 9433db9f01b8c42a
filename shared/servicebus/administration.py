"""The Service Bus management API (queue runtime counts), for Azure and for the local emulators.

The connection follows the Functions binding settings (``shared.servicebus.connection``):

- ``ServiceBusConnection__fullyQualifiedNamespace`` → Azure, with ``DefaultAzureCredential``;
- ``ServiceBusConnection`` → a connection string. With ``UseDevelopmentEmulator=true`` (the local
  emulator, ours or Microsoft's) the management API is plain HTTP on its own port (default 5300,
  Microsoft's), so the endpoint's port is replaced and requests go out over ``http://``: azure-servicebus's
  administration client always builds ``https`` URLs, hence ``PlainHttpTransport``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from azure.core.pipeline.transport import HttpRequest, HttpResponse, RequestsTransport
from azure.servicebus.management import QueueRuntimeProperties, ServiceBusAdministrationClient

from shared.servicebus.connection import CONNECTION_STRING_SETTING, NAMESPACE_SETTING
from shared.settings import MissingSettingError

EMULATOR_MANAGEMENT_PORT = 5300  # Microsoft's emulator serves its management API and /health here


_EMULATOR_FLAG = re.compile(r"(^|;)\s*UseDevelopmentEmulator=true\s*(;|$)")


_ENDPOINT_PORT = re.compile(r"(Endpoint=sb://[^;/:]+):\d+")


class PlainHttpTransport(RequestsTransport):  # type: ignore[misc]  # azure-core exports it untyped
    """The emulators' management port speaks HTTP; the SDK's administration client always builds https URLs."""

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        request.url = request.url.replace("https://", "http://", 1)
        response: HttpResponse = super().send(request, **kwargs)
        return response


def administration_client(env: Mapping[str, str], *, management_port: int) -> ServiceBusAdministrationClient:
    """A management client for Azure (managed identity) or a local emulator (connection string)."""
    connection_string = env.get(CONNECTION_STRING_SETTING)
    if connection_string:
        if not _EMULATOR_FLAG.search(connection_string):
            return ServiceBusAdministrationClient.from_connection_string(connection_string)
        emulator = _ENDPOINT_PORT.sub(rf"\g<1>:{management_port}", connection_string)
        return ServiceBusAdministrationClient.from_connection_string(emulator, transport=PlainHttpTransport())
    namespace = env.get(NAMESPACE_SETTING)
    if namespace:
        from azure.identity import DefaultAzureCredential

        return ServiceBusAdministrationClient(namespace, DefaultAzureCredential())
    raise MissingSettingError(
        f"set {NAMESPACE_SETTING} (Azure, managed identity) or {CONNECTION_STRING_SETTING} (local emulator)"
    )


def counts_document(properties: QueueRuntimeProperties) -> dict[str, int | str | None]:
    return {
        "queue": properties.name,
        "active": properties.active_message_count,
        "dead_lettered": properties.dead_letter_message_count,
        "scheduled": properties.scheduled_message_count,
        "transfer": properties.transfer_message_count,
        "transfer_dead_lettered": properties.transfer_dead_letter_message_count,
        "total": properties.total_message_count,
    }
