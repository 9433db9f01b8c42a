"""Service Bus message helpers shared by every host: the body as bytes, and the copy a retry schedules.

Imported only where a host already has the azure-servicebus SDK loaded (the function, the worker, the
commands); the use case and the settlement policy do not depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage

from shared.settlement import ATTEMPT_PROPERTY, retry_message_id


def body_bytes(message: ServiceBusReceivedMessage) -> bytes:
    """The message body as one byte string, whatever sections the sender used."""
    body: Any = message.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, Iterable):
        return b"".join(bytes(part) if not isinstance(part, str) else part.encode("utf-8") for part in body)
    return str(body).encode("utf-8")


def text_properties(properties: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Application properties with str keys (the SDK hands received keys and strings back as bytes)."""
    result: dict[str, Any] = {}
    for key, value in (properties or {}).items():
        name = key.decode("utf-8") if isinstance(key, bytes) else str(key)
        result[name] = value.decode("utf-8") if isinstance(value, bytes) else value
    return result


def copy_for_retry(message: ServiceBusReceivedMessage, attempt: int) -> ServiceBusMessage:
    """The same body and properties, the attempt number set, and a fresh message id (see settlement)."""
    properties: dict[str | bytes, Any] = {}
    properties.update(text_properties(message.application_properties))
    properties[ATTEMPT_PROPERTY] = attempt
    return ServiceBusMessage(
        body_bytes(message),
        application_properties=properties,
        message_id=retry_message_id(str(message.message_id or ""), attempt),
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        subject=message.subject,
    )
