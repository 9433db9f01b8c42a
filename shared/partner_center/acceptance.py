"""``PartnerCenterAcceptance``: the ``AcceptanceView`` port over two Partner Center reads, cached per customer.

``GET /v1/customers/{id}/directSignedMicrosoftCustomerAgreementStatus`` first; only when the customer has not
signed directly, ``GET /v1/customers/{id}/agreements?agreementType=…``. Both go through the same
``PartnerCenterClient`` as the POST, so they share its retries and throttling; the client already turns 600009
("no agreements") into an empty list.

The answer is cached per (customer, agreement type) for ``ttl_seconds`` — a bulk run or a reconciliation reads
each customer once — and concurrent asks share one read (single flight). Contacts of listed agreements are
hashed here and dropped: nothing personal is kept. The key is the ledger's (``LEDGER_CONTACT_HASH_KEY``), or,
without one, a random key of this process: fingerprints are then compared in memory only.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from shared.attestation.contract import PrimaryContact
from shared.attestation.ledger import contact_fingerprint, fingerprint_of
from shared.attestation.ports import CustomerAcceptance, RecordedAgreement
from shared.partner_center.client import CustomerAgreement


class AcceptanceReads(Protocol):
    """The two reads (``PartnerCenterClient`` implements them)."""

    async def get_direct_signed_status(self, customer_tenant_id: str) -> bool: ...

    async def list_customer_agreements(
        self, customer_tenant_id: str, agreement_type: str = "MicrosoftCustomerAgreement"
    ) -> list[CustomerAgreement]: ...


class PartnerCenterAcceptance:
    """``AcceptanceView`` with a per-customer cache and single flight."""

    def __init__(
        self,
        client: AcceptanceReads,
        *,
        contact_key: bytes = b"",
        ttl_seconds: float = 900.0,
        max_customers: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._contact_key = contact_key or os.urandom(32)
        self._ttl = ttl_seconds
        self._max = max_customers
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], tuple[float, asyncio.Task[CustomerAcceptance]]] = OrderedDict()

    async def acceptance(self, customer_tenant_id: str, agreement_type: str) -> CustomerAcceptance:
        key = (customer_tenant_id, agreement_type)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is None or now - cached[0] > self._ttl or (cached[1].done() and cached[1].exception()):
            task = asyncio.ensure_future(self._read(customer_tenant_id, agreement_type))
            cached = (now, task)
            self._cache[key] = cached
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return await asyncio.shield(cached[1])

    def fingerprint(self, contact: PrimaryContact) -> str:
        return contact_fingerprint(self._contact_key, contact)

    async def _read(self, customer_tenant_id: str, agreement_type: str) -> CustomerAcceptance:
        if await self._client.get_direct_signed_status(customer_tenant_id):
            return CustomerAcceptance(direct_signed=True, agreements=())
        listed = await self._client.list_customer_agreements(customer_tenant_id, agreement_type)
        return CustomerAcceptance(
            direct_signed=False,
            agreements=tuple(
                RecordedAgreement(a.template_id, a.date_agreed, fingerprint_of(self._contact_key, *a.contact))
                for a in listed
            ),
        )
