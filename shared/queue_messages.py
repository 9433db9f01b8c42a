"""Service Bus message helpers shared by every host: the body as bytes, and the copy a retry schedules.

Imported only where a host already has the azure-servicebus SDK loaded (the function, the worker, the
commands); the use case and the settlement policy do not depend on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage

from shared.message_ids import retry_message_id
from shared.settlement import ATTEMPT_PROPERTY


def body_bytes(message: ServiceBusReceivedMessage, *, limit: int | None = None) -> bytes:
    """The message body as one byte string, whatever sections the sender used.

    Data sections are joined as they are; an AMQP value or sequence section (a number, a list, a map: never
    a valid event, but senders do send them) is rendered as JSON text, so the contract can say what is
    wrong with it. With ``limit``, reading stops once the body is known to be longer (``limit + 1`` bytes
    come back, which the contract refuses as too large): a value such as ``[2**34]`` is never expanded.
    """
    collected = bytearray()
    for part in _sections(message.body):
        collected += part
        if limit is not None and len(collected) > limit:
            return bytes(collected[: limit + 1])
    return bytes(collected)


def _sections(body: Any) -> Iterator[bytes]:
    """The body's parts as bytes. The SDK returns data and sequence sections as an iterator of sections, and
    an AMQP value as the value itself (a list value is one value, not sections)."""
    if isinstance(body, Iterator):
        for section in body:
            yield _section_bytes(section)
    else:
        yield _section_bytes(body)


def _section_bytes(section: Any) -> bytes:
    if isinstance(section, bytes | bytearray | memoryview):
        return bytes(section)
    if isinstance(section, str):
        return section.encode("utf-8", errors="surrogatepass")
    try:  # never bytes(section): bytes(20_000_000) allocates 20 MB of zeros
        return json.dumps(section, ensure_ascii=False, default=repr).encode("utf-8", errors="surrogatepass")
    except (ValueError, TypeError, RecursionError):  # e.g. an int beyond 4300 digits, a self-referencing list
        return f"<AMQP {type(section).__name__} body>".encode()


def text_properties(properties: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Application properties with str keys (the SDK hands received keys and strings back as bytes)."""
    result: dict[str, Any] = {}
    for key, value in (properties or {}).items():
        name = key.decode("utf-8") if isinstance(key, bytes) else str(key)
        result[name] = value.decode("utf-8") if isinstance(value, bytes) else value
    return result


def copy_for_retry(message: ServiceBusReceivedMessage, attempt: int) -> ServiceBusMessage:
    """The same body and properties, the attempt number set, and a message id unique to (message, attempt)."""
    properties: dict[str | bytes, Any] = {}
    properties.update(text_properties(message.application_properties))
    properties[ATTEMPT_PROPERTY] = attempt
    body = body_bytes(message)
    source_id = _text(message.message_id)
    return ServiceBusMessage(
        body,
        application_properties=properties,
        message_id=retry_message_id(source_id, attempt, fallback_identity=(int(message.sequence_number or 0), body)),
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        subject=message.subject,
    )


def time_to_live_seconds(message: ServiceBusReceivedMessage) -> float | None:
    """The message's time to live in seconds, when the host exposes one."""
    ttl = getattr(message, "time_to_live", None)
    return ttl.total_seconds() if isinstance(ttl, timedelta) else None


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
