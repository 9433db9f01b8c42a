"""Where cached agreement metadata lives between processes: the ``MetadataStore`` seam.

One JSON document per agreement type (``agreements/{agreementType}.json``), holding the templates and the
time they were fetched. Every document comes with an opaque ETag; a write names the ETag it read
(``if_match``) or ``None`` to create a document that must not exist yet. A write that loses the race to
another writer is *reported* (``write`` returns ``None``) — it is not an error; the caller re-reads.

Failures of the store itself (storage unreachable, a denied identity, an unwritable folder) surface as
``MetadataStoreError``; a document that cannot be parsed as ``CorruptMetadataDocument``, which carries the
ETag so the caller can overwrite it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Protocol

from shared.attestation.metadata import AgreementMetadata

SCHEMA_VERSION = 1
_AGREEMENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


@dataclass(frozen=True, slots=True)
class StoredMetadata:
    """A document as read from the store, with the ETag that guards the next write."""

    metadata: AgreementMetadata
    etag: str


class MetadataStoreError(Exception):
    """The store could not be read or written (unreachable, denied, misconfigured)."""


class CorruptMetadataDocument(MetadataStoreError):
    """A document exists but is not valid metadata; ``etag`` lets a writer replace it."""

    def __init__(self, message: str, *, etag: str) -> None:
        super().__init__(message)
        self.etag = etag


class MetadataStore(Protocol):
    """A shared home for one metadata document per agreement type, with ETag-guarded writes."""

    async def read(self, agreement_type: str) -> StoredMetadata | None:
        """The stored document, or ``None`` if there is none; raises ``MetadataStoreError``."""
        ...

    async def write(self, metadata: AgreementMetadata, *, if_match: str | None) -> str | None:
        """Store ``metadata`` if the document still has ETag ``if_match`` (``None``: if there is none yet).

        Returns the new ETag, or ``None`` when another writer got there first. Raises ``MetadataStoreError``.
        """
        ...


def document_name(agreement_type: str) -> str:
    """The blob name (or relative file path) of an agreement type's document."""
    if not _AGREEMENT_TYPE.fullmatch(agreement_type):
        raise ValueError(f"not a valid agreement type for a cache document name: {agreement_type!r}")
    return f"agreements/{agreement_type}.json"


def encode_document(metadata: AgreementMetadata) -> bytes:
    """The document's bytes; deterministic, so equal metadata gives an equal content hash."""
    doc = {"schemaVersion": SCHEMA_VERSION, **metadata.to_json()}
    return json.dumps(doc, sort_keys=True, indent=2).encode("utf-8")


def decode_document(data: bytes, *, agreement_type: str, etag: str) -> StoredMetadata:
    """Parse a document read under ``etag``; raises ``CorruptMetadataDocument`` if it is not metadata."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if not isinstance(doc, dict):
            raise TypeError("document is not a JSON object")
        metadata = AgreementMetadata.from_json(doc)
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptMetadataDocument(
            f"cached metadata document for {agreement_type} is unreadable: {type(exc).__name__}: {exc}",
            etag=etag,
        ) from exc
    if metadata.agreement_type != agreement_type:
        raise CorruptMetadataDocument(
            f"cached metadata document for {agreement_type} holds {metadata.agreement_type!r}", etag=etag
        )
    return StoredMetadata(metadata=metadata, etag=etag)
