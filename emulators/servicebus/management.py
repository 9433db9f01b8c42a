"""Request/response operations: claims-based security (``$cbs``) and the entity ``$management`` node.

Both arrive as AMQP messages on a client→broker link and are answered on the broker→client link of the
same address, with ``correlation-id`` = the request's ``message-id``. The status keys differ by node:
``$cbs`` answers ``status-code``/``status-description``; ``$management`` answers the camel-case
``statusCode``/``statusDescription`` plus ``errorCondition``, which the SDK maps to its exceptions
(``com.microsoft:message-lock-lost`` → ``MessageLockLostError`` and so on).

The operations that change message state call :class:`~.store.Namespace`; nothing here touches links.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from proton import UNDESCRIBED, Array, Data, Message, symbol, timestamp

from .sas import SasKeyCheck
from .store import LockLostError, MessageNotFoundError, Namespace, QueueEntity, UnknownEntityError

logger = logging.getLogger(__name__)

_PEEK_LOCK_SETTLE_MODE = 1  # receiver-settle-mode in receive-by-sequence-number: 1 = peek-lock

# proton annotates Array's descriptor as a value, but UNDESCRIBED (a Constant) is how it spells "none".
_UNDESCRIBED: Any = UNDESCRIBED

Operation = Callable[[QueueEntity, Mapping[str, Any]], tuple[int, Any]]


class ManagementError(Exception):
    """An operation failed in a way the SDK understands (status code plus AMQP error condition)."""

    def __init__(self, status: int, condition: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.condition = condition
        self.description = description


def answer_cbs(request: Message, sas_check: SasKeyCheck | None = None) -> Message:
    """Answer a ``put-token``: accepted, unless the optional SAS check is on and the token is not signed right."""
    properties: dict[Any, Any] = request.properties or {}
    if sas_check is not None and not sas_check.accepts(None if request.body is None else str(request.body)):
        logger.info("servicebus_emulator.cbs.token_refused", extra={"audience": properties.get("name")})
        return Message(
            correlation_id=request.id,
            properties={
                "status-code": 401,
                "status-description": "InvalidSignature: the token has an invalid signature.",
            },
        )
    logger.debug(
        "servicebus_emulator.cbs.put_token",
        extra={"operation": properties.get("operation"), "audience": properties.get("name")},
    )
    return Message(
        correlation_id=request.id,
        properties={"status-code": 202, "status-description": "Accepted"},
    )


class ManagementNode:
    """Answers ``<entity>/$management`` requests against a :class:`Namespace`."""

    def __init__(self, namespace: Namespace) -> None:
        self._namespace = namespace
        self._operations: dict[str, Operation] = {
            "com.microsoft:renew-lock": self._renew_lock,
            "com.microsoft:peek-message": self._peek,
            "com.microsoft:receive-by-sequence-number": self._receive_by_sequence_number,
            "com.microsoft:update-disposition": self._update_disposition,
            "com.microsoft:schedule-message": self._schedule,
            "com.microsoft:cancel-scheduled-message": self._cancel_scheduled,
        }

    def answer(self, entity_path: str, request: Message) -> Message:
        request_properties: dict[Any, Any] = request.properties or {}
        operation = str(request_properties.get("operation"))
        try:
            entity = self._namespace.resolve(entity_path)
            handler = self._operations.get(operation)
            if handler is None:
                raise ManagementError(501, "amqp:not-implemented", f"operation {operation!r} is not supported")
            body: Any = request.body or {}
            status, response_body = handler(entity, body)
        except ManagementError as exc:
            return _reply(request, exc.status, exc.description, condition=exc.condition)
        except UnknownEntityError as exc:
            return _reply(request, 404, str(exc), condition="amqp:not-found")
        except LockLostError as exc:
            return _reply(request, 410, str(exc), condition="com.microsoft:message-lock-lost")
        except MessageNotFoundError as exc:
            return _reply(request, 404, str(exc), condition="com.microsoft:message-not-found")
        except (KeyError, ValueError) as exc:  # a missing field, a non-numeric number, a malformed message
            return _reply(request, 400, f"malformed request: {exc!r}", condition="com.microsoft:argument-error")
        logger.debug("servicebus_emulator.management", extra={"operation": operation, "status": status})
        return _reply(request, status, "OK" if status == 200 else "No Content", body=response_body)

    def _renew_lock(self, entity: QueueEntity, body: Mapping[str, Any]) -> tuple[int, Any]:
        expirations = [self._namespace.renew_lock(_uuid(token)) for token in _elements(body.get("lock-tokens"))]
        return 200, {"expirations": Array(_UNDESCRIBED, Data.TIMESTAMP, *(timestamp(ms) for ms in expirations))}

    def _peek(self, entity: QueueEntity, body: Mapping[str, Any]) -> tuple[int, Any]:
        encoded = self._namespace.peek(
            entity, int(body.get("from-sequence-number", 0)), int(body.get("message-count", 1))
        )
        if not encoded:
            return 204, None  # the SDK reads 204 as "no messages"
        return 200, {"messages": [{"message": payload} for payload in encoded]}

    def _receive_by_sequence_number(self, entity: QueueEntity, body: Mapping[str, Any]) -> tuple[int, Any]:
        peek_lock = int(body.get("receiver-settle-mode", _PEEK_LOCK_SETTLE_MODE)) == _PEEK_LOCK_SETTLE_MODE
        received = self._namespace.receive_deferred(
            entity, [int(n) for n in _elements(body.get("sequence-numbers"))], peek_lock=peek_lock
        )
        messages = [
            {"message": payload, **({"lock-token": token} if token is not None else {})} for payload, token in received
        ]
        return 200, {"messages": messages}

    def _update_disposition(self, entity: QueueEntity, body: Mapping[str, Any]) -> tuple[int, Any]:
        status = str(body.get("disposition-status"))
        for token in (_uuid(raw) for raw in _elements(body.get("lock-tokens"))):
            if status == "completed":
                self._namespace.complete(token)
            elif status == "abandoned":
                self._namespace.abandon(token)
            elif status == "defered":  # sic: the SDK's spelling
                self._namespace.defer(token)
            elif status == "suspended":
                reason, description = body.get("deadletter-reason"), body.get("deadletter-description")
                self._namespace.dead_letter(
                    token, None if reason is None else str(reason), None if description is None else str(description)
                )
            else:
                raise ManagementError(400, "com.microsoft:argument-error", f"unknown disposition {status!r}")
        return 200, None

    def _schedule(self, entity: QueueEntity, body: Mapping[str, Any]) -> tuple[int, Any]:
        if entity.is_dead_letter_queue:
            raise ManagementError(400, "amqp:not-allowed", "cannot schedule messages on a dead-letter queue")
        payloads = [bytes(item["message"]) for item in body.get("messages") or []]
        sequence_numbers = self._namespace.schedule(entity, payloads)
        return 200, {"sequence-numbers": Array(_UNDESCRIBED, Data.LONG, *sequence_numbers)}

    def _cancel_scheduled(self, entity: QueueEntity, body: Mapping[str, Any]) -> tuple[int, Any]:
        self._namespace.cancel_scheduled(entity, [int(n) for n in _elements(body.get("sequence-numbers"))])
        return 200, None


def _reply(
    request: Message, status: int, description: str, *, condition: str | None = None, body: Any = None
) -> Message:
    properties: dict[str, Any] = {"statusCode": status, "statusDescription": description}
    if condition is not None:
        properties["errorCondition"] = symbol(condition)
    return Message(correlation_id=request.id, properties=properties, body=body)


def _elements(value: Any) -> list[Any]:
    """Values of an AMQP array or list field (the SDK sends arrays; be lenient with lists and scalars)."""
    if value is None:
        return []
    if isinstance(value, Array):
        return list(value.elements)
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, bytes | memoryview):
        return uuid.UUID(bytes=bytes(value))
    return uuid.UUID(str(value))
