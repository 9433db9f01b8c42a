"""What every command shares, declared once: exit codes and the ``--queue`` option with its default."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from shared.settings import setting_default

EXIT_OK = 0
EXIT_SOME_FAILED = 1  # the command ran, and something it was asked to do did not succeed
EXIT_USAGE = 2  # the command could not run as asked: a bad option, a missing setting

QUEUE_SETTING = "SERVICEBUS_QUEUE_NAME"
DEFAULT_QUEUE = setting_default(QUEUE_SETTING)


def queue_option[F: Callable[..., Any]](purpose: str) -> Callable[[F], F]:
    """``--queue``, read from SERVICEBUS_QUEUE_NAME when not given (the function app's own setting)."""
    return click.option(
        "--queue",
        envvar=QUEUE_SETTING,
        default=DEFAULT_QUEUE,
        show_default=True,
        help=f"{purpose} [env: {QUEUE_SETTING}].",
    )
