"""CachedMetadataSource: memory with a TTL → file store → a recording fetcher."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from shared.attestation.errors import (
    AuthError,
    ConnectionFailed,
    InvalidRequest,
    PartnerCenterError,
    ServerError,
    Throttled,
)
from shared.attestation.metadata import MCA, MCLOUDA, AgreementMetadata, NoTemplateError
from shared.metadata_cache import CachedMetadataSource, FileMetadataStore, MetadataStoreError
from shared.metadata_cache.testing import ManualClock, RecordingFetcher, RecordingStore, make_metadata

TTL = 3600.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fetcher(clock: ManualClock) -> RecordingFetcher:
    return RecordingFetcher(clock)


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(FileMetadataStore(tmp_path))


@pytest.fixture
def source(store: RecordingStore, fetcher: RecordingFetcher, clock: ManualClock) -> CachedMetadataSource:
    return CachedMetadataSource(store, fetcher, ttl_seconds=TTL, stale_retry_seconds=60, clock=clock)


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "event", "") for r in caplog.records]


async def test_miss_fetches_once_and_writes_back(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore
) -> None:
    """A cold cache fetches, stores the document create-only, and serves later gets from memory."""
    first = await source.get(MCA)
    second = await source.get(MCA)

    assert first.current.template_id == "tmpl-1"
    assert second is first
    assert fetcher.calls == [MCA]
    assert store.reads == [MCA]
    assert [(t, m) for t, m, _ in store.writes] == [(MCA, None)]
    stored = await store.inner.read(MCA)
    assert stored is not None
    assert stored.metadata == first
    assert (source.stats.fetches, source.stats.memory_hits) == (1, 1)


async def test_warm_cache_sends_no_gets_for_a_thousand_messages(
    source: CachedMetadataSource, fetcher: RecordingFetcher
) -> None:
    """With a warm cache, 1,000 gets cost no metadata GET (the goal metric)."""
    await source.get(MCA)
    fetcher.calls.clear()
    for _ in range(1000):
        await source.get(MCA)
    assert fetcher.calls == []
    assert source.stats.memory_hits == 1000


async def test_entry_expires_after_ttl(
    source: CachedMetadataSource, fetcher: RecordingFetcher, clock: ManualClock
) -> None:
    """Within the TTL memory answers; once fetchedAt is TTL old, the next get fetches again."""
    await source.get(MCA)
    clock.advance(TTL - 1)
    await source.get(MCA)
    assert fetcher.calls == [MCA]

    clock.advance(1)
    fetcher.template_id = "tmpl-2"
    refreshed = await source.get(MCA)
    assert refreshed.current.template_id == "tmpl-2"
    assert fetcher.calls == [MCA, MCA]


async def test_expired_write_back_is_guarded_by_the_etag_read(
    source: CachedMetadataSource, store: RecordingStore, clock: ManualClock
) -> None:
    """Replacing an expired document names the ETag that was read (If-Match), not create-only."""
    await source.get(MCA)
    first_etag = store.writes[0][2]
    clock.advance(TTL)
    await source.get(MCA)
    assert store.writes[1][1] == first_etag
    assert store.writes[1][2] is not None


async def test_fresh_document_in_store_spares_the_fetch(
    store: RecordingStore, fetcher: RecordingFetcher, clock: ManualClock
) -> None:
    """A fresh document written by another instance is used without asking Partner Center."""
    await store.inner.write(make_metadata("from-other-instance", fetched_at=clock()), if_match=None)
    source = CachedMetadataSource(store, fetcher, ttl_seconds=TTL, clock=clock)

    metadata = await source.get(MCA)

    assert metadata.current.template_id == "from-other-instance"
    assert fetcher.calls == []
    assert source.stats.store_hits == 1


async def test_memory_expiry_picks_up_the_timer_refresh_from_store(
    store: RecordingStore, fetcher: RecordingFetcher, clock: ManualClock
) -> None:
    """When memory expires, a newer document another instance stored is adopted without a fetch."""
    source = CachedMetadataSource(store, fetcher, ttl_seconds=TTL, clock=clock)
    await source.get(MCA)
    clock.advance(TTL / 2)
    stored = await store.inner.read(MCA)
    assert stored is not None
    await store.inner.write(make_metadata("timer-wrote", fetched_at=clock()), if_match=stored.etag)

    clock.advance(TTL / 2)
    metadata = await source.get(MCA)

    assert metadata.current.template_id == "timer-wrote"
    assert fetcher.calls == [MCA]


async def test_hundred_concurrent_gets_share_one_fetch(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore
) -> None:
    """100 concurrent gets on a cold cache send exactly one GET and one write; all get the same value."""
    fetcher.gate = asyncio.Event()
    waiting = [asyncio.create_task(source.get(MCA)) for _ in range(100)]
    await fetcher.called.wait()  # the single flight has reached the fetcher
    fetcher.gate.set()
    results = await asyncio.gather(*waiting)

    assert fetcher.calls == [MCA]
    assert len(store.writes) == 1
    assert all(r is results[0] for r in results)


async def test_single_flight_is_per_agreement_type(source: CachedMetadataSource, fetcher: RecordingFetcher) -> None:
    """Different agreement types are fetched independently, once each."""
    results = await asyncio.gather(*(source.get(t) for t in [MCA, MCLOUDA] * 20))
    assert sorted(fetcher.calls) == sorted([MCA, MCLOUDA])
    assert {r.agreement_type for r in results} == {MCA, MCLOUDA}


async def test_failed_fetch_reaches_every_waiter(source: CachedMetadataSource, fetcher: RecordingFetcher) -> None:
    """A failing single flight raises the same error in every concurrent caller, after one GET."""
    fetcher.error = ServerError("boom", status=503)
    results = await asyncio.gather(*(source.get(MCA) for _ in range(10)), return_exceptions=True)
    assert fetcher.calls == [MCA]
    assert all(r is fetcher.error for r in results)


async def test_cancelled_caller_does_not_cancel_the_shared_fetch(
    source: CachedMetadataSource, fetcher: RecordingFetcher
) -> None:
    """A caller that gives up does not cancel the fetch other callers wait on."""
    fetcher.gate = asyncio.Event()
    impatient = asyncio.create_task(source.get(MCA))
    patient = asyncio.create_task(source.get(MCA))
    await fetcher.called.wait()
    impatient.cancel()
    fetcher.gate.set()
    metadata = await patient
    assert metadata.current.template_id == "tmpl-1"
    assert impatient.cancelled()
    assert fetcher.calls == [MCA]


@pytest.mark.parametrize(
    "error",
    [
        ConnectionFailed("ConnectTimeout"),
        ServerError("unavailable", status=503),
        Throttled("slow down", status=429, retry_after=30),
        AuthError("token refused", status=401),
    ],
)
async def test_stale_value_used_when_partner_center_unavailable(
    source: CachedMetadataSource,
    fetcher: RecordingFetcher,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    error: PartnerCenterError,
) -> None:
    """An expired templateId is still served on a transient or auth failure, with a stale_used warning."""
    await source.get(MCA)
    clock.advance(TTL + 10)
    fetcher.error = error

    with caplog.at_level(logging.WARNING, logger="shared.metadata_cache"):
        metadata = await source.get(MCA)

    assert metadata.current.template_id == "tmpl-1"
    assert fetcher.calls == [MCA, MCA]
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "metadata_cache.stale_used"]
    assert record.levelno == logging.WARNING
    assert record.__dict__["template_id"] == "tmpl-1"
    assert record.__dict__["age_seconds"] == TTL + 10
    assert source.stats.stale_served == 1


async def test_stale_value_from_store_survives_a_restart(
    store: RecordingStore, fetcher: RecordingFetcher, clock: ManualClock
) -> None:
    """A new process with an empty memory serves the expired stored templateId when the fetch fails."""
    await store.inner.write(make_metadata("stored", fetched_at=clock()), if_match=None)
    clock.advance(TTL * 5)
    fetcher.error = AuthError("consent revoked", status=401)
    source = CachedMetadataSource(store, fetcher, ttl_seconds=TTL, clock=clock)

    metadata = await source.get(MCA)

    assert metadata.current.template_id == "stored"
    assert fetcher.calls == [MCA]


async def test_after_serving_stale_it_waits_before_asking_again(
    source: CachedMetadataSource, fetcher: RecordingFetcher, clock: ManualClock
) -> None:
    """After a failed fetch, the stale value is served without new GETs for stale_retry_seconds."""
    await source.get(MCA)
    clock.advance(TTL)
    fetcher.error = ConnectionFailed("refused")
    await source.get(MCA)
    for _ in range(50):
        await source.get(MCA)
    assert len(fetcher.calls) == 2

    clock.advance(60)
    fetcher.error = None
    fetcher.template_id = "tmpl-2"
    assert (await source.get(MCA)).current.template_id == "tmpl-2"
    assert len(fetcher.calls) == 3


async def test_failure_with_nothing_cached_is_raised(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore
) -> None:
    """With neither memory nor store holding a value, the transient error reaches the caller."""
    fetcher.error = ConnectionFailed("refused")
    with pytest.raises(ConnectionFailed):
        await source.get(MCA)
    assert store.writes == []


async def test_permanent_error_is_raised_even_with_a_stale_value(
    source: CachedMetadataSource, fetcher: RecordingFetcher, clock: ManualClock
) -> None:
    """A permanent error means the request is wrong: it is raised, not hidden behind a stale value."""
    await source.get(MCA)
    clock.advance(TTL)
    fetcher.error = InvalidRequest("bad agreementType", status=400)
    with pytest.raises(InvalidRequest):
        await source.get(MCA)


async def test_empty_template_list_does_not_replace_a_good_value(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore, clock: ManualClock
) -> None:
    """A fetch listing no template raises NoTemplateError and leaves the stored document alone."""
    await source.get(MCA)
    clock.advance(TTL)

    async def empty(agreement_type: str) -> AgreementMetadata:
        return AgreementMetadata(agreement_type, (), clock())

    source_empty = CachedMetadataSource(store, empty, ttl_seconds=TTL, clock=clock)
    with pytest.raises(NoTemplateError):
        await source_empty.get(MCA)
    stored = await store.inner.read(MCA)
    assert stored is not None
    assert stored.metadata.current.template_id == "tmpl-1"


async def test_lost_write_race_adopts_the_winners_document(
    source: CachedMetadataSource,
    fetcher: RecordingFetcher,
    store: RecordingStore,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When another instance writes between our read and write, the guard refuses and its newer doc wins."""
    winner = make_metadata("winner", fetched_at=clock())

    async def other_instance_writes() -> None:
        await store.inner.write(winner, if_match=None)

    store.before_write = other_instance_writes
    with caplog.at_level(logging.INFO, logger="shared.metadata_cache"):
        metadata = await source.get(MCA)

    assert store.writes == [(MCA, None, None)]  # create-only write refused
    assert metadata == winner
    assert source.stats.write_conflicts == 1
    assert "metadata_cache.write_conflict" in events(caplog)
    stored = await store.inner.read(MCA)
    assert stored is not None
    assert stored.metadata == winner


