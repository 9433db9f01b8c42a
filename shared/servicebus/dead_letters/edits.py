"""``--set`` / ``--unset`` edits of a dead letter's body, applied to the event wherever its envelope holds it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.attestation.contract import SignedAgreementEvent
from shared.attestation.contract.envelopes import form_of, lenient_payload
from shared.attestation.contract.v2 import AcceptanceRequestedEvent
from shared.servicebus.dead_letters.records import json_object

# The top-level fields of either contract (eventId, primaryContact, signatory, country, …): none is a CloudEvents
# attribute or an Event Grid member name, so in an envelope a path starting with one is meant for ``data``.
_CONTRACT_FIELDS = frozenset(
    info.alias or name
    for model in (SignedAgreementEvent, AcceptanceRequestedEvent)
    for name, info in model.model_fields.items()
)


class EditError(ValueError):
    """A ``--set``/``--unset`` cannot be applied to this body (not JSON, or the path crosses a non-object)."""


@dataclass(frozen=True, slots=True)
class FieldEdit:
    """Set (or, with ``value=None``, remove) the field at a dotted path such as ``primaryContact.email`` (contract
    v1) or ``signatory.email`` (contract v2)."""

    path: tuple[str, ...]
    value: str | None

    @classmethod
    def parse_set(cls, text: str) -> FieldEdit:
        """``primaryContact.email=new@example.com`` → an edit; the value is taken as a string."""
        name, sep, value = text.partition("=")
        if not sep:
            raise EditError(f"{text!r}: expected field=value, e.g. primaryContact.email=new@example.com")
        return cls(_path(name), value)

    @classmethod
    def parse_unset(cls, text: str) -> FieldEdit:
        return cls(_path(text), None)

    def __str__(self) -> str:
        shown = ".".join(self.path)
        return f"unset {shown}" if self.value is None else f"set {shown}"  # values may be personal data


def _path(name: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in name.strip().split("."))
    if not parts or any(not part for part in parts):
        raise EditError(f"{name!r}: expected a dotted field path such as primaryContact.email")
    return parts


def apply_edits(body: bytes, edits: Sequence[FieldEdit]) -> bytes:
    """The body with ``edits`` applied, as compact JSON.

    Paths name contract fields; in an envelope (CloudEvents or Event Grid) a path starting with a contract
    field (``primaryContact.email``) is applied inside ``data``. A CloudEvent carrying its event as
    ``data_base64`` gets it decoded into ``data`` first (an equivalent CloudEvent). Missing intermediate
    objects are created.
    """
    doc = json_object(body)
    if doc is None:
        raise EditError("the body is not a JSON object, so it cannot be edited")
    in_envelope = form_of(doc) in ("cloudevents", "eventgrid")
    for edit in edits:
        path = edit.path
        if in_envelope and path[0] in _CONTRACT_FIELDS:
            if "data_base64" in doc:
                payload, _ = lenient_payload(doc)
                if not payload:
                    raise EditError("data_base64 does not hold a JSON object, so its fields cannot be edited")
                doc["data"] = dict(payload)
                del doc["data_base64"]
            path = ("data", *path)
        node: dict[str, Any] = doc
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise EditError(f"{'.'.join(path[: depth + 1])} is not an object, so {'.'.join(path)} cannot be set")
            node = child
        if edit.value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = edit.value
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
