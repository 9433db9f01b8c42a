"""The ledger with the real simulator over TCP: the Idempotent Consumer makes no second POST."""

from __future__ import annotations

import pytest

from emulators.partner_center.server import SimulatorServer
from shared.attestation.ledger import LedgerState
from shared.attestation.outcomes import AlreadyAccepted, AlreadyAttested, Attested
from shared.bootstrap import Services
from shared.ledger import SqliteLedger
from tests.builders import as_body, fresh_event_doc, process_with

pytestmark = pytest.mark.integration

POST = "POST /v1/customers/{customer_id}/agreements"
STATUS = "GET /v1/customers/{customer_id}/directSignedMicrosoftCustomerAgreementStatus"


async def test_second_delivery_makes_zero_posts(simulator: SimulatorServer, services: Services) -> None:
    """The same event delivered twice: one POST in all, the second delivery completes from the ledger."""
    doc = fresh_event_doc()
    first = await process_with(services.attestor, as_body(doc))
    posts_after_first = simulator.state.request_count(route=POST)
    second = await process_with(services.attestor, as_body(doc))
    assert isinstance(first.outcome, Attested)
    assert posts_after_first == 1
    assert simulator.state.request_count(route=POST) - posts_after_first == 0
    assert isinstance(second.outcome, AlreadyAttested)
    ledger = services.journal.ledger
    assert isinstance(ledger, SqliteLedger)
    stored = await ledger.get(doc["customerTenantId"], doc["eventId"])
    assert stored is not None
    assert stored.entry.state is LedgerState.ATTESTED
    assert stored.entry.user_id
    assert stored.entry.ms_cv


async def test_direct_signed_customer_is_skipped_by_the_precheck(
    simulator: SimulatorServer, services: Services
) -> None:
    """A customer marked direct-signed in the simulator: AlreadyAccepted, recorded, zero POSTs, one status read."""
    doc = fresh_event_doc()
    simulator.state.set_direct_signed(doc["customerTenantId"])
    processed = await process_with(services.attestor, as_body(doc))
    assert isinstance(processed.outcome, AlreadyAccepted)
    assert simulator.state.request_count(route=POST) == 0
    assert simulator.state.request_count(route=STATUS) == 1
    stored = await services.journal.ledger.get(doc["customerTenantId"], doc["eventId"])
    assert stored is not None
    assert stored.entry.state is LedgerState.ALREADY_ACCEPTED
