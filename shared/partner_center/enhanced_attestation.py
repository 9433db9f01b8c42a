"""The enhanced attestation's three calls, one at a time: create the attestation, read its status, create the agreement.

The wire details Microsoft has not confirmed come from ``EnhancedApiSettings`` (``enhanced_api.py``); the calls
go through ``PartnerCenterClient.call_json``, so they share its headers, retries (one ``MS-RequestId`` across
attempts), re-authentication and error tree. The scenario is app-only: the client must be built with a
``ClientCredentialsProvider`` (``bootstrap.build_token_provider`` with ``app_only``).

``EnhancedAttestationApi`` is the calls; ``EnhancedPartnerCenterAttestation`` adapts them to the core's
``EnhancedAttestation`` port (events in, request ids derived per event, step and round). Which call comes next
is ``shared.attestation.enhanced_flow``'s business.

A success whose JSON lacks a configured field (no attestation id, no status) cannot be acted on and retrying
the same request cannot change it: ``EnhancedResponseMismatch``, a ``PermanentError`` naming the configured key
and the fields the answer did have — never their values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.attestation.contract.v2 import AcceptanceRequestedEvent
from shared.attestation.errors import PermanentError, RequestIds
from shared.attestation.metadata import MCA
from shared.attestation.ports import AttestationReceipt, AttestationState, StatusKind
from shared.partner_center.agreement_request import AgreementRequest
from shared.partner_center.client import CreatedAgreement
from shared.partner_center.enhanced_api import (
    COMPANY_NAME_FIELD,
    COUNTRY_FIELD,
    LANGUAGE_FIELD,
    SIGNATORY_FIRST_NAME_FIELD,
    SIGNATORY_LAST_NAME_FIELD,
    EnhancedApiSettings,
)

# Fixed: changing it would change every derived request id and defeat idempotency across versions.
_REQUEST_ID_NAMESPACE = uuid.UUID("0b6f3c2e-9d4a-5e71-8c3b-7a2d1e6f4c90")


class JsonCaller(Protocol):
    """The one client call the adapter makes (``PartnerCenterClient`` implements it)."""

    async def call_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
    ) -> tuple[dict[str, Any], RequestIds]: ...


class EnhancedResponseMismatch(PermanentError):
    """A success that lacks a field the configuration names: the configuration (an assumption) is wrong."""


@dataclass(frozen=True, slots=True)
class EnhancedAttestationRequest:
    """Everything the create-attestation POST sends. The signatory and company are personal data."""

    customer_tenant_id: str
    country: str
    language: str
    company_name: str
    first_name: str
    last_name: str
    email: str
    phone_number: str | None

    def __repr__(self) -> str:
        return f"EnhancedAttestationRequest(customer_tenant_id={self.customer_tenant_id!r}, country={self.country!r})"

    def body(self, settings: EnhancedApiSettings) -> dict[str, str]:
        """The five confirmed fields, then the assumed ones under their configured names ("" = not sent)."""
        body = {
            COUNTRY_FIELD: self.country,
            LANGUAGE_FIELD: self.language,
            COMPANY_NAME_FIELD: self.company_name,
            SIGNATORY_FIRST_NAME_FIELD: self.first_name,
            SIGNATORY_LAST_NAME_FIELD: self.last_name,
        }
        for name, value in (
            (settings.email_field, self.email),
            (settings.phone_field, self.phone_number),
            (settings.customer_id_field, self.customer_tenant_id),
        ):
            if name and value:
                body[name] = value
        return body


def enhanced_request_for(event: AcceptanceRequestedEvent) -> EnhancedAttestationRequest:
    """The create-attestation request of one contract v2 event."""
    signatory = event.signatory
    return EnhancedAttestationRequest(
        customer_tenant_id=event.customer_tenant_id,
        country=event.country,
        language=event.language,
        company_name=event.company_name,
        first_name=signatory.first_name,
        last_name=signatory.last_name,
        email=str(signatory.email),
        phone_number=signatory.phone_number,
    )


def signatory_agreement_request(
    request: EnhancedAttestationRequest, *, template_id: str, date_agreed: datetime
) -> AgreementRequest:
    """The create-agreement request that finalizes an enhanced attestation: the signatory as the primary contact."""
    return AgreementRequest(
        customer_tenant_id=request.customer_tenant_id,
        first_name=request.first_name,
        last_name=request.last_name,
        email=request.email,
        phone_number=request.phone_number,
        template_id=template_id,
        date_agreed=date_agreed,
        agreement_type=MCA,
    )


def canonical_bytes(body: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces: equal requests give equal bytes."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def derive_enhanced_request_id(event_id: str, step: str, body: Mapping[str, Any]) -> str:
    """MS-RequestId of one step of one event: stable for the same event, step and body; new when one changes."""
    material = f"{event_id}\n{step}\n".encode() + canonical_bytes(body)
    return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, material.decode("utf-8")))


class EnhancedAttestationApi:
    """The enhanced attestation's calls over one ``PartnerCenterClient`` (app-only) and one configuration."""

    def __init__(self, client: JsonCaller, settings: EnhancedApiSettings | None = None) -> None:
        self._client = client
        self._settings = settings or EnhancedApiSettings()

    @property
    def settings(self) -> EnhancedApiSettings:
        return self._settings

    async def create_attestation(
        self, request: EnhancedAttestationRequest, *, request_id: str, correlation_id: str
    ) -> AttestationState:
        """POST the attestation; the answer must carry the configured id field. A missing status reads PENDING."""
        doc, ids = await self._client.call_json(
            "POST",
            self._settings.create_url_path(),
            body=canonical_bytes(request.body(self._settings)),
            request_id=request_id,
            correlation_id=correlation_id,
        )
        return self._state(doc, ids, fallback_status=StatusKind.PENDING)

    async def get_status(self, attestation_id: str, *, correlation_id: str) -> AttestationState:
        """GET the attestation's status; the answer must carry the configured status field."""
        doc, ids = await self._client.call_json(
            "GET", self._settings.status_url_path(attestation_id), correlation_id=correlation_id
        )
        state = self._state({self._settings.response_id_field: attestation_id, **doc}, ids, fallback_status=None)
        return state

    async def create_agreement(
        self, agreement: AgreementRequest, attestation_id: str, *, request_id: str, correlation_id: str
    ) -> CreatedAgreement:
        """POST the customer's agreement with the attestation id where the configuration puts it."""
        body: dict[str, Any] = agreement.body()
        params: dict[str, str] | None = None
        if self._settings.attestation_id_location == "query":
            params = {self._settings.attestation_id_name: attestation_id}
        else:
            body[self._settings.attestation_id_name] = attestation_id
        doc, ids = await self._client.call_json(
            "POST",
            self._settings.agreement_url_path(agreement.customer_tenant_id),
            params=params,
            body=canonical_bytes(body),
            request_id=request_id,
            correlation_id=correlation_id,
        )
        return CreatedAgreement(user_id=str(doc.get("userId") or ""), ids=ids)

    def _state(
        self, doc: Mapping[str, Any], ids: RequestIds, *, fallback_status: StatusKind | None
    ) -> AttestationState:
        settings = self._settings
        attestation_id = _text(doc, settings.response_id_field)
        if not attestation_id:
            raise _mismatch("responseIdField", settings.response_id_field, doc, ids)
        raw_status = _text(doc, settings.status_field)
        if not raw_status and fallback_status is None:
            raise _mismatch("statusField", settings.status_field, doc, ids)
        return AttestationState(
            attestation_id=attestation_id,
            status=settings.status_kind(raw_status) if raw_status else StatusKind.PENDING,
            raw_status=raw_status,
            acceptance_link=_text(doc, settings.response_link_field),
            link_expires_at=_text(doc, settings.response_link_expiry_field),
            accepted_at=_text(doc, settings.response_accepted_at_field),
            ids=ids,
        )


