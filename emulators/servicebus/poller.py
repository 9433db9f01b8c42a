"""proton's reactor IO on ``epoll`` (via :mod:`selectors`) instead of ``select()``.

proton's Python reactor waits for sockets with ``select.select``, which refuses any file descriptor at or
above ``FD_SETSIZE`` (1,024): past that many open sockets the reactor thread dies with
``ValueError: filedescriptor out of range in select()`` and every client of the emulator hangs.
:class:`PollingIOHandler` is proton's own IO handler with its selector swapped for :class:`EpollSelector`,
which has the same four methods but registers each selectable with the operating system's best
poller (``epoll`` on Linux) and has no descriptor ceiling. It is installed as the container's global
handler (``Container(broker, global_handler=PollingIOHandler())``).

It also tracks deadlines only for the selectables that have one, where proton's selector rescans every
selectable on each update (quadratic in the number of connections).
"""

from __future__ import annotations

import contextlib
import selectors
import time
from typing import Any

from proton.handlers import IOHandler


class EpollSelector:
    """The interface of ``proton._io.IO.Selector`` (add, remove, update, select) on :mod:`selectors`."""

    def __init__(self) -> None:
        self._poller = selectors.DefaultSelector()
        self._selectables: set[Any] = set()
        self._registered: dict[Any, tuple[int, int]] = {}  # selectable → (fd, events) as registered
        self._with_deadline: set[Any] = set()

    @property
    def selectables(self) -> int:
        return len(self._selectables)

    def add(self, selectable: Any) -> None:
        self._selectables.add(selectable)
        self._sync(selectable)

    def update(self, selectable: Any) -> None:
        if selectable in self._selectables:
            self._sync(selectable)

    def remove(self, selectable: Any) -> None:
        self._selectables.discard(selectable)
        self._with_deadline.discard(selectable)
        self._unregister(selectable)

    def select(self, timeout: float | None) -> tuple[list[Any], list[Any], list[Any]]:
        """Wait until a selectable is ready or a deadline passes; return (readable, writable, expired)."""
        deadlines = [s.deadline for s in self._with_deadline if s.deadline]
        if deadlines:
            until_deadline = max(0.0, min(deadlines) - time.time())
            timeout = until_deadline if timeout is None else min(timeout, until_deadline)
        readable: list[Any] = []
        writable: list[Any] = []
        if self._registered:
            for key, mask in self._poller.select(timeout):
                if mask & selectors.EVENT_READ:
                    readable.append(key.data)
                if mask & selectors.EVENT_WRITE:
                    writable.append(key.data)
        elif timeout is None or timeout > 0:
            time.sleep(timeout if timeout is not None else 0.1)  # nothing to wait on but timers
        now = time.time()
        expired = [s for s in self._with_deadline if s.deadline and now > s.deadline]
        return readable, writable, expired

    def _sync(self, selectable: Any) -> None:
        if selectable.deadline:
            self._with_deadline.add(selectable)
        else:
            self._with_deadline.discard(selectable)
        fd = selectable.fileno()
        events = (selectors.EVENT_READ if selectable.reading else 0) | (
            selectors.EVENT_WRITE if selectable.writing else 0
        )
        if fd is None or fd < 0 or not events or selectable.is_terminal:
            self._unregister(selectable)
            return
        current = self._registered.get(selectable)
        if current == (fd, events):
            return
        if current is not None and current[0] == fd:
            self._poller.modify(fd, events, selectable)
        else:
            self._unregister(selectable)
            self._evict_stale(fd)
            self._poller.register(fd, events, selectable)
        self._registered[selectable] = (fd, events)

    def _evict_stale(self, fd: int) -> None:
        """Forget a selectable whose descriptor was closed without a remove and has been reused since."""
        try:
            stale = self._poller.get_key(fd).data
        except KeyError:
            return
        self._unregister(stale)

    def _unregister(self, selectable: Any) -> None:
        current = self._registered.pop(selectable, None)
        if current is not None:
            # KeyError/OSError: already closed by its owner, and epoll dropped it itself.
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._poller.unregister(current[0])


class PollingIOHandler(IOHandler):
    """proton's IO handler, waiting with :class:`EpollSelector` instead of ``select()``."""

    def __init__(self) -> None:
        super().__init__()
        self._selector: Any = EpollSelector()
