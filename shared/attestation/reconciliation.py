"""Reconciliation: for each customer, the CRM's expectation, the ledger's state and Partner Center's view, joined
into one standing.

=====================  ===================================================================================
standing               when
=====================  ===================================================================================
accepted_direct        Partner Center: the customer accepted in the Microsoft 365 admin center
accepted_attested      the ledger holds an attestation (Partner Center may list it only hours later)
accepted_already       Partner Center lists an agreement, or the ledger says already attested / accepted
in_progress            the ledger holds the event received, in progress, retrying or awaiting acceptance
dead_lettered          the ledger holds the event dead-lettered (``reason`` says why)
missing                nothing anywhere: neither the ledger nor Partner Center knows of an acceptance
conflict               Partner Center lists agreements, none with the CRM's template or dateAgreed
=====================  ===================================================================================

``missing``, ``dead_lettered`` and ``conflict`` need an operator (``NEEDS_ACTION``). No personal data: ids,
states, reasons, dates and templates only.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.attestation import errors as pc
from shared.attestation.ledger import Ledger, LedgerEntry, LedgerQuery, LedgerState, may_move
from shared.attestation.ports import AcceptanceView, CustomerAcceptance


class Standing(StrEnum):
    ACCEPTED_DIRECT = "accepted_direct"
    ACCEPTED_ATTESTED = "accepted_attested"
    ACCEPTED_ALREADY = "accepted_already"
    IN_PROGRESS = "in_progress"
    DEAD_LETTERED = "dead_lettered"
    MISSING = "missing"
    CONFLICT = "conflict"


NEEDS_ACTION = frozenset({Standing.MISSING, Standing.DEAD_LETTERED, Standing.CONFLICT})


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the CRM expects of one customer (template and date when the export has them)."""

    customer_tenant_id: str
    event_id: str = ""
    agreement_type: str = "MicrosoftCustomerAgreement"
    template_id: str = ""
    date_agreed: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reconciled:
    """One customer's line of the report."""

    customer_tenant_id: str
    standing: Standing
    event_id: str = ""
    ledger_state: str = ""
    reason: str = ""
    direct_signed: bool = False
    agreements: int = 0  # how many agreements of the type Partner Center lists
    detail: str = ""


def _most_advanced(entries: Sequence[LedgerEntry], event_id: str) -> LedgerEntry | None:
    """The expected event's entry if the ledger has it, else the customer's furthest-advanced entry."""
    for entry in entries:
        if event_id and entry.event_id == event_id:
            return entry
    best: LedgerEntry | None = None
    for entry in entries:
        if best is None or (may_move(best.state, entry.state) and entry.state is not best.state):
            best = entry
    return best


def _conflict(expectation: Expectation, view: CustomerAcceptance) -> str:
    """Why none of Partner Center's agreements matches the CRM's template and date; "" when one does."""
    if not expectation.template_id and expectation.date_agreed is None:
        return ""
    for agreement in view.agreements:
        template_ok = not expectation.template_id or agreement.template_id == expectation.template_id
        date_ok = expectation.date_agreed is None or (
            abs((agreement.date_agreed - expectation.date_agreed).total_seconds()) < 1.0
        )
        if template_ok and date_ok:
            return ""
    seen = ", ".join(sorted({f"{a.template_id} @ {a.date_agreed.isoformat()}" for a in view.agreements}))
    return f"Partner Center holds {seen}; the CRM expects {expectation.template_id or 'any template'} @ " + (
        expectation.date_agreed.isoformat() if expectation.date_agreed else "any date"
    )


def classify(expectation: Expectation, entries: Sequence[LedgerEntry], view: CustomerAcceptance) -> Reconciled:
    """One customer's standing (see the module docstring)."""
    entry = _most_advanced(entries, expectation.event_id)
    base = Reconciled(
        expectation.customer_tenant_id,
        Standing.MISSING,
        event_id=entry.event_id if entry else expectation.event_id,
        ledger_state=entry.state.value if entry else "",
        reason=entry.reason if entry else "",
        direct_signed=view.direct_signed,
        agreements=len(view.agreements),
    )
    state = entry.state if entry else None
    standing: Standing
    detail = ""
    if view.direct_signed:
        standing = Standing.ACCEPTED_DIRECT
    elif view.agreements:
        detail = _conflict(expectation, view)
        if detail:
            standing = Standing.CONFLICT
        elif state is LedgerState.ATTESTED:
            standing = Standing.ACCEPTED_ATTESTED
        else:
            standing = Standing.ACCEPTED_ALREADY
    elif state is LedgerState.ATTESTED:
        standing, detail = Standing.ACCEPTED_ATTESTED, "not listed by Partner Center yet (it may take hours)"
    elif state in (LedgerState.ALREADY_ATTESTED, LedgerState.ALREADY_ACCEPTED):
        standing = Standing.ACCEPTED_ALREADY
    elif state in (
        LedgerState.RECEIVED,
        LedgerState.IN_PROGRESS,
        LedgerState.RETRYING,
        LedgerState.AWAITING_ACCEPTANCE,
    ):
        standing = Standing.IN_PROGRESS
    elif state is LedgerState.DEAD_LETTERED:
        standing, detail = Standing.DEAD_LETTERED, entry.detail if entry else ""
    else:
        standing = Standing.MISSING
    return replace(base, standing=standing, detail=detail)


async def expectations_from_ledger(ledger: Ledger) -> list[Expectation]:
    """Every customer the ledger knows, expecting an acceptance (no template or date to compare)."""
    customers = sorted({entry.customer_tenant_id for entry in await ledger.query(LedgerQuery())})
    return [Expectation(customer) for customer in customers]


async def reconcile(
    expectations: Sequence[Expectation],
    ledger: Ledger,
    view: AcceptanceView,
    *,
    concurrency: int = 8,
    on_result: Callable[[Reconciled], None] = lambda _: None,
) -> list[Reconciled]:
    """Classify every expected customer, at most ``concurrency`` at a time. A customer Partner Center does not
    answer for (after the client's retries) is classified on the ledger alone, and the line says so. One line per
    customer: the first expectation of a customer counts."""
    unique: dict[str, Expectation] = {}
    for expectation in expectations:
        unique.setdefault(expectation.customer_tenant_id, expectation)
    slots = asyncio.Semaphore(concurrency)

    async def one(expectation: Expectation) -> Reconciled:
        unanswered = ""
        async with slots:
            entries = await ledger.query(LedgerQuery(customer_tenant_id=expectation.customer_tenant_id))
            try:
                acceptance = await view.acceptance(expectation.customer_tenant_id, expectation.agreement_type)
            except pc.PartnerCenterError as error:  # this customer only: the others are still reconciled
                acceptance, unanswered = CustomerAcceptance(direct_signed=False, agreements=()), error.summary()
        result = classify(expectation, entries, acceptance)
        if unanswered:
            result = replace(
                result, detail=f"Partner Center did not answer: {unanswered}; {result.detail}".rstrip("; ")
            )
        on_result(result)
        return result

    return list(await asyncio.gather(*(one(e) for e in unique.values())))


def counts(results: Sequence[Reconciled]) -> dict[str, int]:
    """How many customers per standing, every standing listed (zeros too), in the table's order."""
    tally = Counter(r.standing for r in results)
    return {standing.value: tally.get(standing, 0) for standing in Standing}
