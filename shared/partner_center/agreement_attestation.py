"""The legacy attestation flow: one ``POST /v1/customers/{id}/agreements`` (an ``Attestation`` adapter).

The request body is the event's primary contact, the template, ``dateAgreed`` in UTC and the agreement
type; ``MS-RequestId`` is derived from the event id and that body (``agreement_request.derive_request_id``),
so every retry, redelivery and replay of one event sends the same id.
"""

from __future__ import annotations

from typing import Protocol

from shared.attestation.ports import AttestationReceipt, AttestationRequest
from shared.partner_center.agreement_request import AgreementRequest, derive_request_id
from shared.partner_center.client import CreatedAgreement


class AgreementPoster(Protocol):
    """The one call this flow makes (``PartnerCenterClient`` implements it)."""

    async def create_customer_agreement(
        self, request: AgreementRequest, *, request_id: str, correlation_id: str
    ) -> CreatedAgreement: ...


def agreement_request_for(request: AttestationRequest) -> AgreementRequest:
    """The POST body of one attestation request."""
    event = request.event
    contact = event.primary_contact
    return AgreementRequest(
        customer_tenant_id=event.customer_tenant_id,
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=str(contact.email),
        phone_number=contact.phone_number,
        template_id=request.template_id,
        date_agreed=event.date_agreed,
        agreement_type=event.agreement_type,
    )


class AgreementPostAttestation:
    """``Attestation`` over ``POST /v1/customers/{id}/agreements``."""

    def __init__(self, client: AgreementPoster) -> None:
        self._client = client

    def request_id(self, request: AttestationRequest) -> str:
        return derive_request_id(request.event.event_id, agreement_request_for(request))

    async def attest(self, request: AttestationRequest) -> AttestationReceipt:
        created = await self._client.create_customer_agreement(
            agreement_request_for(request), request_id=self.request_id(request), correlation_id=request.correlation_id
        )
        return AttestationReceipt(user_id=created.user_id, ms_cv=created.ids.ms_cv)