async def test_lost_write_race_to_an_older_document_keeps_own_fetch(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore, clock: ManualClock
) -> None:
    """If the racing writer stored an older fetch, this instance keeps its own newer fetch in memory."""
    older = make_metadata("older", fetched_at=clock())
    clock.advance(5)

    async def other_instance_writes() -> None:
        await store.inner.write(older, if_match=None)

    store.before_write = other_instance_writes
    metadata = await source.get(MCA)
    assert metadata.current.template_id == "tmpl-1"
    assert await source.get(MCA) is metadata


async def test_store_failure_does_not_stop_attestations(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable store is logged; metadata comes from Partner Center and is kept in memory."""
    store.error = MetadataStoreError("blob unreachable")
    with caplog.at_level(logging.WARNING, logger="shared.metadata_cache"):
        metadata = await source.get(MCA)
        again = await source.get(MCA)

    assert metadata.current.template_id == "tmpl-1"
    assert again is metadata
    assert fetcher.calls == [MCA]
    assert store.writes == []  # no guarded write is possible without a successful read
    assert "metadata_cache.store_failed" in events(caplog)


async def test_store_write_failure_is_tolerated(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that reads but cannot write still lets the fetched metadata through."""
    store.write_error = MetadataStoreError("403 AuthorizationPermissionMismatch")
    with caplog.at_level(logging.WARNING, logger="shared.metadata_cache"):
        metadata = await source.get(MCA)
    assert metadata.current.template_id == "tmpl-1"
    assert store.writes == [(MCA, None, None)]
    assert "metadata_cache.store_failed" in events(caplog)
    assert await source.get(MCA) is metadata


async def test_store_failure_and_partner_center_failure_raise(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore
) -> None:
    """With the store down and Partner Center down on a cold start, the transient error is raised."""
    store.error = MetadataStoreError("blob unreachable")
    fetcher.error = ServerError("down", status=503)
    with pytest.raises(ServerError):
        await source.get(MCA)


async def test_corrupt_document_is_replaced(
    source: CachedMetadataSource, fetcher: RecordingFetcher, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreadable stored document is logged, refetched, and overwritten under its ETag."""
    path = FileMetadataStore(tmp_path).path_of(MCA)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="shared.metadata_cache"):
        metadata = await source.get(MCA)
    assert "metadata_cache.corrupt_document" in events(caplog)
    stored = await FileMetadataStore(tmp_path).read(MCA)
    assert stored is not None
    assert stored.metadata == metadata


async def test_refresh_reports_unchanged(
    source: CachedMetadataSource, fetcher: RecordingFetcher, clock: ManualClock
) -> None:
    """A refresh always fetches; the same templateId gives changed=False and a new fetched_at."""
    await source.get(MCA)
    clock.advance(10)
    result = await source.refresh(MCA)

    assert fetcher.calls == [MCA, MCA]
    assert (result.previous_template_id, result.current_template_id) == ("tmpl-1", "tmpl-1")
    assert result.changed is False
    assert result.ok
    assert result.error is None
    assert result.stored
    assert result.fetched_at == clock()


async def test_refresh_reports_a_changed_template(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore
) -> None:
    """A new current templateId is reported as changed, stored, and served to the queue path at once."""
    await source.get(MCA)
    fetcher.template_id = "tmpl-2"
    result = await source.refresh(MCA)

    assert (result.previous_template_id, result.current_template_id, result.changed) == ("tmpl-1", "tmpl-2", True)
    assert (await source.get(MCA)).current.template_id == "tmpl-2"
    stored = await store.inner.read(MCA)
    assert stored is not None
    assert stored.metadata.current.template_id == "tmpl-2"


async def test_refresh_on_empty_cache_is_not_a_change(source: CachedMetadataSource) -> None:
    """The first fill has no previous templateId and is not reported as a change."""
    result = await source.refresh(MCA)
    assert (result.previous_template_id, result.current_template_id) == (None, "tmpl-1")
    assert result.changed is False


async def test_failed_refresh_keeps_the_last_good_value(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed refresh returns the error, keeps the last good templateId, and does not raise; it logs nothing
    itself (the refresh timer logs the result once, as metadata.refresh_failed)."""
    await source.get(MCA)
    writes_before = list(store.writes)
    fetcher.error = ServerError("down", status=503)
    with caplog.at_level(logging.WARNING, logger="shared.metadata_cache"):
        result = await source.refresh(MCA)

    assert result.error is fetcher.error
    assert not result.ok
    assert (result.previous_template_id, result.current_template_id, result.changed) == ("tmpl-1", "tmpl-1", False)
    assert result.stored is False
    assert store.writes == writes_before
    assert [r for r in caplog.records if "refresh_failed" in getattr(r, "event", "")] == []
    fetcher.error = None
    assert (await source.get(MCA)).current.template_id == "tmpl-1"


async def test_failed_refresh_with_nothing_cached(source: CachedMetadataSource, fetcher: RecordingFetcher) -> None:
    """A failed first refresh reports the error with no templateId at all."""
    fetcher.error = InvalidRequest("bad request", status=400)
    result = await source.refresh(MCA)
    assert result.error is fetcher.error
    assert (result.previous_template_id, result.current_template_id, result.fetched_at) == (None, None, None)


async def test_refresh_with_store_down_still_updates_memory(
    source: CachedMetadataSource, fetcher: RecordingFetcher, store: RecordingStore
) -> None:
    """A refresh whose write-back fails reports stored=False but still serves the new value here."""
    await source.get(MCA)
    store.error = MetadataStoreError("blob unreachable")
    fetcher.template_id = "tmpl-2"
    result = await source.refresh(MCA)
    assert result.ok
    assert not result.stored
    assert result.changed
    assert (await source.get(MCA)).current.template_id == "tmpl-2"


async def test_get_during_refresh_waits_for_it(
    source: CachedMetadataSource, fetcher: RecordingFetcher, clock: ManualClock
) -> None:
    """A get on an expired cache while the timer refreshes joins the refresh instead of fetching again."""
    await source.get(MCA)
    clock.advance(TTL)
    fetcher.gate = asyncio.Event()
    fetcher.template_id = "tmpl-2"
    fetcher.called.clear()
    refreshing = asyncio.create_task(source.refresh(MCA))
    await fetcher.called.wait()
    getting = asyncio.create_task(source.get(MCA))
    await asyncio.sleep(0)
    fetcher.gate.set()

    assert (await getting).current.template_id == "tmpl-2"
    assert (await refreshing).changed
    assert len(fetcher.calls) == 2


def test_negative_ttl_is_refused(store: RecordingStore, fetcher: RecordingFetcher) -> None:
    """A negative TTL is a configuration error, refused at construction."""
    with pytest.raises(ValueError, match="must not be negative"):
        CachedMetadataSource(store, fetcher, ttl_seconds=-1)
