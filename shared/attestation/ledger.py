"""The attestation ledger: one entry per event, what happened to it, and no personal data.

The ``Ledger`` port stores ``LedgerEntry`` values under (customer tenant id, event id) with ETag-guarded
writes, like ``MetadataStore``: a write names the ETag it read (``if_match``) or ``None`` to create an entry
that must not exist yet; a lost race is *reported* (``put`` returns ``None``), not raised. Adapters:
``shared/ledger/`` (SQLite for local runs and the bulk command, Azure Table Storage in Azure).

States never move backwards (``may_move``)::

    received → in_progress ⇄ retrying ⇄ awaiting_acceptance → dead_lettered → attested | already_attested
                                                                             | already_accepted

``awaiting_acceptance`` is the enhanced attestation's wait for the customer (contract v2); where that flow
stands is in ``flow_step`` and its fields (``attestation_id``, ``checks``, …), advanced by
``shared.attestation.enhanced_flow`` with ETag-guarded writes of its own.

A success is final: a later delivery that fails, or succeeds differently, leaves it as it is. A dead letter
may still become a success (a replay); an entry may be rewritten in the same state (new attempt, message id).

The contact is kept only as ``contact_fingerprint``: HMAC-SHA256 under a key the operator holds
(``LEDGER_CONTACT_HASH_KEY``; in Azure a Key Vault reference), so "same contact?" can be answered and the
contact cannot be read back (a plain hash of an email address is open to a dictionary attack; a keyed one
is not without the key). Without a key no fingerprint is kept.

``AttestationJournal`` is what the use case and the hosts speak: it reads, merges and writes entries,
re-reading after a lost race, and never lets a state move backwards.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from shared.attestation.contract import PrimaryContact, SignedAgreementEvent
from shared.attestation.outcomes import (
    AlreadyAccepted,
    AlreadyAttested,
    Attested,
    AwaitingAcceptance,
    DeadLetter,
    Outcome,
    RetryLater,
    Validated,
)

log = logging.getLogger(__name__)

__all__ = [
    "SUCCESSFUL_STATES",
    "AttestationJournal",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerQuery",
    "LedgerState",
    "StoredEntry",
    "contact_fingerprint",
    "may_move",
]


class LedgerState(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    RETRYING = "retrying"
    AWAITING_ACCEPTANCE = "awaiting_acceptance"  # enhanced attestation: the customer has the link
    DEAD_LETTERED = "dead_lettered"
    ATTESTED = "attested"
    ALREADY_ATTESTED = "already_attested"
    ALREADY_ACCEPTED = "already_accepted"


SUCCESSFUL_STATES = frozenset({LedgerState.ATTESTED, LedgerState.ALREADY_ATTESTED, LedgerState.ALREADY_ACCEPTED})

_RANK = {
    LedgerState.RECEIVED: 0,
    LedgerState.IN_PROGRESS: 1,
    LedgerState.RETRYING: 1,
    LedgerState.AWAITING_ACCEPTANCE: 1,
    LedgerState.DEAD_LETTERED: 2,
    LedgerState.ATTESTED: 3,
    LedgerState.ALREADY_ATTESTED: 3,
    LedgerState.ALREADY_ACCEPTED: 3,
}


def may_move(current: LedgerState, new: LedgerState) -> bool:
    """Whether an entry in ``current`` may be written as ``new``: forwards, or sideways short of success."""
    if current in SUCCESSFUL_STATES:
        return new is current
    return _RANK[new] >= _RANK[current]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the ledger knows of one event. Ids, codes and a keyed hash: nothing that names a person."""

    customer_tenant_id: str  # the partition
    event_id: str  # the row
    state: LedgerState
    agreement_type: str = ""
    template_id: str = ""
    date_agreed: str = ""  # ISO-8601 UTC, as sent to Partner Center
    contact_fingerprint: str = ""  # HMAC-SHA256 of the contact under the ledger key; "" without a key
    reason: str = ""  # the dead-letter reason, or how a customer was already accepted ("direct", …)
    detail: str = ""  # the outcome's description (already redacted by the use case)
    attempt: int = 0
    request_id: str = ""  # MS-RequestId
    correlation_id: str = ""  # MS-CorrelationId
    ms_cv: str = ""
    user_id: str = ""  # Partner Center's userId of the attestation
    message_id: str = ""  # the Service Bus message id of the last delivery ("" for the bulk command)
    created_at: str = ""  # ISO-8601 UTC
    updated_at: str = ""
    # The enhanced attestation (contract v2) only; empty for contract v1. The acceptance link is never kept.
    contract: str = ""  # "v2" for the enhanced attestation
    flow_step: str = ""  # ``shared.attestation.enhanced_flow.FlowStep``
    attestation_id: str = ""  # Partner Center's id of the enhanced attestation
    attestation_round: int = 0  # 1 for the first attestation; a replay after expiry or rejection starts another
    link_expires_at: str = ""  # as Partner Center said, when it did
    awaiting_since: str = ""  # ISO-8601 UTC: when the wait (and its deadline) started
    next_check_at: str = ""  # ISO-8601 UTC: when the scheduled status check is due
    checks: int = 0  # status checks made in this round
    replay_count: int = 0  # the dead-letter replays this entry has seen (``mca-replay-count``)

    def merged_onto(self, current: LedgerEntry) -> LedgerEntry:
        """``current`` updated by this entry: its state, and every field this entry sets (non-empty)."""
        changes = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) not in ("", 0) and f.name != "created_at"
        }
        return replace(current, **changes)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    entry: LedgerEntry
    etag: str


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    """Filters of ``Ledger.query``; empty means any."""

    customer_tenant_id: str = ""
    state: LedgerState | None = None
    reason: str = ""
    since: str = ""  # ISO-8601 UTC: entries updated at or after


