"""What the enhanced attestation API looks like on the wire: every detail Microsoft has not confirmed is configuration.

Microsoft documents the enhanced attestation in outline only (docs/enhanced-attestation.md lists each item,
"confirmed" or "assumed", with its source). The confirmed parts are constants here; everything else is a
field of the frozen ``EnhancedApiSettings``, whose defaults are the best reading of the public sources. A
partner who learns the real shape (``mca-attest probe enhanced`` against the CSP integration sandbox)
corrects it in a JSON file, not in code::

    {"apiVersion": "v1", "responseIdField": "id", "statusAccepted": ["Accepted", "Signed"]}

``load_enhanced_api_settings(path)`` reads such a file over the defaults; an unknown key or a value of the
wrong type fails with the key's name. ``ITEMS`` describes each key (the docs page is tested against it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from shared.attestation.ports import StatusKind

# Confirmed by Microsoft's "Confirm customer acceptance and create agreement for MCA using APIs".
COUNTRY_FIELD = "country"
LANGUAGE_FIELD = "language"
COMPANY_NAME_FIELD = "companyName"
SIGNATORY_FIRST_NAME_FIELD = "signatoryFirstName"
SIGNATORY_LAST_NAME_FIELD = "signatoryLastName"


AttestationIdLocation = Literal["body", "query"]


class EnhancedApiConfigError(ValueError):
    """The enhanced-API configuration file cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class EnhancedApiSettings:
    """The enhanced attestation API's unconfirmed details. Paths use ``{apiVersion}``, ``{attestationId}`` and
    ``{customerTenantId}`` placeholders; an empty field name means "not sent" or "not read"."""

    api_version: str = "v1"
    create_path: str = "/{apiVersion}/attestations/enhanced"
    email_field: str = "signatoryEmail"
    phone_field: str = "signatoryPhoneNumber"
    customer_id_field: str = "customerTenantId"
    response_id_field: str = "attestationId"
    response_link_field: str = "acceptanceLink"
    response_link_expiry_field: str = "linkExpiresAt"
    response_accepted_at_field: str = "acceptedAt"
    status_path: str = "/{apiVersion}/attestations/enhanced/{attestationId}"
    status_field: str = "status"
    status_pending: tuple[str, ...] = ("Required", "Pending")
    status_accepted: tuple[str, ...] = ("Accepted",)
    status_expired: tuple[str, ...] = ("Expired",)
    status_rejected: tuple[str, ...] = ("Rejected", "Declined")
    agreement_path: str = "/v1/customers/{customerTenantId}/agreements"
    attestation_id_location: AttestationIdLocation = "body"
    attestation_id_name: str = "attestationId"

    def __post_init__(self) -> None:
        if self.attestation_id_location not in ("body", "query"):
            raise EnhancedApiConfigError("attestationIdLocation must be one of body, query")
        for name in ("create_path", "status_path", "agreement_path"):
            if not getattr(self, name).startswith("/"):
                raise EnhancedApiConfigError(f"{_camel(name)} must start with /")
        for name in ("response_id_field", "status_field", "attestation_id_name"):
            if not getattr(self, name):
                raise EnhancedApiConfigError(f"{_camel(name)} must not be empty")

    def create_url_path(self) -> str:
        return self.create_path.format(apiVersion=self.api_version)

    def status_url_path(self, attestation_id: str) -> str:
        return self.status_path.format(apiVersion=self.api_version, attestationId=attestation_id)

    def agreement_url_path(self, customer_tenant_id: str) -> str:
        return self.agreement_path.format(apiVersion=self.api_version, customerTenantId=customer_tenant_id)

    def status_kind(self, raw: str) -> StatusKind:
        """The meaning of a status value, compared without regard to case."""
        folded = raw.strip().casefold()
        for kind, values in (
            (StatusKind.ACCEPTED, self.status_accepted),
            (StatusKind.PENDING, self.status_pending),
            (StatusKind.EXPIRED, self.status_expired),
            (StatusKind.REJECTED, self.status_rejected),
        ):
            if folded in {value.casefold() for value in values}:
                return kind
        return StatusKind.UNKNOWN


@dataclass(frozen=True, slots=True)
class ConfigItem:
    """One detail of the enhanced API: its key in the file (or its fixed field name), status and source."""

    key: str
    status: Literal["confirmed", "assumed"]
    source: str


