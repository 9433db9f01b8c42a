"""The enhanced attestation as ``open_services`` wires it, against the Partner Center simulator over TCP: the
router, the app-only client beside the app+user one, the SQLite ledger; notifications in memory (the queue
itself is covered by the end-to-end tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from emulators.partner_center.server import SimulatorServer
from shared.attestation.flow_state import Delivery, FlowStep
from shared.attestation.ledger import LedgerState
from shared.attestation.outcomes import Attested, AwaitingAcceptance, DeadLetter, DeadLetterReason
from shared.bootstrap import Services, open_services
from shared.settings import Settings
from tests.builders import MemoryNotifier, acceptance_requested_doc, as_body, fresh_event_doc

CHECK_NOW = Delivery(check_now=True)


@pytest.fixture
def notifier() -> MemoryNotifier:
    return MemoryNotifier()


@pytest.fixture
async def enhanced_services(app_settings: Settings, notifier: MemoryNotifier) -> AsyncIterator[Services]:
    async with open_services(app_settings, notifier=notifier) as built:
        yield built


def enhanced_attestations(simulator: SimulatorServer, customer: str) -> int:
    return sum(1 for attestation in simulator.state.enhanced.all() if attestation.customer_id == customer)


def v2_body(customer: str, event_id: str = "crm-v2-1") -> bytes:
    return as_body(acceptance_requested_doc(customerTenantId=customer, eventId=event_id))


async def test_both_contracts_through_one_router(
    enhanced_services: Services, simulator: SimulatorServer, notifier: MemoryNotifier
) -> None:
    """v1 with app+user tokens, v2 with app-only ones: each reaches its Partner Center calls."""
    v1_doc = fresh_event_doc()
    customer = str(fresh_event_doc()["customerTenantId"])
    router = enhanced_services.router

    assert isinstance(await router.attest_body(as_body(v1_doc)), Attested)
    waiting = await router.attest_body(v2_body(customer))
    assert isinstance(waiting, AwaitingAcceptance)
    assert enhanced_attestations(simulator, customer) == 1
    assert notifier.kinds() == ["acceptance_link_issued"]
    assert notifier.sent[0].acceptance_link.endswith(waiting.attestation_id)

    assert isinstance(await router.attest_body(v2_body(customer), CHECK_NOW), AwaitingAcceptance)  # still pending
    simulator.state.enhanced.accept(waiting.attestation_id)  # the simulator stands in for the customer
    done = await router.attest_body(v2_body(customer), CHECK_NOW)

    assert isinstance(done, Attested)
    assert [a.agreement_created for a in simulator.state.enhanced.all()] == [True]
    assert enhanced_attestations(simulator, customer) == 1
    stored = await enhanced_services.journal.ledger.get(customer, "crm-v2-1")
    assert stored is not None
    assert (stored.entry.state, stored.entry.flow_step, stored.entry.contract) == (
        LedgerState.ATTESTED,
        FlowStep.AGREEMENT_CREATED,
        "v2",
    )
    assert notifier.kinds() == ["acceptance_link_issued", "agreement_created"]


async def test_an_expired_link_is_a_dead_letter_naming_the_attestation(
    enhanced_services: Services, simulator: SimulatorServer, notifier: MemoryNotifier
) -> None:
    customer = str(fresh_event_doc()["customerTenantId"])
    waiting = await enhanced_services.router.attest_body(v2_body(customer))
    assert isinstance(waiting, AwaitingAcceptance)
    simulator.state.enhanced.expire(waiting.attestation_id)
    ended = await enhanced_services.router.attest_body(v2_body(customer), CHECK_NOW)
    assert isinstance(ended, DeadLetter)
    assert ended.reason is DeadLetterReason.ACCEPTANCE_LINK_EXPIRED
    assert waiting.attestation_id in ended.description
    assert notifier.kinds() == ["acceptance_link_issued", "link_expired"]

    again = await enhanced_services.router.attest_body(v2_body(customer), replace(CHECK_NOW, replay_count=1))
    assert isinstance(again, AwaitingAcceptance)  # a replay: a new attestation, a new link
    assert again.attestation_id != waiting.attestation_id
    assert enhanced_attestations(simulator, customer) == 2


async def test_legacy_only_deployment_refuses_v2_and_builds_no_enhanced_flow(app_settings: Settings) -> None:
    async with open_services(replace(app_settings, attestation_flows=("legacy",))) as services:
        assert services.enhanced is None
        outcome = await services.router.attest_body(v2_body("3fa85f64-5717-4562-b3fc-2c963f66afa6"))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.FLOW_NOT_ENABLED
