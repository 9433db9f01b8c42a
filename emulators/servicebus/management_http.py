"""The HTTP management port: what ``ServiceBusAdministrationClient`` reads, plus ``/health``.

Microsoft's emulator serves its management API and ``GET /health`` over plain HTTP on a second port
(5300); this module serves the same shape, so one connection recipe works with both. Service Bus's
management API is ATOM over HTTP: an entity is an ATOM ``<entry>`` whose ``<content>`` holds a
``<QueueDescription>``; a listing is a ``<feed>`` of entries, paged with ``$skip``/``$top``.

Served, read-only (entities come from ``config.json``):

* ``GET /health`` → ``200 {"status": "Healthy"}``
* ``GET /{queue}`` → the queue's entry (``get_queue``, ``get_queue_runtime_properties``); an unknown
  name gets an empty feed, which the SDK turns into ``ResourceNotFoundError``, as with Service Bus
* ``GET /$Resources/queues`` → the queues (``list_queues``, ``list_queues_runtime_properties``);
  ``/$Resources/topics`` is an empty feed
* anything else → ``405`` (creating, updating and deleting entities is not supported)

With the SAS check on (see :mod:`.sas`), a request whose ``Authorization`` token is not signed with
the configured key gets ``401``, as the service answers.

The server runs on its own daemon thread and reads state through :class:`~.store.Namespace`'s
thread-safe inspection methods; it never touches the proton reactor.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from .config import QueueProperties
from .store import Namespace, UnknownEntityError

logger = logging.getLogger(__name__)

_ATOM = "http://www.w3.org/2005/Atom"
_CONNECT = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
_COUNTS = "http://schemas.microsoft.com/netservices/2011/06/servicebus"
_MAX_SIZE_MB = 1024
_NEVER = "P10675199DT2H48M5.4775807S"  # TimeSpan.MaxValue: what Service Bus reports for "never"

AuthorizationCheck = Callable[[str | None, str], bool]


class ManagementHttpServer:
    """Serves the management API on ``host:port`` (0 picks a free port) from a daemon thread."""

    def __init__(
        self, namespace: Namespace, *, host: str, port: int, authorized: AuthorizationCheck | None = None
    ) -> None:
        self._namespace = namespace
        self._authorized = authorized
        self._started_at = datetime.now(UTC)
        handler = _handler_class(self)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="servicebus-emulator-management", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # ------------------------------------------------------------------ responses
    def respond(self, method: str, target: str, authorization: str | None, host: str) -> tuple[int, str, str]:
        """(status, content type, body) for one request."""
        url = urlsplit(target)
        path = unquote(url.path).strip("/")
        if method == "GET" and path.lower() == "health":
            return HTTPStatus.OK, "application/json", json.dumps({"status": "Healthy"})
        if self._authorized is not None and not self._authorized(authorization, f"http://{host}/{path}"):
            return HTTPStatus.UNAUTHORIZED, "application/xml", _error(401, "InvalidSignature: the token is not valid.")
        if method != "GET":
            return (
                HTTPStatus.METHOD_NOT_ALLOWED,
                "application/xml",
                _error(405, "This emulator's entities come from config.json; they cannot be changed at run time."),
            )
        base = f"http://{host}"
        if path.lower().startswith("$resources/"):
            query = parse_qs(url.query)
            skip = int(query.get("$skip", ["0"])[0])
            top = int(query.get("$top", ["100"])[0])
            kind = path.split("/", 1)[1].lower()
            names = self._namespace.queue_names if kind == "queues" else []
            return HTTPStatus.OK, "application/atom+xml", self._feed(base, path, kind, names, skip, top)
        try:
            entity = self._namespace.resolve(path)
        except UnknownEntityError:
            entity = None
        if entity is None or "/" in entity.name:
            return HTTPStatus.OK, "application/atom+xml", _empty_feed(f"{base}/{path}")
        return HTTPStatus.OK, "application/atom+xml", self._entry(base, entity.name, entity.properties, root=True)

    def _feed(self, base: str, path: str, kind: str, names: list[str], skip: int, top: int) -> str:
        page = names[skip : skip + top]
        links = f'<link rel="self" href="{escape(base)}/{escape(path)}?$skip={skip}&amp;$top={top}"/>'
        if skip + top < len(names):
            links += f'<link rel="next" href="{escape(base)}/{escape(path)}?$skip={skip + top}&amp;$top={top}"/>'
        entries = "".join(self._entry(base, name, self._properties(name), root=False) for name in page)
        return (
            f'<feed xmlns="{_ATOM}"><title type="text">{escape(kind)}</title><id>{escape(base)}/{escape(path)}</id>'
            f"<updated>{_iso(datetime.now(UTC))}</updated>{links}{entries}</feed>"
        )

    def _properties(self, name: str) -> QueueProperties:
        return self._namespace.resolve(name).properties

    def _entry(self, base: str, name: str, properties: QueueProperties, *, root: bool) -> str:
        depths = self._namespace.depths(name)
        created = _iso(self._started_at)
        now = _iso(datetime.now(UTC))
        counts = (
            f'<CountDetails xmlns:d2p1="{_COUNTS}">'
            f"<d2p1:ActiveMessageCount>{depths.active}</d2p1:ActiveMessageCount>"
            f"<d2p1:DeadLetterMessageCount>{depths.dead_lettered}</d2p1:DeadLetterMessageCount>"
            f"<d2p1:ScheduledMessageCount>{depths.scheduled}</d2p1:ScheduledMessageCount>"
            "<d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>"
            "<d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount>"
            "</CountDetails>"
        )
        description = (
            f'<QueueDescription xmlns="{_CONNECT}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
            f"<LockDuration>{_duration(properties.lock_duration.total_seconds())}</LockDuration>"
            f"<MaxSizeInMegabytes>{_MAX_SIZE_MB}</MaxSizeInMegabytes>"
            f"<RequiresDuplicateDetection>{_bool(properties.requires_duplicate_detection)}</RequiresDuplicateDetection>"
            "<RequiresSession>false</RequiresSession>"
            f"<DefaultMessageTimeToLive>{_duration(properties.default_message_time_to_live.total_seconds())}"
            "</DefaultMessageTimeToLive>"
            f"<DeadLetteringOnMessageExpiration>{_bool(properties.dead_lettering_on_message_expiration)}"
            "</DeadLetteringOnMessageExpiration>"
            "<DuplicateDetectionHistoryTimeWindow>"
            f"{_duration(properties.duplicate_detection_history_time_window.total_seconds())}"
            "</DuplicateDetectionHistoryTimeWindow>"
            f"<MaxDeliveryCount>{properties.max_delivery_count}</MaxDeliveryCount>"
            "<EnableBatchedOperations>true</EnableBatchedOperations>"
            "<SizeInBytes>0</SizeInBytes>"
            f"<MessageCount>{depths.total}</MessageCount>"
            "<IsAnonymousAccessible>false</IsAnonymousAccessible><AuthorizationRules/>"
            "<Status>Active</Status>"
            f"<CreatedAt>{created}</CreatedAt><UpdatedAt>{created}</UpdatedAt><AccessedAt>{now}</AccessedAt>"
            f"<SupportOrdering>true</SupportOrdering>{counts}"
            f"<AutoDeleteOnIdle>{_NEVER}</AutoDeleteOnIdle><EnablePartitioning>false</EnablePartitioning>"
            "<EntityAvailabilityStatus>Available</EntityAvailabilityStatus><EnableExpress>false</EnableExpress>"
            "</QueueDescription>"
        )
        namespace_attribute = f' xmlns="{_ATOM}"' if root else ""
        return (
            f"<entry{namespace_attribute}><id>{escape(base)}/{escape(name)}</id>"
            f'<title type="text">{escape(name)}</title>'
            f"<published>{created}</published><updated>{created}</updated>"
            f"<author><name>{escape(self._namespace.name)}</name></author>"
            f'<link rel="self" href="{escape(base)}/{escape(name)}"/>'
            f'<content type="application/xml">{description}</content></entry>'
        )


def _handler_class(server: ManagementHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)  # a PUT body: refused, but read so the connection stays usable
            status, content_type, body = server.respond(
                self.command, self.path, self.headers.get("Authorization"), self.headers.get("Host", "localhost")
            )
            encoded = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        do_GET = do_PUT = do_DELETE = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("servicebus_emulator.management_http: %s", format % args)

    return Handler


def _empty_feed(url: str) -> str:
    return (
        f'<feed xmlns="{_ATOM}"><title type="text">Publicly Listed Services</title>'
        f"<id>{escape(url)}</id><updated>{_iso(datetime.now(UTC))}</updated>"
        f'<link rel="self" href="{escape(url)}"/></feed>'
    )


def _error(code: int, detail: str) -> str:
    return f"<Error><Code>{code}</Code><Detail>{escape(detail)}</Detail></Error>"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _duration(seconds: float) -> str:
    """An ISO-8601 duration (``PT1M``, ``P1D``, ``PT0.5S``)."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, rest = divmod(rest, 60)
    text = "P" + (f"{int(days)}D" if days else "")
    time = (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    time += f"{rest:g}S" if rest else ""
    return text + ("T" + time if time else ("" if days else "T0S"))
