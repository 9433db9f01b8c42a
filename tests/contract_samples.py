"""One valid contract v1 event with distinctive fictional personal data, for the contract tests.

The names are unusual on purpose: "does an error message echo the input?" cannot be fooled by a common word.
"""

from __future__ import annotations

from typing import Any

FIRST = "Zephyrine"
LAST = "Quillfeather"
EMAIL = "zephyrine.quillfeather@contoso.example.com"
PHONE = "+1 555 0147"
TENANT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
TEMPLATE = "117a2bd2-6a5d-4c2b-9d3b-1f4a5e6b7c80"


def valid_event(**overrides: Any) -> dict[str, Any]:
    """A valid bare event; ``overrides`` replace top-level fields (``...`` removes one)."""
    event: dict[str, Any] = {
        "eventId": "crm-42",
        "customerTenantId": TENANT,
        "dateAgreed": "2026-11-20T09:30:00Z",
        "primaryContact": {"firstName": FIRST, "lastName": LAST, "email": EMAIL, "phoneNumber": PHONE},
    }
    for key, value in overrides.items():
        if value is ...:
            del event[key]
        else:
            event[key] = value
    return event
