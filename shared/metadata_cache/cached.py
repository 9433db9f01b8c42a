"""``CachedMetadataSource``: agreement metadata read through memory → store → Partner Center.

::

    get(type)   memory, fresh (age of fetchedAt < TTL)           → return it, no I/O
                otherwise, one flight per type per process:
                  store holds a fresh document                   → use it (another instance fetched)
                  fetch from Partner Center                      → write back (ETag-guarded), use it
                  fetch fails Transient/Auth, a stale value known → use it, warn, and do not ask again
                                                                   for ``stale_retry_seconds``
                  fetch fails otherwise, or nothing known        → raise
    refresh(type)  always fetches, writes back, and answers a ``RefreshResult``; a failure keeps the
                   last good value and is reported in the result, not raised.

The store is a help, not a dependency: when it fails (``MetadataStoreError``) the source logs and goes on
with what Partner Center answers. A lost write race means another instance wrote first: the source
re-reads and adopts that document if it is at least as new as its own fetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from shared.attestation.errors import AuthError, PartnerCenterError, TransientError
from shared.attestation.metadata import AgreementMetadata, NoTemplateError
from shared.metadata_cache.store import (
    CorruptMetadataDocument,
    MetadataStore,
    MetadataStoreError,
    StoredMetadata,
)

logger = logging.getLogger(__name__)

Fetcher = Callable[[str], Awaitable[AgreementMetadata]]
"""``GET /v1/agreements?agreementType=…`` for one type; raises ``PartnerCenterError``."""

Clock = Callable[[], datetime]

_T = TypeVar("_T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """A document written without an offset is read as UTC, so ages can always be computed."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _current_id(metadata: AgreementMetadata | None) -> str | None:
    if metadata is None:
        return None
    try:
        return metadata.current.template_id
    except NoTemplateError:
        return None


def _newest(*candidates: AgreementMetadata | None) -> AgreementMetadata | None:
    known = [c for c in candidates if c is not None and _current_id(c) is not None]
    return max(known, key=lambda m: _aware(m.fetched_at), default=None)


