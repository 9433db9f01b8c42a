"""How an event arrives: the bytes of a message body, and the envelope (if any) around the event.

``decode_body`` turns a message body into a JSON object, or raises ``InvalidEventError`` naming ``body``
(too large, not UTF-8, not JSON, a key repeated in one object, not an object). ``unwrap`` then finds
the event in that object. The form is decided from the object's top-level member names alone, before
anything is validated, in this order:

1. ``specversion`` present: a CloudEvents envelope. Only ``"1.0"`` (the string) is supported; the
   event is in ``data`` (a JSON object) or ``data_base64`` (base64 of the UTF-8 JSON object).
2. any of ``eventType``, ``eventTime``, ``dataVersion``, ``metadataVersion`` present: an Event Grid
   schema event; the event is in ``data``.
3. at least one member, and every member an envelope attribute of either schema (``id``, ``data``,
   ``subject``…): an envelope this service does not read, e.g. a CloudEvent without ``specversion``.
4. anything else: a bare contract v1 event, so a typo in a bare event is still reported by field.

Forms 1 and 2 report the envelope's problems by attribute name (``type``) and the payload's with the
prefix of the member that carried it (``data.primaryContact.email``, ``data_base64.eventId``). A body
that is no JSON object, or is of form 3, gets one ``body`` error naming the supported forms. In an
envelope, the payload's ``eventId`` is optional: the envelope's ``id`` stands in for it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from shared.attestation.contract.fields import FieldError, Identifier, InvalidEventError, field_errors

EVENT_TYPE = "mca.customer.signed.v1"  # CloudEvents `type`, Event Grid `eventType`, the message subject
CLOUDEVENTS_SPECVERSION = "1.0"
MAX_BODY_BYTES = 64 * 1024  # far above a real event (~1 KiB); stops a runaway payload before parsing

UNSUPPORTED_FORM = (
    "must be one JSON object in a supported form: a bare contract v1 event, a CloudEvents 1.0 envelope "
    '(specversion "1.0") or an Event Grid event (eventType); see docs/event-contract.md'
)
_EVENT_GRID_MARKS = frozenset({"eventType", "eventTime", "dataVersion", "metadataVersion"})
_ENVELOPE_ATTRIBUTES = _EVENT_GRID_MARKS | {
    *("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"),
    *("data", "data_base64", "topic"),
}

Form = Literal["bare", "cloudevents", "eventgrid", "unsupported"]


def decode_body(raw: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """Bytes or text → the JSON object they hold; a mapping is taken as already decoded."""
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
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
    doc, errors = _json_object(text, "body", not_an_object=UNSUPPORTED_FORM)
    if errors or doc is None:
        raise InvalidEventError(errors, readable_event_id(doc) if doc is not None else "")
    return doc


def _json_object(text: str, where: str, *, not_an_object: str) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The JSON object in ``text`` (None if there is none) and the errors that stop it, reported at ``where``.

    With duplicate keys, the object (last ones winning) comes with the errors: it is read for tracing only.
    """
    try:
        doc, repeated = _loads(text)
    except json.JSONDecodeError as exc:
        return None, [FieldError(where, f"must be JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")]
    except ValueError:  # not a JSONDecodeError: an integer longer than Python's 4300-digit conversion limit
        return None, [FieldError(where, "must be JSON with numbers of at most 4300 digits")]
    except RecursionError:
        return None, [FieldError(where, "is nested too deeply")]
    if not isinstance(doc, dict):
        return None, [FieldError(where, not_an_object)]
    return doc, _duplicate_key_errors(doc, repeated, prefix="" if where == "body" else f"{where}.")


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


def _duplicate_key_errors(doc: object, repeated: dict[int, list[str]], prefix: str) -> list[FieldError]:
    """One error per repeated key, at its path in ``doc`` (document order), at any depth.

    ``json.loads`` keeps the last of repeated keys, so ``{"customerTenantId": A, "customerTenantId": B}``
    would attest B while a person reading the body sees A.
    """
    errors: list[FieldError] = []
    if not repeated:
        return errors
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


def form_of(doc: Mapping[str, Any]) -> Form:
    """Which form a decoded body is in, from its member names (the rule in the module docstring)."""
    if "specversion" in doc:
        return "cloudevents" if doc["specversion"] == CLOUDEVENTS_SPECVERSION else "unsupported"
    if not _EVENT_GRID_MARKS.isdisjoint(doc):
        return "eventgrid"
    if doc and all(name in _ENVELOPE_ATTRIBUTES for name in doc):
        return "unsupported"
    return "bare"


