"""How an event arrives: the bytes of a message body, and the envelope (if any) around the event.

``decode_body`` turns a message body into a JSON object, or raises ``InvalidEventError`` naming ``body``.
``unwrap`` then finds the event inside that object:

- a bare contract v1 event is its own payload;
- a CloudEvents 1.0 structured-mode envelope (recognised by ``specversion``) carries it in ``data``.

The envelope's problems are reported by attribute name (``type``), the payload's with the prefix of the
member that carried it (``data.primaryContact.email``), so the contract's model can report both at once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from shared.contract_fields import FieldError, Identifier, InvalidEventError, field_errors

EVENT_TYPE = "mca.customer.signed.v1"  # CloudEvents `type`, and the Service Bus message subject
CLOUDEVENTS_SPECVERSION = "1.0"
MAX_BODY_BYTES = 64 * 1024  # far above a real event (~1 KiB); stops a runaway payload before parsing


def decode_body(raw: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """Bytes or text → the JSON object they hold; a mapping is taken as already decoded."""
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, bytes):
        if len(raw) > MAX_BODY_BYTES:
            raise InvalidEventError([FieldError("body", f"must be at most {MAX_BODY_BYTES} bytes")])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventError([FieldError("body", f"must be UTF-8 (invalid byte at {exc.start})")]) from None
    else:
        text = raw
        if len(text.encode("utf-8", errors="surrogatepass")) > MAX_BODY_BYTES:
            raise InvalidEventError([FieldError("body", f"must be at most {MAX_BODY_BYTES} bytes")])
    try:
        doc, repeated = _loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(
            [FieldError("body", f"must be JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")]
        ) from None
    except ValueError:  # not a JSONDecodeError: an integer longer than Python's 4300-digit conversion limit
        raise InvalidEventError([FieldError("body", "must be JSON with numbers of at most 4300 digits")]) from None
    except RecursionError:
        raise InvalidEventError([FieldError("body", "is nested too deeply")]) from None
    if repeated:
        raise InvalidEventError(_duplicate_key_errors(doc, repeated))
    if not isinstance(doc, dict):
        raise InvalidEventError([FieldError("body", "must be a JSON object")])
    return doc


def _loads(text: str) -> tuple[object, dict[int, list[str]]]:
    """``json.loads``, and the keys repeated within one object, by ``id`` of the object that kept the last."""
    repeated: dict[int, list[str]] = {}

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            counts = Counter(key for key, _ in pairs)
            repeated[id(obj)] = [key for key, count in counts.items() if count > 1]
        return obj

    return json.loads(text, object_pairs_hook=build), repeated


def _duplicate_key_errors(doc: object, repeated: dict[int, list[str]], prefix: str = "") -> list[FieldError]:
    """One error per repeated key, at its path in ``doc`` (document order), at any depth.

    ``json.loads`` keeps the last of repeated keys, so ``{"customerTenantId": A, "customerTenantId": B}``
    would attest B while a person reading the body sees A.
    """
    errors: list[FieldError] = []
    stack: list[tuple[object, list[str]]] = [(doc, [])]
    while stack:  # iterative: a document may be nested as deep as the decoder allows
        node, path = stack.pop()
        if isinstance(node, dict):
            for key in repeated.get(id(node), ()):
                errors.append(FieldError(prefix + ".".join([*path, key]), "must appear only once (duplicate key)"))
            stack.extend((child, [*path, key]) for key, child in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((child, [*path, str(index)]) for index, child in reversed(list(enumerate(node))))
    return errors


def is_cloud_event(doc: Mapping[str, Any]) -> bool:
    return "specversion" in doc


class CloudEventEnvelope(BaseModel):
    """The CloudEvents 1.0 structured-mode attributes this contract reads."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: Identifier
    type: Literal["mca.customer.signed.v1"]
    source: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    datacontenttype: Literal["application/json"] | None = None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """The event found in a body: its payload, where the payload sat, and the envelope's own errors.

    ``payload`` is None when there is no object to validate. ``envelope_id`` is the envelope's valid
    ``id``, which stands in for a payload without ``eventId``; None when bare or when the envelope is invalid.
    """

    payload: Mapping[str, Any] | None
    prefix: str = ""
    envelope_id: str | None = None
    errors: list[FieldError] = field(default_factory=list)

    @property
    def in_envelope(self) -> bool:
        return bool(self.prefix)


def unwrap(doc: Mapping[str, Any]) -> Unwrapped:
    """The payload of a decoded body, bare or in an envelope, with the envelope's errors (never raises)."""
    if not is_cloud_event(doc):
        return Unwrapped(doc)
    try:
        envelope = CloudEventEnvelope.model_validate(doc)
    except ValidationError as exc:
        data = doc.get("data")
        # Report the payload's problems too, not only the envelope's.
        payload = data if isinstance(data, dict) else None
        return Unwrapped(payload, "data.", None, field_errors(exc))
    return Unwrapped(envelope.data, "data.", envelope.id)
