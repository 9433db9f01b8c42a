"""The listening socket: proton's own ``Acceptor``, except that each accepted socket is sniffed.

proton's ``Container.listen`` accepts connections with a plain socket; this acceptor does the same steps
(accept, make a server transport, bind it to a new connection, hand the socket to proton's IO handler)
but wraps the socket in a :class:`SniffingSocket`, and stores the connection's sniffer on the proton
connection (``connection.frame_sniffer``) so the broker can read transfer message formats.
It also remembers every socket it opened so :meth:`close_all` can release them when the emulator stops.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from proton import Transport, Url
from proton.handlers import IOHandler

from .frame_sniffer import SniffingSocket, TransferFormatSniffer

logger = logging.getLogger(__name__)

_LISTEN_BACKLOG = 128  # each SDK sender/receiver opens its own connection; tests open many at once


class SniffingAcceptor:
    """Accepts AMQP connections on ``host:port`` (port 0 picks a free port; read it from :attr:`port`)."""

    # ``container`` is typed Any: proton's annotations do not admit the duck-typed handler and socket
    # delegate that its own Acceptor passes to ``Container.selectable``.
    def __init__(self, container: Any, host: str, port: int) -> None:
        self._container = container
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
        self._listener.bind((host, port))
        self._listener.listen(_LISTEN_BACKLOG)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._selectable = container.selectable(handler=self, delegate=self._listener)
        self._selectable.reading = True
        self._selectable._transport = None  # proton's IO handler treats a selectable without one as a listener
        container.update(self._selectable)

    def on_selectable_readable(self, event: Any) -> None:
        try:
            sock, peer = self._listener.accept()
        except BlockingIOError:  # another wake-up already took the connection
            return
        sock.setsockopt(socket.SOL_TCP, socket.TCP_NODELAY, True)
        sock.setblocking(False)
        # Forget sockets proton has already closed (fileno -1) so a long run does not accumulate them.
        self._accepted = [*(open_ for open_ in self._accepted if open_.fileno() != -1), sock]
        logger.debug("servicebus_emulator.connection.accepted", extra={"peer": f"{peer[0]}:{peer[1]}"})
        sniffer = TransferFormatSniffer()
        connection = self._container.connection()
        connection.frame_sniffer = sniffer
        # proton's IO handler dials out for any connection it does not see as accepted; this marks it accepted.
        connection._acceptor = self
        connection.url = Url(host=peer[0], port=peer[1])  # type: ignore[no-untyped-call]  # proton ships no annotations
        transport = Transport(Transport.SERVER)
        transport.bind(connection)
        selectable = self._container.selectable(delegate=SniffingSocket(sock, sniffer))
        selectable._transport = transport
        transport._selectable = selectable
        IOHandler.update(transport, selectable, self._container.now)

    def close(self) -> None:
        """Stop accepting (on the reactor thread)."""
        if not self._selectable.is_terminal:
            self._selectable.terminate()
            self._selectable.update()

    def close_all(self) -> None:
        """Close the listening socket and every accepted socket (after the reactor has stopped)."""
        for sock in [self._listener, *self._accepted]:
            sock.close()
        self._accepted.clear()