def _text(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name) if name else None
    return value if isinstance(value, str) else ""


def _mismatch(key: str, name: str, doc: Mapping[str, Any], ids: RequestIds) -> EnhancedResponseMismatch:
    return EnhancedResponseMismatch(
        f"Partner Center's answer has no text field {name!r} (the configured {key}); "
        f"fields present: {sorted(str(k) for k in doc)}. Correct the enhanced-API configuration "
        "(docs/enhanced-attestation.md; mca-attest probe enhanced)",
        ids=ids,
    )


class EnhancedPartnerCenterAttestation:
    """The core's ``EnhancedAttestation`` port over ``EnhancedAttestationApi``.

    Request ids: create-attestation = (event id, ``attestation-{round}``, body); create-agreement = (event id,
    ``agreement-{round}``, body): a retry repeats its request, a new round or a corrected event makes a new one.
    """

    def __init__(self, api: EnhancedAttestationApi) -> None:
        self.api = api

    def attestation_request_id(self, event: AcceptanceRequestedEvent, *, attempt_round: int) -> str:
        body = enhanced_request_for(event).body(self.api.settings)
        return derive_enhanced_request_id(event.event_id, f"attestation-{attempt_round}", body)

    async def create_attestation(
        self, event: AcceptanceRequestedEvent, *, attempt_round: int, correlation_id: str
    ) -> AttestationState:
        return await self.api.create_attestation(
            enhanced_request_for(event),
            request_id=self.attestation_request_id(event, attempt_round=attempt_round),
            correlation_id=correlation_id,
        )

    async def get_status(self, attestation_id: str, *, correlation_id: str) -> AttestationState:
        return await self.api.get_status(attestation_id, correlation_id=correlation_id)

    async def create_agreement(
        self,
        event: AcceptanceRequestedEvent,
        attestation_id: str,
        *,
        template_id: str,
        date_agreed: datetime,
        attempt_round: int,
        correlation_id: str,
    ) -> AttestationReceipt:
        agreement = signatory_agreement_request(
            enhanced_request_for(event), template_id=template_id, date_agreed=date_agreed
        )
        request_id = derive_enhanced_request_id(
            event.event_id, f"agreement-{attempt_round}", {**agreement.body(), "attestationId": attestation_id}
        )
        created = await self.api.create_agreement(
            agreement, attestation_id, request_id=request_id, correlation_id=correlation_id
        )
        return AttestationReceipt(user_id=created.user_id, ms_cv=created.ids.ms_cv)
