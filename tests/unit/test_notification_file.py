"""``FileNotifier``: the bulk command's notifications as JSON lines in a file only its owner can read."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.attestation.notifications import FlowNotification, NotificationError, NotificationKind
from shared.cli.notification_file import FileNotifier
from tests.builders import EVENT_ID, TENANT

LINK = "https://accept.example/a?token=secret-token"


def notification(kind: NotificationKind = NotificationKind.LINK_ISSUED, **fields: Any) -> FlowNotification:
    base = FlowNotification(
        kind=kind,
        event_id=EVENT_ID,
        customer_tenant_id=TENANT,
        correlation_id="corr-1",
        occurred_at="2026-12-02T09:00:00Z",
        attestation_id="attestation-1",
        attempt_round=1,
        acceptance_link=LINK if kind is NotificationKind.LINK_ISSUED else "",
    )
    return dataclasses.replace(base, **fields)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave a new file readable by everyone, so the test sees the mode is set on purpose."""
    previous = os.umask(0o000)
    yield
    os.umask(previous)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_each_notification_is_one_json_line_of_its_document(tmp_path: Path, open_umask: None) -> None:
    """The line is ``document()``, acceptance link included; the file is created with mode 0600."""
    path = tmp_path / "notifications.jsonl"
    link, end = notification(), notification(NotificationKind.AGREEMENT_CREATED)
    with FileNotifier(path) as notifier:
        await notifier.notify(link)
        await notifier.notify(end)
    assert lines(path) == [link.document(), end.document()]
    assert lines(path)[0]["acceptanceLink"] == LINK
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_repeated_identity_is_written_once_in_a_run(tmp_path: Path) -> None:
    """The same notification sent twice (a step run again) is one line; ``written`` counts distinct ones."""
    path = tmp_path / "n.jsonl"
    with FileNotifier(path) as notifier:
        await notifier.notify(notification())
        await notifier.notify(notification(occurred_at="2026-12-02T09:05:00Z"))
        await notifier.notify(notification(attempt_round=2))
        assert notifier.written == 2
    assert [line["attestationRound"] for line in lines(path)] == [1, 2]


async def test_runs_append_to_the_file_and_an_existing_file_is_narrowed_to_0600(tmp_path: Path) -> None:
    """A second run appends after the first run's lines; a file someone left readable is made owner-only."""
    path = tmp_path / "n.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")
    path.chmod(0o644)
    with FileNotifier(path) as notifier:
        await notifier.notify(notification())
    assert lines(path) == [{"earlier": True}, notification().document()]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_file_that_cannot_be_written_raises_notification_error(tmp_path: Path) -> None:
    """An OSError (here: the path is a folder) becomes NotificationError, naming the file but not the link."""
    notifier = FileNotifier(tmp_path)
    with pytest.raises(NotificationError) as raised:
        await notifier.notify(notification())
    assert tmp_path.name in str(raised.value)
    assert LINK not in str(raised.value)
    assert notifier.written == 0


def test_opening_an_unwritable_path_raises_os_error(tmp_path: Path) -> None:
    """``open_file`` lets the command report a bad path before anything is posted."""
    with pytest.raises(FileNotFoundError):
        FileNotifier(tmp_path / "missing-folder" / "n.jsonl").open_file()
