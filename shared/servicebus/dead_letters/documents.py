"""Dead letters as documents: the ``dlq list`` summary (no body, so no contact details), the full document
with every property and the body, and the JSONL export (mode 0600: it holds personal data).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.servicebus.dead_letters.records import DeadLetterRecord

EXPORT_FILE_MODE = 0o600  # exports hold whole bodies: contact names, emails and phones


def summary_document(record: DeadLetterRecord) -> dict[str, Any]:
    """What ``list`` shows: no body, so no contact details."""
    return {
        "sequenceNumber": record.sequence_number,
        "enqueuedTime": record.enqueued_time.isoformat() if record.enqueued_time else None,
        "reason": record.reason,
        "description": record.description,
        "eventId": record.event_id,
        "customerTenantId": record.customer_id,
        "contract": record.contract,
        "deliveryCount": record.delivery_count,
        "messageId": record.message_id,
        "correlationId": record.correlation_id,
    }


def full_document(record: DeadLetterRecord) -> dict[str, Any]:
    """Every property and the body: the body as text when it is UTF-8, else as ``bodyBase64``."""
    doc = summary_document(record)
    doc["contentType"] = record.content_type
    doc["subject"] = record.subject
    doc["applicationProperties"] = _jsonable(record.application_properties)
    try:
        doc["body"] = record.body.decode("utf-8")
    except UnicodeDecodeError:
        doc["bodyBase64"] = base64.b64encode(record.body).decode("ascii")
    return doc


def _jsonable(properties: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in properties.items():
        if value is None or isinstance(value, bool | int | float | str):
            result[key] = value
        elif isinstance(value, bytes):
            result[key] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, datetime):
            result[key] = value.isoformat()
        else:  # uuid, timedelta, …: kept readable rather than dropped
            result[key] = str(value)
    return result


def write_export(records: Iterable[DeadLetterRecord], path: Path) -> int:
    """Write one ``full_document`` per line to ``path`` (replaced atomically, flushed to disk). Returns the count.

    The file holds personal data, so only its owner may read it (mode 0600, set at creation, before any byte
    is written). Raises ``OSError`` when the path cannot be written; nothing is deleted before that.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, EXPORT_FILE_MODE)
    try:
        os.fchmod(descriptor, EXPORT_FILE_MODE)  # os.open's mode is masked by the umask; an old file keeps its own
        with open(descriptor, "w", encoding="utf-8", newline="\n", closefd=True) as handle:
            for record in records:
                handle.write(json.dumps(full_document(record), ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)  # no half-written copy of personal data is left behind
        raise
    return count
