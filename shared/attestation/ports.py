"""What the use case needs from the outside world, as ``Protocol``s, and the values that cross them.

=================  =====================================================  ===============================
port               what it does                                           adapters
=================  =====================================================  ===============================
``Attestation``    records one customer's acceptance with Partner Center  ``AgreementPostAttestation``
                   (whatever the flow); raises the error tree             (legacy POST /agreements)
``MetadataSource`` the current agreement templates                        ``CachedMetadataSource``
=================  =====================================================  ===============================

A second attestation flow (the enhanced attestation) is a second ``Attestation`` adapter, chosen in
``shared/bootstrap.py``; the use case does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.attestation.contract import SignedAgreementEvent
from shared.attestation.metadata import MetadataSource

__all__ = ["Attestation", "AttestationReceipt", "AttestationRequest", "MetadataSource"]


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
