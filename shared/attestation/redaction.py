"""Personal data out of error texts: Partner Center's messages may quote the request they answer.

Before a description reaches a dead letter, a log line or a report, every occurrence of the event's names,
email and phone (in any case) is replaced by a placeholder such as ``[email]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.attestation.contract import SignedAgreementEvent
from shared.attestation.contract.v2 import AcceptanceRequestedEvent


def redact_personal_data(text: str, personal_data: Mapping[str, str | None]) -> str:
    """``text`` with every occurrence of each value, in any case, replaced by ``[key]``.

    ``personal_data`` maps a placeholder name to a value (``{"firstName": "Zoë", ...}``). Longer values are
    matched first, so a name inside a longer name or inside the email is replaced as the longer value; a
    value appearing under two names gets the first one's placeholder. Values are literal (regex
    metacharacters match themselves); empty, blank or None values are skipped.
    """
    names_by_value: dict[str, str] = {}
    for name, value in personal_data.items():
        if value and value.strip():
            names_by_value.setdefault(value.casefold(), name)
    if not names_by_value:
        return text
    ordered = sorted(names_by_value.items(), key=lambda item: len(item[0]), reverse=True)
    pattern = re.compile(
        "|".join(f"(?P<v{index}>{re.escape(value)})" for index, (value, _) in enumerate(ordered)), re.IGNORECASE
    )
    placeholders = {f"v{index}": f"[{name}]" for index, (_, name) in enumerate(ordered)}
    return pattern.sub(lambda match: placeholders[str(match.lastgroup)], text)


def personal_data_of(event: SignedAgreementEvent | AcceptanceRequestedEvent) -> dict[str, str | None]:
    """The values of ``event`` that name a person, by placeholder: the contact (v1), or the signatory and the
    company name (v2: a sole trader's company is a person's name)."""
    if isinstance(event, AcceptanceRequestedEvent):
        signatory = event.signatory
        return {
            "firstName": signatory.first_name,
            "lastName": signatory.last_name,
            "email": str(signatory.email),
            "phoneNumber": signatory.phone_number,
            "companyName": event.company_name,
        }
    contact = event.primary_contact
    return {
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": str(contact.email),
        "phoneNumber": contact.phone_number,
    }