_LEARN = "Microsoft Learn, Confirm customer acceptance and create agreement for MCA using APIs"
_CREATE_AGREEMENT = "Microsoft Learn, Create agreement (REST reference)"
_VENDORS = "partner vendors' public knowledge bases (Cloudmore API guide for MCA partner attestation)"

ITEMS: tuple[ConfigItem, ...] = (
    ConfigItem("createPath", "confirmed", f"{_LEARN}: POST /v{{version}}/attestations/enhanced"),
    ConfigItem("apiVersion", "assumed", "the documented path has a version placeholder; v1, as every other route"),
    *(
        ConfigItem(name, "confirmed", f"{_LEARN}: required string field")
        for name in (
            COUNTRY_FIELD,
            LANGUAGE_FIELD,
            COMPANY_NAME_FIELD,
            SIGNATORY_FIRST_NAME_FIELD,
            SIGNATORY_LAST_NAME_FIELD,
        )
    ),
    ConfigItem(
        "emailField", "assumed", f"{_LEARN} lists the email among the prerequisites; its field name is not shown"
    ),
    ConfigItem("phoneField", "assumed", f"{_LEARN} lists an optional phone; its field name is not shown"),
    ConfigItem("customerIdField", "assumed", "the create path names no customer, so the body must; name not shown"),
    ConfigItem(
        "responseIdField",
        "assumed",
        "the response shape is not published; the create-agreement call needs an attestation id",
    ),
    ConfigItem("responseLinkField", "assumed", f"{_LEARN} (embeddable component, parameterised link); name not shown"),
    ConfigItem("responseLinkExpiryField", "assumed", f"{_VENDORS}: links can expire; no field published"),
    ConfigItem(
        "responseAcceptedAtField",
        "assumed",
        "when the customer accepted (the agreement's dateAgreed); no status response published",
    ),
    ConfigItem(
        "statusPath", "assumed", f"{_VENDORS} offer 'get status of an attestation'; no Microsoft route published"
    ),
    ConfigItem("statusField", "assumed", "no status response published"),
    ConfigItem("statusPending", "assumed", f"{_VENDORS}: statuses shown as required, pending"),
    ConfigItem("statusAccepted", "assumed", "no value published; the customer's acceptance ends the wait"),
    ConfigItem("statusExpired", "assumed", f"{_VENDORS}: status shown as expired"),
    ConfigItem("statusRejected", "assumed", "no value published; a customer may decline"),
    ConfigItem("agreementPath", "confirmed", f"{_LEARN} and {_CREATE_AGREEMENT}: POST /v1/customers/{{id}}/agreements"),
    ConfigItem(
        "attestationIdLocation",
        "assumed",
        f"{_LEARN}: the agreement is created 'with the attestation id'; where is not shown",
    ),
    ConfigItem("attestationIdName", "assumed", "not shown"),
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_BY_KEY = {_camel(f.name): f.name for f in fields(EnhancedApiSettings)}


def enhanced_api_settings_from_json(document: object, base: EnhancedApiSettings | None = None) -> EnhancedApiSettings:
    """``base`` (the defaults) with the keys of ``document`` (camelCase) applied; strict about keys and types."""
    if not isinstance(document, dict):
        raise EnhancedApiConfigError("the enhanced-API configuration must be a JSON object")
    base = base or EnhancedApiSettings()
    changes: dict[str, Any] = {}
    for key, value in document.items():
        name = _BY_KEY.get(key)
        if name is None:
            raise EnhancedApiConfigError(
                f"{key} is not a setting of the enhanced API (known: {', '.join(sorted(_BY_KEY))})"
            )
        current = getattr(base, name)
        if isinstance(current, tuple):
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise EnhancedApiConfigError(f"{key} must be a list of strings")
            value = tuple(value)
        elif not isinstance(value, str):
            raise EnhancedApiConfigError(f"{key} must be a string")
        changes[name] = value
    return replace(base, **changes)


def load_enhanced_api_settings(path: str | Path | None = None) -> EnhancedApiSettings:
    """The defaults, overridden by the JSON file at ``path`` (none or empty = the defaults alone)."""
    if not path:
        return EnhancedApiSettings()
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EnhancedApiConfigError(f"cannot read the enhanced-API configuration {path}: {exc}") from exc
    return enhanced_api_settings_from_json(document)


def settings_json(settings: EnhancedApiSettings) -> dict[str, Any]:
    """The settings as the JSON file spells them (tuples as lists)."""
    return {
        _camel(f.name): list(value) if isinstance(value := getattr(settings, f.name), tuple) else value
        for f in fields(settings)
    }