def is_cloud_event(doc: Mapping[str, Any]) -> bool:
    """A CloudEvents body of any specversion (its contract fields sit under ``data``); see ``form_of``."""
    return "specversion" in doc


def _json_media_type(value: str) -> str:
    if value.partition(";")[0].strip().lower() != "application/json":
        raise ValueError("must be application/json (parameters such as charset=utf-8 are allowed)")
    return value


Text1024 = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class CloudEventEnvelope(BaseModel):
    """The CloudEvents 1.0 structured-mode attributes this contract reads (the payload is read apart)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: Identifier
    type: Literal["mca.customer.signed.v1"]
    source: Text1024
    datacontenttype: Annotated[str, AfterValidator(_json_media_type)] | None = None


class EventGridEnvelope(BaseModel):
    """The Event Grid event schema's members (the payload, ``data``, is read apart)."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    id: Identifier
    event_type: Literal["mca.customer.signed.v1"] = Field(alias="eventType")
    subject: Text1024
    event_time: Text1024 = Field(alias="eventTime")
    data_version: str | None = Field(default=None, alias="dataVersion")
    metadata_version: str | None = Field(default=None, alias="metadataVersion")
    topic: str | None = None


_ENVELOPES: dict[Form, type[CloudEventEnvelope | EventGridEnvelope]] = {
    "cloudevents": CloudEventEnvelope,
    "eventgrid": EventGridEnvelope,
}


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


Envelopes = Mapping[Form, type[CloudEventEnvelope | EventGridEnvelope]]


def unwrap(doc: Mapping[str, Any], envelopes: Envelopes | None = None) -> Unwrapped:
    """The payload of a decoded body, bare or in an envelope, with the envelope's errors (never raises).

    ``envelopes`` are the models the envelope attributes are checked with (by default contract v1's;
    contract v2 passes its own, which differ in the event type only).
    """
    form = form_of(doc)
    if form == "bare":
        return Unwrapped(doc)
    if form == "unsupported":
        return Unwrapped(None, errors=[FieldError("body", UNSUPPORTED_FORM)])
    errors: list[FieldError] = []
    envelope_id = None
    try:
        envelope_id = (envelopes or _ENVELOPES)[form].model_validate(doc).id
    except ValidationError as exc:
        errors += field_errors(exc)
    payload, prefix, payload_errors = _payload(doc, base64_allowed=form == "cloudevents")
    return Unwrapped(payload, prefix, envelope_id, errors + payload_errors)


def _payload(doc: Mapping[str, Any], *, base64_allowed: bool) -> tuple[dict[str, Any] | None, str, list[FieldError]]:
    """The payload object of an envelope, the prefix for its paths, and why it cannot be read."""
    if base64_allowed and "data_base64" in doc:
        if "data" in doc:
            return None, "data.", [FieldError("data_base64", "must not be sent together with data")]
        return _base64_payload(doc["data_base64"])
    if "data" not in doc:
        return None, "data.", [FieldError("data", "is required (a JSON object holding the event)")]
    data = doc["data"]
    if not isinstance(data, dict):
        return None, "data.", [FieldError("data", "must be an object (not a string holding JSON)")]
    return data, "data.", []


def _base64_payload(value: object) -> tuple[dict[str, Any] | None, str, list[FieldError]]:
    where = "data_base64"
    if not isinstance(value, str):
        return None, f"{where}.", [FieldError(where, "must be a string of base64")]
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except binascii.Error:
        return None, f"{where}.", [FieldError(where, "must be base64 (RFC 4648, with padding)")]
    except UnicodeDecodeError as exc:
        return None, f"{where}.", [FieldError(where, f"must decode to UTF-8 (invalid byte at {exc.start})")]
    decoded, errors = _json_object(text, where, not_an_object="must decode to a JSON object")
    return (None if errors else decoded), f"{where}.", errors


def lenient_payload(doc: Mapping[str, Any]) -> tuple[Mapping[str, Any], object]:
    """The payload (or ``{}``) and the envelope's raw ``id`` (or None) of any object, valid or not.

    For reports and listings, which read what they can from bodies that may be invalid.
    """
    if form_of(doc) == "bare":
        return doc, None
    payload, _, _ = _payload(doc, base64_allowed=True)
    return payload or {}, doc.get("id")


_EVENT_ID = TypeAdapter(Identifier)


def readable_event_id(doc: Mapping[str, Any]) -> str:
    """The event id of a body that may be invalid, if it follows the eventId rule (safe to log), else ""."""
    payload, envelope_id = lenient_payload(doc)
    try:
        return _EVENT_ID.validate_python(payload.get("eventId", envelope_id))
    except ValidationError:
        return ""