@dataclass(slots=True)
class CacheStats:
    """Counters of one source, for benchmarks and tests (metadata GETs per message is a goal metric)."""

    fetches: int = 0  # GETs sent to Partner Center (successful or not)
    fetch_failures: int = 0
    memory_hits: int = 0
    store_reads: int = 0
    store_hits: int = 0  # a fresh document in the store spared a fetch
    stale_served: int = 0  # times a stale value was returned because Partner Center failed
    store_errors: int = 0
    write_conflicts: int = 0


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one forced refresh did. On failure ``error`` is set and ``current_*`` is the kept value."""

    agreement_type: str
    previous_template_id: str | None  # current templateId before the refresh (None: nothing cached)
    current_template_id: str | None  # after it; on failure the last good one (None: still nothing)
    fetched_at: datetime | None  # when the metadata now in use was fetched
    error: PartnerCenterError | NoTemplateError | None = None
    stored: bool = False  # the fetched metadata reached the shared store (other instances will see it)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changed(self) -> bool:
        """The current templateId differs from the one cached before (a first fill is not a change)."""
        if self.previous_template_id is None or self.current_template_id is None:
            return False
        return self.previous_template_id.lower() != self.current_template_id.lower()


@dataclass(frozen=True, slots=True)
class _StoreView:
    """The store as one load saw it."""

    stored: StoredMetadata | None
    usable: bool  # False: reading failed, so a guarded write is impossible
    write_etag: str | None  # the ETag to guard the write-back with (None: create-only)


class CachedMetadataSource:
    """A ``MetadataSource`` for the queue path: memory with a TTL, a shared store, then Partner Center."""

    def __init__(
        self,
        store: MetadataStore,
        fetch: Fetcher,
        *,
        ttl_seconds: float,
        stale_retry_seconds: float = 60.0,
        clock: Clock = utc_now,
    ) -> None:
        if ttl_seconds < 0 or stale_retry_seconds < 0:
            raise ValueError("ttl_seconds and stale_retry_seconds must not be negative")
        self._store = store
        self._fetch = fetch
        self._ttl = timedelta(seconds=ttl_seconds)
        self._stale_retry = timedelta(seconds=stale_retry_seconds)
        self._clock = clock
        self._memory: dict[str, AgreementMetadata] = {}
        self._no_fetch_before: dict[str, datetime] = {}  # after a failed fetch served stale
        self._loads: dict[str, asyncio.Task[AgreementMetadata]] = {}  # one flight per agreement type
        self._refreshes: dict[str, asyncio.Task[RefreshResult]] = {}
        self.stats = CacheStats()

    # -- the queue path ------------------------------------------------------------------------------

    async def get(self, agreement_type: str) -> AgreementMetadata:
        """Metadata for ``agreement_type``; raises ``PartnerCenterError`` if none can be had."""
        cached = self._memory.get(agreement_type)
        if cached is not None and (self._is_fresh(cached) or self._resting(agreement_type)):
            self.stats.memory_hits += 1
            return cached
        refreshing = self._refreshes.get(agreement_type)
        if refreshing is not None:  # the timer is fetching right now: wait for it rather than fetch twice
            await asyncio.shield(refreshing)
            cached = self._memory.get(agreement_type)
            if cached is not None and self._is_fresh(cached):
                self.stats.memory_hits += 1
                return cached
        return await self._single_flight(self._loads, agreement_type, lambda: self._load(agreement_type))

    # -- the timer -----------------------------------------------------------------------------------

    async def refresh(self, agreement_type: str) -> RefreshResult:
        """Fetch now, write back, and report whether the current templateId changed; never raises
        ``PartnerCenterError`` (the result carries it, and the last good value stays in use)."""
        return await self._single_flight(self._refreshes, agreement_type, lambda: self._refresh_once(agreement_type))

    # -- internals -----------------------------------------------------------------------------------

    def _is_fresh(self, metadata: AgreementMetadata) -> bool:
        return self._clock() - _aware(metadata.fetched_at) < self._ttl

    def _resting(self, agreement_type: str) -> bool:
        until = self._no_fetch_before.get(agreement_type)
        return until is not None and self._clock() < until

    @staticmethod
    async def _single_flight(
        flights: dict[str, asyncio.Task[_T]], agreement_type: str, work: Callable[[], Coroutine[Any, Any, _T]]
    ) -> _T:
        """Join the flight in progress for ``agreement_type``, or start one: one fetch, many waiters."""
        flight = flights.get(agreement_type)
        if flight is None:
            flight = asyncio.get_running_loop().create_task(work(), name=f"metadata-cache:{agreement_type}")
            flights[agreement_type] = flight

            def landed(done: asyncio.Task[_T]) -> None:
                if flights.get(agreement_type) is done:
                    del flights[agreement_type]
                if not done.cancelled():
                    done.exception()  # mark as retrieved: the waiters have it, or none are left

            flight.add_done_callback(landed)
        # shield: a cancelled caller (e.g. a message's timeout) must not cancel the others' fetch.
        return await asyncio.shield(flight)

    async def _load(self, agreement_type: str) -> AgreementMetadata:
        view = await self._read_store(agreement_type)
        stored = view.stored.metadata if view.stored is not None else None
        if stored is not None and _current_id(stored) is not None and self._is_fresh(stored):
            self.stats.store_hits += 1
            return self._remember(stored)
        fallback = _newest(self._memory.get(agreement_type), stored)
        try:
            fetched = await self._fetch_counted(agreement_type)
        except (TransientError, AuthError) as exc:
            if fallback is None:
                raise
            return self._serve_stale(fallback, exc)
        _ = fetched.current  # raises NoTemplateError: an empty list must not replace a good value
        chosen, _ = await self._write_back(fetched, view)
        return self._remember(chosen)

    async def _refresh_once(self, agreement_type: str) -> RefreshResult:
        view = await self._read_store(agreement_type)
        previous = _newest(self._memory.get(agreement_type), view.stored.metadata if view.stored is not None else None)
        previous_id = _current_id(previous)
        try:
            fetched = await self._fetch_counted(agreement_type)
            _ = fetched.current  # raises NoTemplateError before anything is overwritten
        except (PartnerCenterError, NoTemplateError) as exc:
            # Not logged here: the result carries the error, and the refresh timer logs it once
            # (metadata.refresh_failed, with its metric).
            if previous is not None:
                self._remember(previous)
            return RefreshResult(
                agreement_type=agreement_type,
                previous_template_id=previous_id,
                current_template_id=previous_id,
                fetched_at=previous.fetched_at if previous is not None else None,
                error=exc,
            )
        chosen, stored = await self._write_back(fetched, view)
        self._remember(chosen)
        return RefreshResult(
            agreement_type=agreement_type,
            previous_template_id=previous_id,
            current_template_id=_current_id(chosen),
            fetched_at=chosen.fetched_at,
            stored=stored,
        )

    async def _fetch_counted(self, agreement_type: str) -> AgreementMetadata:
        self.stats.fetches += 1
        try:
            return await self._fetch(agreement_type)
        except PartnerCenterError:
            self.stats.fetch_failures += 1
            raise

    def _remember(self, metadata: AgreementMetadata) -> AgreementMetadata:
        self._memory[metadata.agreement_type] = metadata
        self._no_fetch_before.pop(metadata.agreement_type, None)
        return metadata

    def _serve_stale(self, stale: AgreementMetadata, exc: PartnerCenterError) -> AgreementMetadata:
        now = self._clock()
        age = (now - _aware(stale.fetched_at)).total_seconds()
        template_id = _current_id(stale)
        logger.warning(
            "Partner Center unavailable; using stale %s metadata (templateId %s, %.0f s old, TTL %.0f s): %s",
            stale.agreement_type,
            template_id,
            age,
            self._ttl.total_seconds(),
            exc,
            extra={
                "event": "metadata_cache.stale_used",
                "agreement_type": stale.agreement_type,
                "template_id": template_id,
                "fetched_at": stale.fetched_at.isoformat(),
                "age_seconds": round(age),
                "error": str(exc),
            },
        )
        self.stats.stale_served += 1
        self._remember(stale)
        self._no_fetch_before[stale.agreement_type] = now + self._stale_retry
        return stale

    async def _read_store(self, agreement_type: str) -> _StoreView:
        self.stats.store_reads += 1
        try:
            stored = await self._store.read(agreement_type)
        except CorruptMetadataDocument as exc:
            self.stats.store_errors += 1
            logger.warning(
                "Cached %s metadata is corrupt; it will be replaced: %s",
                agreement_type,
                exc,
                extra={"event": "metadata_cache.corrupt_document", "agreement_type": agreement_type},
            )
            return _StoreView(stored=None, usable=True, write_etag=exc.etag)
        except MetadataStoreError as exc:
            self._store_failed(agreement_type, exc)
            return _StoreView(stored=None, usable=False, write_etag=None)
        return _StoreView(stored=stored, usable=True, write_etag=stored.etag if stored is not None else None)

    async def _write_back(self, fetched: AgreementMetadata, view: _StoreView) -> tuple[AgreementMetadata, bool]:
        """Store ``fetched``; answers the metadata to use and whether the store now holds it."""
        if not view.usable:
            return fetched, False
        agreement_type = fetched.agreement_type
        try:
            if await self._store.write(fetched, if_match=view.write_etag) is not None:
                return fetched, True
            self.stats.write_conflicts += 1
            winner = await self._store.read(agreement_type)
        except MetadataStoreError as exc:
            self._store_failed(agreement_type, exc)
            return fetched, False
        adopt = (
            winner is not None
            and _current_id(winner.metadata) is not None
            and _aware(winner.metadata.fetched_at) >= _aware(fetched.fetched_at)
        )
        logger.info(
            "Another instance wrote %s metadata first; %s",
            agreement_type,
            "using its document" if adopt else "keeping this fetch in memory",
            extra={"event": "metadata_cache.write_conflict", "agreement_type": agreement_type},
        )
        if adopt and winner is not None:
            return winner.metadata, True
        return fetched, False

    def _store_failed(self, agreement_type: str, exc: MetadataStoreError) -> None:
        self.stats.store_errors += 1
        logger.warning(
            "Metadata cache store failed for %s; going on without it: %s",
            agreement_type,
            exc,
            extra={"event": "metadata_cache.store_failed", "agreement_type": agreement_type, "error": str(exc)},
        )
