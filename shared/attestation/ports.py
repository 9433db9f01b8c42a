"""What the use case needs from the outside world, as ``Protocol``s, and the values that cross them.

=================  =====================================================  ===============================
port               what it does                                           adapters
=================  =====================================================  ===============================
``Attestation``    records one customer's acceptance with Partner Center  ``AgreementPostAttestation``
                   (whatever the flow); raises the error tree             (legacy POST /agreements)
``MetadataSource`` the current agreement templates                        ``CachedMetadataSource``
``AcceptanceView`` Partner Center's view of a customer: direct-signed     ``PartnerCenterAcceptance``
                   status and recorded agreements (the pre-check,         (two GETs, cached per customer)
                   reconciliation)
``Ledger``         one entry per event (``shared.attestation.ledger``)    ``SqliteLedger``, ``TableLedger``
``Enhanced-        the enhanced attestation's three calls (contract v2):  ``EnhancedPartnerCenter-
Attestation``      create the attestation, read its status, create the    Attestation``
                   agreement with the attestation id
``Notifier``       tells the CRM the acceptance link and every terminal   ``ServiceBusNotifier``
                   state (``shared.attestation.notifications``)           (``mca-notifications``)
=================  =====================================================  ===============================

The legacy flow (contract v1) is ``Attestor`` over ``Attestation``; the enhanced flow (contract v2) is
``EnhancedFlow`` over ``EnhancedAttestation``, ``Ledger`` and ``Notifier``. ``EventRouter`` picks by contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.attestation.contract import PrimaryContact, SignedAgreementEvent
from shared.attestation.contract.v2 import AcceptanceRequestedEvent
from shared.attestation.errors import RequestIds
from shared.attestation.metadata import MetadataSource

__all__ = [
    "AcceptanceView",
    "Attestation",
    "AttestationReceipt",
    "AttestationRequest",
    "AttestationState",
    "CustomerAcceptance",
    "EnhancedAttestation",
    "MetadataSource",
    "RecordedAgreement",
    "StatusKind",
]


@dataclass(frozen=True, slots=True)
class AttestationRequest:
    """One acceptance to record: the event and what the use case resolved for it."""

    event: SignedAgreementEvent
    template_id: str  # the agreement template the customer accepted (the event's override, or the current one)
    correlation_id: str  # groups every call made for this event (MS-CorrelationId)


@dataclass(frozen=True, slots=True)
class AttestationReceipt:
    """Partner Center's confirmation."""

    user_id: str  # who Partner Center recorded as attesting ("" when its answer does not say)
    ms_cv: str = ""  # Partner Center's correlation vector of the answer, for its support


class Attestation(Protocol):
    """Records a customer's acceptance of the agreement with Partner Center."""

    def request_id(self, request: AttestationRequest) -> str:
        """The idempotency key this flow sends for ``request``: equal requests, equal keys, in any process."""
        ...

    async def attest(self, request: AttestationRequest) -> AttestationReceipt:
        """Record it. Raises a ``shared.attestation.errors.PartnerCenterError``; ``AlreadyAttested`` when an
        identical attestation exists (the goal is reached)."""
        ...


@dataclass(frozen=True, slots=True)
class RecordedAgreement:
    """One agreement Partner Center holds for a customer; the contact only as its keyed fingerprint."""

    template_id: str
    date_agreed: datetime
    contact_fingerprint: str  # ``shared.attestation.ledger.contact_fingerprint``; "" without a key


@dataclass(frozen=True, slots=True)
class CustomerAcceptance:
    """Partner Center's view of one customer and agreement type."""

    direct_signed: bool  # accepted by the customer in the Microsoft 365 admin center
    agreements: tuple[RecordedAgreement, ...]

    def accepted_via(self, contact_fingerprint: str, *, agreed_since: datetime | None = None) -> str:
        """How the customer has already accepted, for an event with this contact: ``direct_signed``,
        ``existing_attestation`` (an agreement for the same contact, dated ``agreed_since`` or later when given),
        or "" (not accepted: attest)."""
        if self.direct_signed:
            return "direct_signed"
        if contact_fingerprint and any(
            a.contact_fingerprint == contact_fingerprint and (agreed_since is None or a.date_agreed >= agreed_since)
            for a in self.agreements
        ):
            return "existing_attestation"
        return ""


class AcceptanceView(Protocol):
    """What Partner Center knows of a customer's acceptance. Raises the error tree, like ``Attestation``."""

    async def acceptance(self, customer_tenant_id: str, agreement_type: str) -> CustomerAcceptance: ...

    def fingerprint(self, contact: PrimaryContact) -> str:
        """The contact's fingerprint under the key the listed agreements were hashed with."""
        ...


class StatusKind(StrEnum):
    """What an enhanced attestation's status means to the flow; ``UNKNOWN`` is a value no setting names."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AttestationState:
    """An enhanced attestation as Partner Center answered it: its id, what its status means, the link.

    ``raw_status`` is the value as sent (``""`` when the answer had none); ``acceptance_link`` and
    ``link_expires_at`` are ``""`` when the answer had none. The link lets anyone accept: it is kept out of
    ``repr`` and never stored in the ledger.
    """

    attestation_id: str
    status: StatusKind
    raw_status: str
    acceptance_link: str = field(default="", repr=False)
    link_expires_at: str = ""
    accepted_at: str = ""  # when the customer accepted, as Partner Center said (status answers, once accepted)
    ids: RequestIds = field(default_factory=RequestIds)


class EnhancedAttestation(Protocol):
    """The enhanced attestation's calls (app-only). Each raises the error tree, like ``Attestation``.

    ``attempt_round`` numbers the attestations made for one event (1, then one more per replay after an expiry
    or a rejection): it goes into the derived ``MS-RequestId``, so a retry of one round repeats its request and
    a new round makes a new one."""

    def attestation_request_id(self, event: AcceptanceRequestedEvent, *, attempt_round: int) -> str:
        """The ``MS-RequestId`` ``create_attestation`` sends for this event and round (new when the body changes)."""
        ...

    async def create_attestation(
        self, event: AcceptanceRequestedEvent, *, attempt_round: int, correlation_id: str
    ) -> AttestationState: ...

    async def get_status(self, attestation_id: str, *, correlation_id: str) -> AttestationState: ...

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
        """Raises ``AlreadyAttested`` (600061) when the agreement exists already."""
        ...
