"""``Notifier`` into a JSON-lines file: how the bulk command hands a person the enhanced attestation's notifications.

``mca-attest attest --notifications PATH`` writes each ``FlowNotification`` as one line, its ``document()`` (the
body the ``mca-notifications`` queue would carry, docs/notifications.md), instead of sending it to the queue. The
file is appended to, so the notifications of every run stay together; a notification whose ``identity()`` was
written before in this run is not written again (the queue's duplicate detection does the same). Each line is on
disk (flushed and synced) before ``notify`` returns, because the flow records the step after it.

An acceptance link lets whoever holds it accept the agreement for the customer: the file is created with mode
0600, and an existing file is narrowed to 0600 when opened. It lives beside the command, not beside the Service
Bus notifier, because only the command uses it: the app's hosts always notify through the queue.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Self

from shared.attestation.notifications import FlowNotification, NotificationError

NOTIFICATION_FILE_MODE = 0o600  # acceptance links: whoever holds one can accept for the customer


class FileNotifier:
    """Appends notifications to ``path``, one JSON document a line. Open with ``open_file`` (or ``with``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None
        self._written: set[tuple[str | int, ...]] = set()

    def open_file(self) -> None:
        """Create or open the file for appending, mode 0600. Raises ``OSError`` (the command reports it)."""
        if self._descriptor is not None:
            return
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, NOTIFICATION_FILE_MODE)
        try:  # os.open's mode is masked by the umask, and an existing file keeps its own: set it
            os.fchmod(descriptor, NOTIFICATION_FILE_MODE)
        except OSError:
            os.close(descriptor)
            raise
        self._descriptor = descriptor

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> Self:
        self.open_file()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @property
    def written(self) -> int:
        """How many notifications this run wrote."""
        return len(self._written)

    async def notify(self, notification: FlowNotification) -> None:
        identity = notification.identity()
        if identity in self._written:
            return
        line = json.dumps(notification.document(), ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            self.open_file()
            assert self._descriptor is not None
            data = line.encode("utf-8")
            while data:  # one O_APPEND write a line; a short write (a full disk) goes on where it stopped
                data = data[os.write(self._descriptor, data) :]
            os.fsync(self._descriptor)
        except OSError as exc:
            raise NotificationError(
                f"{notification.kind.value} to {self.path.name}: {exc.strerror or type(exc).__name__}"
            ) from exc
        self._written.add(identity)
