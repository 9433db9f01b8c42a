"""``Notifier`` over the outbound queue (``mca-notifications``): one message per ``FlowNotification``.

The message: the JSON document (docs/notifications.md), content type ``application/json``, subject
``mca.notification.{kind}``, correlation id = the event's, and a message id derived from the notification's
identity (``{eventId}/{kind}-{digest}``), so a step that runs twice — a crash before its ledger write, two
deliveries racing — sends a message the queue's duplicate detection drops. The application property
``mca-notification-kind`` lets a CRM subscribe to kinds without reading bodies.

The sender is opened on first use (nothing connects for a deployment that never sees a v2 event) and sends
are serialised (a sender's first calls race in the SDK, as the retry scheduler found). A failure is raised as
``NotificationError`` naming its type only: the flow retries the step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Protocol

from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusError

from shared.attestation.notifications import FlowNotification, NotificationError
from shared.servicebus.messages import CONTENT_TYPE, derive_message_id

KIND_PROPERTY = "mca-notification-kind"
SUBJECT_PREFIX = "mca.notification."


class MessageSender(Protocol):
    """The sending part of ``azure.servicebus.aio.ServiceBusSender``."""

    async def send_messages(self, message: ServiceBusMessage) -> None: ...


def notification_message(notification: FlowNotification) -> ServiceBusMessage:
    kind = notification.kind.value
    return ServiceBusMessage(
        json.dumps(notification.document(), ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        message_id=derive_message_id(notification.event_id, notification.identity(), label=kind),
        correlation_id=notification.correlation_id or None,
        content_type=CONTENT_TYPE,
        subject=SUBJECT_PREFIX + kind,
        application_properties={KIND_PROPERTY: kind},
    )


class ServiceBusNotifier:
    """Sends notifications through one sender, opened on first use by ``open_sender``."""

    def __init__(self, open_sender: Callable[[], Awaitable[MessageSender]]) -> None:
        self._open_sender = open_sender
        self._sender: MessageSender | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def over(cls, sender: MessageSender) -> ServiceBusNotifier:
        async def opened() -> MessageSender:
            return sender

        return cls(opened)

    async def notify(self, notification: FlowNotification) -> None:
        message = notification_message(notification)
        async with self._lock:
            try:
                if self._sender is None:
                    self._sender = await self._open_sender()
                await self._sender.send_messages(message)
            except (ServiceBusError, OSError, TimeoutError, ValueError) as exc:
                raise NotificationError(
                    f"{notification.kind.value} to the notifications queue: {type(exc).__name__}"
                ) from exc
