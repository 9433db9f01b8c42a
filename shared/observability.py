"""Logging set-up for the commands and the worker: one JSON object per line, with the structured fields.

Library code logs with ``logging.getLogger(__name__)``, a stable ``event`` name and ``extra`` fields
(event id, MS-RequestId, MS-CorrelationId, outcome, reason, status…). This formatter writes those
fields out; it never adds the message's arguments beyond the formatted message, and the code never
passes tokens, names, emails or phone numbers to a log call. In the Functions host, the host's own
logging (and Application Insights, set up in ``functions/runtime.py``) takes the same records.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def structured_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields of a record."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **structured_fields(record),
        }
        if record.exc_info and record.exc_info[0] is not None:
            doc["exception"] = record.exc_info[0].__name__  # the type only: messages may carry data
        return json.dumps(doc, default=str)


def configure_logging(level: str = "WARNING", *, json_file: Path | None = None, stream: TextIO | None = None) -> None:
    """Console at ``level`` (JSON lines on stderr); optionally every INFO+ record to ``json_file`` too."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(stream or sys.stderr)
    console.setLevel(level.upper())
    console.setFormatter(JsonFormatter())
    root.addHandler(console)
    root.setLevel(logging.INFO if json_file else level.upper())
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(json_file, encoding="utf-8")
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(JsonFormatter())
        root.addHandler(file_handler)
    # The Azure SDKs log every HTTP request at INFO, headers included: keep them quiet.
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
