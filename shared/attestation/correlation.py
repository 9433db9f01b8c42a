"""MS-CorrelationId for an event that carries none: stable per event, so all its calls group together."""

from __future__ import annotations

import uuid

# Fixed: changing it would regroup every event's calls differently across versions.
_CORRELATION_ID_NAMESPACE = uuid.UUID("0b8f4a62-1d7c-5e39-8a41-9c2e6f3d5b27")


def derive_correlation_id(event_id: str) -> str:
    """MS-CorrelationId when the event carries none: stable per event, so all its calls group together."""
    return str(uuid.uuid5(_CORRELATION_ID_NAMESPACE, event_id))
