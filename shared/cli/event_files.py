"""Read events from JSONL or CSV files, one record per line, without deciding yet whether they are valid.

JSONL: one JSON object per line (bare contract v1 or a CloudEvents envelope). Blank lines are skipped.
CSV: a header row with the columns below; ``firstName``, ``lastName``, ``email`` and ``phoneNumber`` become
``primaryContact``; empty cells are treated as absent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.attestation.contract import PrimaryContact, SignedAgreementEvent


def _aliases(model: type[PrimaryContact] | type[SignedAgreementEvent]) -> tuple[str, ...]:
    return tuple(info.alias or name for name, info in model.model_fields.items())


# The contract's fields in its own order, with primaryContact's fields in its place: a new contract field
# becomes a CSV column without an edit here.
_CONTACT_COLUMNS = frozenset(_aliases(PrimaryContact))
CSV_COLUMNS = tuple(
    column
    for field in _aliases(SignedAgreementEvent)
    for column in (_aliases(PrimaryContact) if field == "primaryContact" else (field,))
)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One line of an input file: its 1-based line number and its body (JSON bytes or an object)."""

    line: int
    body: bytes | dict[str, Any]


class UnsupportedFileError(ValueError):
    """The file is neither JSONL nor CSV, or its CSV header is unusable."""


def read_records(path: Path) -> list[RawRecord]:
    """All records of ``path``; the format is chosen by extension (.jsonl/.json/.ndjson or .csv)."""
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return list(_jsonl_records(data))
    if suffix == ".csv":
        return list(_csv_records(data))
    raise UnsupportedFileError(f"{path.name}: use a .jsonl or .csv file")


def _jsonl_records(data: bytes) -> Iterator[RawRecord]:
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            # Bytes go to the contract unchanged, so a non-UTF-8 line is reported like any bad field.
            yield RawRecord(number, line)


def _csv_records(data: bytes) -> Iterator[RawRecord]:
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    header = set(reader.fieldnames or [])
    unknown = header - set(CSV_COLUMNS)
    if unknown:
        raise UnsupportedFileError(f"unknown CSV columns {sorted(unknown)}; expected {list(CSV_COLUMNS)}")
    for row in reader:
        body: dict[str, Any] = {}
        contact: dict[str, str] = {}
        for column, value in row.items():
            if column is None or value is None or not value.strip():
                continue
            (contact if column in _CONTACT_COLUMNS else body)[column] = value.strip()
        if contact:
            body["primaryContact"] = contact
        yield RawRecord(reader.line_num, body)
