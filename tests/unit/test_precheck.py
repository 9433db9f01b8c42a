"""The pre-check: a customer who already accepted is not attested again, and each customer is read once."""

from __future__ import annotations

import asyncio

from shared.attestation import errors as pc
from shared.attestation.ledger import AttestationJournal, LedgerState
from shared.attestation.outcomes import AlreadyAccepted, Attested, DeadLetter, DeadLetterReason, RetryLater
from shared.attestation.use_case import Attestor
from shared.partner_center.acceptance import PartnerCenterAcceptance
from shared.servicebus.processing import Processed
from shared.servicebus.settlement import Complete
from tests.builders import (
    TENANT,
    FakeAcceptanceReads,
    FakeAttestation,
    FakeLedger,
    FakeMetadata,
    as_body,
    event_doc,
    process_with,
)

OTHER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def attestor_with(
    reads: FakeAcceptanceReads, attestation: FakeAttestation, ledger: FakeLedger | None = None
) -> Attestor:
    journal = AttestationJournal(ledger, contact_key=b"k") if ledger is not None else None
    return Attestor(
        attestation, FakeMetadata(), journal=journal, precheck=PartnerCenterAcceptance(reads, contact_key=b"k")
    )


async def deliver(attestor: Attestor, body: bytes) -> Processed:
    return await process_with(attestor, body)


async def test_direct_signed_customer_is_already_accepted_without_a_post() -> None:
    """A direct-signed customer: AlreadyAccepted (direct_signed), completed, recorded, zero POSTs."""
    reads, attestation, ledger = FakeAcceptanceReads(), FakeAttestation(), FakeLedger()
    reads.direct_signed.add(TENANT)
    processed = await deliver(attestor_with(reads, attestation, ledger), as_body(event_doc()))
    assert isinstance(processed.outcome, AlreadyAccepted)
    assert processed.outcome.via == "direct_signed"
    assert isinstance(processed.settlement, Complete)
    assert attestation.requests == []
    assert (ledger.entry().state, ledger.entry().reason) == (LedgerState.ALREADY_ACCEPTED, "direct_signed")
    assert reads.calls == [("direct_signed", TENANT)]  # signed: the agreements need no read


async def test_an_attestation_for_the_same_contact_means_already_accepted() -> None:
    """Partner Center lists an agreement for the same contact (written differently): no POST."""
    reads, attestation = FakeAcceptanceReads(), FakeAttestation()
    reads.attested(email="ZEPHYRINE.quillfeather@contoso.example.com")
    processed = await deliver(attestor_with(reads, attestation), as_body(event_doc()))
    assert isinstance(processed.outcome, AlreadyAccepted)
    assert processed.outcome.via == "existing_attestation"
    assert attestation.requests == []


async def test_an_attestation_for_another_contact_does_not_stop_the_post() -> None:
    """An agreement for another contact, or none (600009), leaves the event to be attested."""
    reads, attestation = FakeAcceptanceReads(), FakeAttestation()
    reads.attested(email="someone.else@contoso.example.com")
    first = await deliver(attestor_with(reads, attestation), as_body(event_doc()))
    second = await deliver(attestor_with(reads, attestation), as_body(event_doc(customerTenantId=OTHER, eventId="e2")))
    assert isinstance(first.outcome, Attested)
    assert isinstance(second.outcome, Attested)
    assert len(attestation.requests) == 2


async def test_reads_are_cached_per_customer_and_shared_by_concurrent_events() -> None:
    """Ten concurrent events of one customer and one of another: one read of each kind per customer."""
    reads, attestation = FakeAcceptanceReads(), FakeAttestation()
    attestor = attestor_with(reads, attestation)
    bodies = [as_body(event_doc(eventId=f"e-{i}")) for i in range(10)]
    bodies.append(as_body(event_doc(eventId="e-other", customerTenantId=OTHER)))
    await asyncio.gather(*(attestor.attest_body(body) for body in bodies))
    assert sorted(reads.calls) == sorted(
        [("direct_signed", TENANT), ("agreements", TENANT), ("direct_signed", OTHER), ("agreements", OTHER)]
    )
    assert len(attestation.requests) == 11


async def test_a_failed_read_is_answered_like_a_failed_post_and_not_cached() -> None:
    """An unknown customer dead-letters, a throttled read retries; the next event reads again."""
    unknown = FakeAcceptanceReads(error=pc.UnknownCustomer("404 Tenant not found", status=404, code="60003"))
    throttled = FakeAcceptanceReads(error=pc.Throttled("429", status=429, retry_after=7.0))
    dead = await attestor_with(unknown, FakeAttestation()).attest_body(as_body(event_doc()))
    attestor = attestor_with(throttled, FakeAttestation())
    later = await attestor.attest_body(as_body(event_doc()))
    await attestor.attest_body(as_body(event_doc(eventId="e-2")))
    assert isinstance(dead, DeadLetter)
    assert dead.reason is DeadLetterReason.UNKNOWN_CUSTOMER
    assert isinstance(later, RetryLater)
    assert later.retry_after == 7.0
    assert throttled.calls == [("direct_signed", TENANT), ("direct_signed", TENANT)]


async def test_redelivery_of_an_already_accepted_event_reads_nothing() -> None:
    """Once recorded as already accepted, a second delivery is answered from the ledger: no read, no POST."""
    reads, attestation, ledger = FakeAcceptanceReads(), FakeAttestation(), FakeLedger()
    reads.direct_signed.add(TENANT)
    await deliver(attestor_with(reads, attestation, ledger), as_body(event_doc()))
    reads_before = len(reads.calls)
    again = await deliver(attestor_with(reads, attestation, ledger), as_body(event_doc()))
    assert isinstance(again.outcome, AlreadyAccepted)
    assert again.outcome.via == "direct_signed"
    assert len(reads.calls) == reads_before
    assert attestation.requests == []
