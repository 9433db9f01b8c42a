"""A ``LedgerEntry`` as flat properties (strings and whole numbers), the same for every adapter.

Azure Table Storage keys the entity by ``PartitionKey`` (the customer tenant id) and ``RowKey`` (the event id);
the SQLite ledger uses the same names as its key columns. Property names are the entry's field names in
camelCase, so an operator browsing the table sees what the docs describe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from shared.attestation.ledger import LedgerEntry, LedgerQuery, LedgerState

_KEYS = {"customer_tenant_id": "PartitionKey", "event_id": "RowKey"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_PROPERTY = {f.name: _KEYS.get(f.name) or _camel(f.name) for f in fields(LedgerEntry)}
_WHOLE_NUMBERS = tuple(f.name for f in fields(LedgerEntry) if f.type == "int")


def to_properties(entry: LedgerEntry) -> dict[str, str | int]:
    """The entity's properties; the state as its value."""
    result: dict[str, str | int] = {}
    for name, prop in _PROPERTY.items():
        value = getattr(entry, name)
        result[prop] = value.value if isinstance(value, LedgerState) else value
    return result


def from_properties(properties: Mapping[str, Any]) -> LedgerEntry:
    """The entry of stored properties; unknown properties are ignored, missing ones take their defaults."""
    values: dict[str, Any] = {}
    for name, prop in _PROPERTY.items():
        if prop in properties and properties[prop] is not None:
            values[name] = properties[prop]
    values["state"] = LedgerState(values["state"])
    for name in _WHOLE_NUMBERS:
        values[name] = int(values.get(name, 0))
    return LedgerEntry(**values)


def matches(entry: LedgerEntry, query: LedgerQuery) -> bool:
    """Whether ``entry`` passes every filter of ``query`` (adapters that cannot filter server-side use it)."""
    return (
        (not query.customer_tenant_id or entry.customer_tenant_id == query.customer_tenant_id)
        and (query.state is None or entry.state is query.state)
        and (not query.reason or entry.reason == query.reason)
        and (not query.since or entry.updated_at >= query.since)
    )
