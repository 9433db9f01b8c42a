"""The AMQP side of the emulator: a proton handler that speaks Service Bus to the azure-servicebus SDK.

It owns connections, sessions and links, and translates between frames and :class:`~.store.Namespace`
calls. What the SDK requires of a peer (see ``docs/servicebus-emulator.md``) shows up here as:

* SASL ``ANONYMOUS`` only — the SDK authenticates through ``$cbs``, never through SASL.
* Links mirror the client's terminus and settle modes; a receiver link whose client sends settled
  (``snd-settle-mode = settled``) is RECEIVE_AND_DELETE, anything else is PEEK_LOCK.
* Delivery tag = lock token as ``uuid.bytes_le`` (the SDK reads ``UUID(bytes_le=tag)``).
* Settlement echo: 7.15 sends PEEK_LOCK dispositions unsettled and waits for the broker to settle them
  with the same outcome type. ``rejected`` must come back *without* an error, except when the lock was
  lost, which is answered ``rejected(com.microsoft:message-lock-lost)`` → ``MessageLockLostError``.
* Batches are recognised by the transfer's message format, read by :mod:`.frame_sniffer`.

Every link and delivery carries its emulator bookkeeping as attributes on the proton wrapper
(``link.emulator_entity``, ``delivery.lock_token``): proton keeps those per C object, while the wrapper
objects themselves are created afresh for each event.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from proton import (
    Condition,
    Data,
    DataException,
    Delivery,
    Endpoint,
    Handler,
    Link,
    Message,
    MessageException,
    symbol,
)
from proton.reactor import Container

from .acceptor import SniffingAcceptor
from .amqp_message import BATCH_MESSAGE_FORMAT, MalformedMessageError, split_batch
from .frame_sniffer import delivery_tag
from .management import ManagementNode, answer_cbs
from .sas import SasKeyCheck
from .store import LockLostError, Namespace, QueueEntity, UnknownEntityError

logger = logging.getLogger(__name__)

CBS_ADDRESS = "$cbs"
MANAGEMENT_SUFFIX = "/$management"
SESSION_FILTER = "com.microsoft:session-filter"
_STANDARD_MESSAGE_FORMAT = 0
_SWEEP_INTERVAL_S = 0.1  # how often lock expiry, scheduled enqueue and TTL are applied
_INCOMING_CREDIT = 100  # credit granted to each client sender; topped up when it falls below half


class Broker(Handler):
    """Serves a :class:`Namespace` to AMQP clients; all methods run on the proton reactor thread."""

    def __init__(
        self,
        namespace: Namespace,
        *,
        host: str,
        port: int,
        max_message_size: int,
        max_connections: int,
        sas_check: SasKeyCheck | None = None,
        on_listening: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self._on_listening = on_listening
        self._namespace = namespace
        self._management = ManagementNode(namespace)
        self._host = host
        self._requested_port = port
        self._max_message_size = max_message_size
        self._max_connections = max_connections
        self._sas_check = sas_check
        self._acceptor: SniffingAcceptor | None = None
        self._sweep_task: Any = None
        self._container: Container | None = None
        # Broker→client links answering $cbs / $management requests, by (connection, address).
        self._reply_links: dict[tuple[str, str], Link] = {}
        # Broker→client links delivering messages of each entity.
        self._consumers: dict[QueueEntity, set[Link]] = {}
        self._connections: dict[str, Any] = {}

    @property
    def connection_count(self) -> int:
        """Open AMQP connections (read from other threads: a dict's length is read atomically)."""
        return len(self._connections)

    def close_sockets(self) -> None:
        """Release the listening and accepted sockets; call once the reactor has stopped."""
        if self._acceptor is not None:
            self._acceptor.close_all()

    # ------------------------------------------------------------------ reactor lifecycle
    def on_reactor_init(self, event: Any) -> None:
        container: Container = event.container
        self._container = container
        self._acceptor = SniffingAcceptor(container, self._host, self._requested_port)
        self._sweep_task = container.schedule(_SWEEP_INTERVAL_S, self)
        logger.info("servicebus_emulator.listening", extra={"host": self._host, "port": self._acceptor.port})
        if self._on_listening is not None:
            self._on_listening(self._acceptor.port)

    def on_timer_task(self, event: Any) -> None:
        for entity in self._namespace.advance():
            self._offer_messages(entity)
        self._sweep_task = event.container.schedule(_SWEEP_INTERVAL_S, self)

    def on_emulator_stop(self, event: Any) -> None:
        """Application event sent from another thread by :meth:`ServiceBusEmulator.stop`."""
        if self._sweep_task is not None:
            self._sweep_task.cancel()
        if self._acceptor is not None:
            self._acceptor.close()
        for connection in self._connections.values():
            connection.close()
        if self._container is not None:
            self._container.stop()

    # ------------------------------------------------------------------ connections and sessions
    def on_connection_bound(self, event: Any) -> None:
        event.transport.sasl().allowed_mechs("ANONYMOUS")

    def on_connection_remote_open(self, event: Any) -> None:
        connection = event.connection
        if connection.state & Endpoint.LOCAL_UNINIT and len(self._connections) >= self._max_connections:
            logger.warning("servicebus_emulator.connection.refused", extra={"max_connections": self._max_connections})
            plural = "" if self._max_connections == 1 else "s"
            connection.condition = _error(
                "amqp:resource-limit-exceeded",
                f"The emulator serves at most {self._max_connections} connection{plural} at a time "
                "(max_connections); close clients you no longer use.",
            )
            connection.open()
            connection.close()
            return
        if connection.state & Endpoint.LOCAL_UNINIT:
            connection.emulator_id = uuid.uuid4().hex
            self._connections[connection.emulator_id] = connection
            connection.container = "servicebus-emulator"
            connection.open()

    def on_session_remote_open(self, event: Any) -> None:
        if event.connection.state & Endpoint.LOCAL_CLOSED:
            return  # a refused connection: the client pipelined its begin before seeing the close
        if event.session.state & Endpoint.LOCAL_UNINIT:
            event.session.open()

    def on_session_remote_close(self, event: Any) -> None:
        if not event.session.state & Endpoint.LOCAL_CLOSED:
            event.session.close()

    def on_connection_remote_close(self, event: Any) -> None:
        if not event.connection.state & Endpoint.LOCAL_CLOSED:
            event.connection.close()

    def on_transport_closed(self, event: Any) -> None:
        connection = event.connection
        if connection is None:
            return
        connection_id: str | None = getattr(connection, "emulator_id", None)
        if connection_id is not None:
            self._connections.pop(connection_id, None)
        self._reply_links = {key: link for key, link in self._reply_links.items() if key[0] != connection_id}
        for links in self._consumers.values():
            links.difference_update({link for link in links if link.connection == connection})

    # ------------------------------------------------------------------ links
    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        if not link.state & Endpoint.LOCAL_UNINIT or link.connection.state & Endpoint.LOCAL_CLOSED:
            return
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        if link.is_sender:
            self._open_outgoing(link, entity_path(link.remote_source.address))
        else:
            self._open_incoming(link, entity_path(link.remote_target.address))

    def _open_outgoing(self, link: Link, path: str) -> None:
        """A client receiver: a reply link for $cbs/$management, or a consumer of a queue or DLQ."""
        link.emulator_path = path
        if path == CBS_ADDRESS or path.lower().endswith(MANAGEMENT_SUFFIX):
            self._reply_links[(link.connection.emulator_id, path.lower())] = link
            link.open()
            return
        if _requests_session(link):
            _refuse(link, "amqp:not-implemented", "Sessions are not supported by this emulator.")
            return
        try:
            entity = self._namespace.resolve(path)
        except UnknownEntityError as exc:
            _refuse(link, "amqp:not-found", str(exc))
            return
        link.emulator_entity = entity
        self._consumers.setdefault(entity, set()).add(link)
        link.open()
        logger.debug("servicebus_emulator.receiver.attached", extra={"entity": entity.name})

    def _open_incoming(self, link: Link, path: str) -> None:
        """A client sender: requests to $cbs/$management, or messages for a queue."""
        link.emulator_path = path
        if path != CBS_ADDRESS and not path.lower().endswith(MANAGEMENT_SUFFIX):
            try:
                entity = self._namespace.resolve(path)
            except UnknownEntityError as exc:
                _refuse_first_transfer(link, "amqp:not-found", str(exc))
                return
            if entity.is_dead_letter_queue:
                _refuse_first_transfer(link, "amqp:not-allowed", "Messages cannot be sent to a dead-letter queue.")
                return
            link.emulator_entity = entity
            link.max_message_size = self._max_message_size
        link.open()
        link.flow(_INCOMING_CREDIT)

    def on_link_remote_close(self, event: Any) -> None:
        link = event.link
        entity = getattr(link, "emulator_entity", None)
        if entity is not None and link.is_sender:
            self._consumers.get(entity, set()).discard(link)
        if not link.state & Endpoint.LOCAL_CLOSED:
            link.close()

    def on_link_flow(self, event: Any) -> None:
        link = event.link
        if link.is_sender and getattr(link, "emulator_entity", None) is not None:
            self._offer_to_link(link)

    # ------------------------------------------------------------------ inbound transfers
    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        link = delivery.link
        if link.is_sender:
            if delivery.updated:
                self._on_settlement(delivery)
            return
        if not delivery.readable or delivery.partial:
            return  # wait for the last frame of a multi-frame message
        payload = link.recv(delivery.pending)
        link.advance()
        message_format = link.connection.frame_sniffer.take_message_format(link.name, delivery_tag(delivery))
        refusal: Condition | None = getattr(link, "emulator_refusal", None)
        if link.state & Endpoint.LOCAL_CLOSED:
            delivery.settle()  # sent before the client saw the detach
            return
        if refusal is not None:
            _refuse_transfer(link, delivery, refusal)
            return
        if link.credit < _INCOMING_CREDIT // 2:
            link.flow(_INCOMING_CREDIT - link.credit)
        path: str = link.emulator_path
        if path != CBS_ADDRESS and not path.lower().endswith(MANAGEMENT_SUFFIX):
            self._accept_messages(delivery, link.emulator_entity, payload, message_format)
            return
        try:
            request = _decode_request(payload)
        except (MessageException, DataException) as exc:
            _reject(delivery, "amqp:decode-error", f"malformed request: {exc}")
            return
        if path == CBS_ADDRESS:
            self._reply(link, path, answer_cbs(request, self._sas_check))
        else:
            entity_path_ = path[: -len(MANAGEMENT_SUFFIX)]
            self._reply(link, path, self._management.answer(entity_path_, request))
            self._offer_after_change(entity_path_)
        _settle(delivery, Delivery.ACCEPTED)

    def _accept_messages(self, delivery: Delivery, entity: QueueEntity, payload: bytes, message_format: int) -> None:
        if len(payload) > self._max_message_size:
            _reject(
                delivery,
                "amqp:link:message-size-exceeded",
                f"The message size {len(payload)} exceeds the limit of {self._max_message_size} bytes.",
            )
            return
        try:
            if message_format == BATCH_MESSAGE_FORMAT:
                messages = split_batch(payload)
            elif message_format == _STANDARD_MESSAGE_FORMAT:
                messages = [payload]
            else:
                _reject(delivery, "amqp:not-implemented", f"message format 0x{message_format:08x} is not supported")
                return
            self._namespace.enqueue(entity, messages)
        except MalformedMessageError as exc:
            _reject(delivery, "amqp:decode-error", str(exc))
            return
        _settle(delivery, Delivery.ACCEPTED)
        self._offer_messages(entity)

    # ------------------------------------------------------------------ outbound transfers
    def _offer_after_change(self, path: str) -> None:
        try:
            entity = self._namespace.resolve(path)
        except UnknownEntityError:
            return
        self._offer_messages(entity)

    def _offer_messages(self, entity: QueueEntity) -> None:
        """Give available messages of ``entity`` (and of its dead-letter queue) to receivers with credit."""
        for target in (entity, entity.dead_letter_queue):
            if target is not None:
                for link in list(self._consumers.get(target, ())):
                    self._offer_to_link(link)

    def _offer_to_link(self, link: Link) -> None:
        if link.state & Endpoint.LOCAL_CLOSED:
            return
        entity: QueueEntity = link.emulator_entity
        peek_lock = link.remote_snd_settle_mode != Link.SND_SETTLED
        while link.credit > 0:
            acquired = self._namespace.acquire_next(entity, peek_lock=peek_lock)
            if acquired is None:
                break
            token = acquired.lock_token
            tag: Any = (token or uuid.uuid4()).bytes_le  # proton annotates tags as str; it takes bytes
            delivery = link.delivery(tag)
            delivery.lock_token = token
            link.send(acquired.payload)
            link.advance()
            if token is None:  # RECEIVE_AND_DELETE: the message is already gone from the queue
                delivery.settle()
        if link.drain_mode and link.credit > 0:
            link.drained()

    # ------------------------------------------------------------------ settlement
    def _on_settlement(self, delivery: Delivery) -> None:
        token: uuid.UUID | None = getattr(delivery, "lock_token", None)
        client_waits_for_echo = not delivery.settled
        if token is None:
            if client_waits_for_echo:
                delivery.settle()
            return
        state = delivery.remote_state
        entity: QueueEntity | None = None
        try:
            if state == Delivery.ACCEPTED:
                entity = self._namespace.complete(token)
            elif state == Delivery.REJECTED:
                reason, description = _dead_letter_details(delivery)
                # Echoed without an error condition: an error on the echo would make the SDK raise.
                entity = self._namespace.dead_letter(token, reason, description)
            elif state == Delivery.MODIFIED and delivery.remote.undeliverable:
                entity = self._namespace.defer(token)
                delivery.local.undeliverable = True
                delivery.local.failed = delivery.remote.failed
            elif state == Delivery.MODIFIED:
                entity = self._namespace.abandon(token)
                delivery.local.failed = delivery.remote.failed
            else:  # released, or settled without an outcome: the application never saw the message
                state = Delivery.RELEASED
                entity = self._namespace.release(token)
        except LockLostError as exc:
            if client_waits_for_echo:
                _reject(delivery, "com.microsoft:message-lock-lost", str(exc))
            else:
                delivery.settle()
            return
        if client_waits_for_echo:
            _settle(delivery, state)
        else:
            delivery.settle()
        self._offer_messages(entity)

    # ------------------------------------------------------------------ request/response
    def _reply(self, request_link: Link, path: str, response: Message) -> None:
        reply_link = self._reply_links.get((request_link.connection.emulator_id, path.lower()))
        if reply_link is None:
            logger.warning("servicebus_emulator.reply.no_link", extra={"address": path})
            return
        # proton queues the transfer until the client grants credit on its response link.
        reply_link.send(response).settle()


def entity_path(address: str | None) -> str:
    """``amqps://host:port/queue/$DeadLetterQueue`` → ``queue/$DeadLetterQueue``; bare paths pass through."""
    path = address or ""
    scheme, separator, rest = path.partition("://")
    if separator and scheme.lower() in ("amqps", "amqp", "sb"):
        path = rest.partition("/")[2]
    return path.strip("/")


def _decode_request(payload: bytes) -> Message:
    request = Message()
    request.decode(payload)
    return request


def _requests_session(link: Link) -> bool:
    filters: Data = link.remote_source.filter
    filters.rewind()
    if not filters.next():
        return False
    value = filters.get_object()
    return isinstance(value, dict) and any(str(key) == SESSION_FILTER for key in value)


def _dead_letter_details(delivery: Delivery) -> tuple[str | None, str | None]:
    condition = delivery.remote.condition
    raw_info: Any = condition.info if condition is not None else None
    info: dict[Any, Any] = dict(raw_info or {})
    # The SDK sends the info keys as symbols; symbol is a str subclass, so plain lookups match.
    reason, description = info.get("DeadLetterReason"), info.get("DeadLetterErrorDescription")
    return (None if reason is None else str(reason), None if description is None else str(description))


def _settle(delivery: Delivery, state: Any) -> None:
    delivery.update(state)
    delivery.settle()


def _reject(delivery: Delivery, condition: str, description: str) -> None:
    delivery.local.condition = _error(condition, description)
    _settle(delivery, Delivery.REJECTED)


def _error(condition: str, description: str) -> Condition:
    """An AMQP error carrying a tracking id in its info map, as Service Bus errors do.

    The info map also matters on the wire: proton omits a trailing null ``info`` field, and the SDK's
    sender reads ``error[2]`` unguarded (an IndexError that leaves the send hanging).
    """
    return Condition(condition, description, info={symbol("com.microsoft:tracking-id"): uuid.uuid4().hex})


def _refuse_first_transfer(link: Link, condition: str, description: str) -> None:
    """Refuse a client *sender* link by rejecting its first message with the error, then detaching.

    Detaching at attach time (as for receivers) is what the service does, but the SDK's sender then
    discards the link error and reports ``amqp:unknown-error``; a rejected transfer surfaces as
    ``MessagingEntityNotFoundError`` (or the matching error), which is what a test wants to see.
    """
    logger.info("servicebus_emulator.link.refused", extra={"condition": condition, "description": description})
    link.emulator_refusal = _error(condition, description)
    link.open()
    link.flow(1)


def _refuse_transfer(link: Link, delivery: Delivery, refusal: Condition) -> None:
    delivery.local.condition = refusal
    _settle(delivery, Delivery.REJECTED)
    link.condition = refusal
    link.close()


def _refuse(link: Link, condition: str, description: str) -> None:
    """Attach and immediately detach with an error: how AMQP says "no such link" to the client."""
    logger.info("servicebus_emulator.link.refused", extra={"condition": condition, "description": description})
    link.open()
    link.condition = _error(condition, description)
    link.close()
