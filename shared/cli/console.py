"""Terminal output shared by the commands: tables on stdout, progress bars, one look for all."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def stdout_console() -> Console:
    """Tables on stdout; wide enough to stay readable when piped to a file or a pager."""
    return Console(width=None if sys.stdout.isatty() else 160)


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