class LedgerError(Exception):
    """The ledger could not be read or written (unreachable, denied, misconfigured)."""


class Ledger(Protocol):
    """A home for ledger entries, one per (customer, event), with ETag-guarded writes."""

    async def get(self, customer_tenant_id: str, event_id: str) -> StoredEntry | None:
        """The entry, or None; raises ``LedgerError``."""
        ...

    async def put(self, entry: LedgerEntry, *, if_match: str | None) -> str | None:
        """Store ``entry`` if it still has ETag ``if_match`` (None: if there is none yet). The new ETag, or None
        when another writer got there first. Raises ``LedgerError``."""
        ...

    async def query(self, query: LedgerQuery) -> list[LedgerEntry]:
        """Entries matching every filter, by customer then event id. Raises ``LedgerError``."""
        ...


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def contact_fingerprint(key: bytes, contact: PrimaryContact) -> str:
    """HMAC-SHA256 (hex) of the fields Partner Center compares for 600061, normalised; "" without a key."""
    return fingerprint_of(key, contact.first_name, contact.last_name, str(contact.email), contact.phone_number or "")


def fingerprint_of(key: bytes, first_name: str, last_name: str, email: str, phone_number: str) -> str:
    """``contact_fingerprint`` of loose fields (a contact as Partner Center lists it)."""
    if not key:
        return ""
    phone = "".join(ch for ch in phone_number if ch.isdigit() or ch == "+")
    parts = (_normal(first_name), _normal(last_name), _normal(email), phone)
    return hmac.new(key, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()


def utc_now_iso(clock: Callable[[], datetime]) -> str:
    return clock().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AttestationJournal:
    """Reads and advances ledger entries for the use case and the hosts.

    Remembers the ETag of its own last write per event (bounded), so the write after the POST usually needs
    no read; a lost race re-reads and merges again, a bounded number of times.
    """

    _MAX_REMEMBERED = 10_000
    _MAX_RACES = 5

    def __init__(
        self, ledger: Ledger, *, contact_key: bytes = b"", clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.ledger = ledger
        self._contact_key = contact_key
        self._clock = clock
        self._last: OrderedDict[tuple[str, str], StoredEntry] = OrderedDict()
        self._customers: OrderedDict[str, str] = OrderedDict()  # event id → customer, for ``settle``

    def fingerprint(self, contact: PrimaryContact) -> str:
        return contact_fingerprint(self._contact_key, contact)

    async def lookup(self, customer_tenant_id: str, event_id: str) -> LedgerEntry | None:
        stored = await self.ledger.get(customer_tenant_id, event_id)
        if stored is None:
            self._customers[event_id] = customer_tenant_id
            return None
        self._remember(stored)
        return stored.entry

    async def record(self, entry: LedgerEntry) -> LedgerEntry:
        """Write ``entry`` merged onto what is stored, unless that would move the state backwards; returns what
        the ledger holds afterwards. Raises ``LedgerError`` (also when other writers win every race)."""
        key = (entry.customer_tenant_id, entry.event_id)
        stored = self._last.pop(key, None)
        for _ in range(self._MAX_RACES):
            if stored is None:
                stored = await self.ledger.get(*key)
            now = utc_now_iso(self._clock)
            if stored is None:
                new = replace(entry, created_at=entry.created_at or now, updated_at=now)
                etag = await self.ledger.put(new, if_match=None)
            else:
                if not may_move(stored.entry.state, entry.state):
                    self._remember(stored)
                    return stored.entry
                new = replace(entry.merged_onto(stored.entry), updated_at=now)
                etag = await self.ledger.put(new, if_match=stored.etag)
            if etag is not None:
                self._remember(StoredEntry(new, etag))
                return new
            stored = None  # lost a race: read again
        raise LedgerError(f"ledger entry {entry.event_id}: other writers won {self._MAX_RACES} times in a row")

    async def begin(
        self, event: SignedAgreementEvent, *, template_id: str, request_id: str, correlation_id: str
    ) -> LedgerEntry:
        """Record that ``event`` is being attested, with every fact the ledger keeps of it."""
        return await self.record(
            LedgerEntry(
                event.customer_tenant_id,
                event.event_id,
                LedgerState.IN_PROGRESS,
                agreement_type=event.agreement_type,
                template_id=template_id,
                date_agreed=event.date_agreed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                contact_fingerprint=self.fingerprint(event.primary_contact),
                request_id=request_id,
                correlation_id=correlation_id,
            )
        )

    async def settle(
        self, outcome: Outcome, *, attempt: int, message_id: str = "", dead_letter_reason: str = ""
    ) -> LedgerEntry | None:
        """Record what a host did with ``outcome`` of an event this journal saw (``lookup`` or ``begin``):
        ``dead_letter_reason`` when it dead-lettered a ``RetryLater`` (retries exhausted). None when there is
        nothing to record (a dry run, or an event never looked up: invalid, or no template)."""
        customer = self._customers.get(outcome.event_id)
        if customer is None or isinstance(outcome, Validated | AwaitingAcceptance):
            return None
        entry = LedgerEntry(
            customer,
            outcome.event_id,
            LedgerState.RETRYING,
            attempt=attempt,
            message_id=message_id,
            request_id=outcome.request_id,
            correlation_id=outcome.correlation_id,
        )
        if isinstance(outcome, Attested):
            entry = replace(entry, state=LedgerState.ATTESTED, user_id=outcome.user_id, ms_cv=outcome.ms_cv)
        elif isinstance(outcome, AlreadyAttested):
            entry = replace(entry, state=LedgerState.ALREADY_ATTESTED)
        elif isinstance(outcome, DeadLetter):
            entry = replace(
                entry, state=LedgerState.DEAD_LETTERED, reason=outcome.reason.value, detail=outcome.description
            )
        elif isinstance(outcome, RetryLater):
            state = LedgerState.DEAD_LETTERED if dead_letter_reason else LedgerState.RETRYING
            entry = replace(entry, state=state, reason=dead_letter_reason, detail=outcome.description)
        else:
            entry = _settled_otherwise(entry, outcome)
        recorded = await self.record(entry)
        if recorded.state is not LedgerState.RETRYING:
            self.forget(customer, outcome.event_id)
        return recorded

    def forget(self, customer_tenant_id: str, event_id: str) -> None:
        """Drop what is remembered of an event (after its final write)."""
        self._last.pop((customer_tenant_id, event_id), None)
        self._customers.pop(event_id, None)

    def _remember(self, stored: StoredEntry) -> None:
        key = (stored.entry.customer_tenant_id, stored.entry.event_id)
        self._last[key] = stored
        self._last.move_to_end(key)
        self._customers[stored.entry.event_id] = stored.entry.customer_tenant_id
        self._customers.move_to_end(stored.entry.event_id)
        while len(self._last) > self._MAX_REMEMBERED:
            self._last.popitem(last=False)
        while len(self._customers) > self._MAX_REMEMBERED:
            self._customers.popitem(last=False)


def _settled_otherwise(entry: LedgerEntry, outcome: Outcome) -> LedgerEntry:
    if isinstance(outcome, AlreadyAccepted):
        return replace(entry, state=LedgerState.ALREADY_ACCEPTED, reason=outcome.via)
    raise TypeError(f"no ledger state for {type(outcome).__name__}")
