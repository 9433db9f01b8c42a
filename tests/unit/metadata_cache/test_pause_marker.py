"""The shared pause marker on the file store: ETag-guarded writes, extend-only, and a failing store reads as no pause."""

from __future__ import annotations

from pathlib import Path

from shared.metadata_cache.pause_store import FilePauseStore, SharedPauseMarker, StoredPause
from shared.metadata_cache.store import MetadataStoreError
from shared.partner_center.throttle import AdaptiveLimiter, LimiterPolicy
from tests.builders import ManualClock


async def test_a_create_only_write_loses_to_an_existing_marker(tmp_path: Path) -> None:
    """``if_match=None`` writes only when there is no marker yet; the second creator is told it lost."""
    store = FilePauseStore(tmp_path)
    first = await store.write(100.0, if_match=None)
    second = await store.write(200.0, if_match=None)

    assert first is not None
    assert second is None
    assert await store.read() == StoredPause(100.0, first)


async def test_a_write_with_a_stale_etag_is_refused(tmp_path: Path) -> None:
    """A writer holding an old ETag does not overwrite a newer marker."""
    store = FilePauseStore(tmp_path)
    old = await store.write(100.0, if_match=None)
    assert old is not None
    assert await store.write(150.0, if_match=old) is not None

    assert await store.write(120.0, if_match=old) is None
    stored = await store.read()
    assert stored is not None
    assert stored.until == 150.0


async def test_extend_lengthens_but_never_shortens_the_pause(tmp_path: Path) -> None:
    """Extending to a later time moves the marker; extending to an earlier time leaves it."""
    clock = ManualClock(now=1000.0)
    marker = SharedPauseMarker(FilePauseStore(tmp_path), clock=clock)
    await marker.extend(1010.0)
    await marker.extend(1005.0)

    assert await marker.read() == 1010.0


async def test_a_marker_in_the_past_reads_as_no_pause(tmp_path: Path) -> None:
    """Once its time has passed, the marker is no pause."""
    clock = ManualClock(now=1000.0)
    marker = SharedPauseMarker(FilePauseStore(tmp_path), clock=clock)
    await marker.extend(1010.0)
    clock.advance(11.0)

    assert await marker.read() is None


class BrokenStore:
    """A ``PauseStore`` whose storage is unreachable; records each call."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def read(self) -> StoredPause | None:
        self.calls.append("read")
        raise MetadataStoreError("storage unreachable")

    async def write(self, until: float, *, if_match: str | None) -> str | None:
        self.calls.append("write")
        raise MetadataStoreError("storage unreachable")


async def test_an_unreachable_store_is_no_pause_and_extending_it_does_not_raise() -> None:
    """Storage failures are logged and swallowed here: each instance still honours its own 429s."""
    store = BrokenStore()
    marker = SharedPauseMarker(store)

    assert await marker.read() is None
    await marker.extend(2_000_000_000.0)
    assert store.calls == ["read", "read"]


async def test_an_unreadable_marker_is_replaced_by_the_next_pause(tmp_path: Path) -> None:
    """A corrupt marker reads as no pause, and an extend overwrites it under its ETag."""
    store = FilePauseStore(tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text("not json")
    clock = ManualClock(now=1000.0)
    marker = SharedPauseMarker(store, clock=clock)

    assert await marker.read() is None
    await marker.extend(1030.0)
    assert await marker.read() == 1030.0


async def test_a_pause_read_back_from_the_marker_is_not_taken_for_another_instances(tmp_path: Path) -> None:
    """The limiter's own pause, written to the file marker and read back after the cache second, is one pause:
    no shared pause, no second decrease."""
    clock = ManualClock(now=1_000_000.1236)
    limiter = AdaptiveLimiter(
        LimiterPolicy(), shared=SharedPauseMarker(FilePauseStore(tmp_path), clock=clock), clock=clock, sleep=clock.sleep
    )
    await limiter.throttled(await limiter.acquire(60.0), retry_after=3.0)
    clock.advance(1.5)
    await limiter.acquire(60.0)

    assert limiter.stats.shared_pauses == 0
    assert limiter.stats.decreases == 1
