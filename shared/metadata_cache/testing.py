"""Test switches for the metadata cache, shipped with it: a clock to move by hand, a fetcher and a store
that record what happened. No mocks: tests assert on ``calls``, ``reads`` and ``writes``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.attestation.errors import PartnerCenterError
from shared.attestation.metadata import MCA, AgreementMetadata, AgreementTemplate
from shared.metadata_cache.store import MetadataStore, MetadataStoreError, StoredMetadata


def make_metadata(
    template_id: str = "tmpl-1",
    *,
    agreement_type: str = MCA,
    fetched_at: datetime | None = None,
    extra_templates: Sequence[str] = (),
) -> AgreementMetadata:
    """Metadata whose current template is ``template_id`` (``extra_templates`` rank below it)."""
    current = AgreementTemplate(template_id, agreement_type, f"https://example.test/{template_id}", 10)
    older = (AgreementTemplate(t, agreement_type, f"https://example.test/{t}", 1) for t in extra_templates)
    templates = (current, *older)
    return AgreementMetadata(agreement_type, templates, fetched_at or datetime(2025, 1, 1, tzinfo=UTC))


@dataclass
class ManualClock:
    """A UTC clock that only moves when told to."""

    now: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingFetcher:
    """A ``Fetcher`` answering ``template_id`` stamped with ``clock()``; raises ``error`` when set;
    waits for ``gate`` when set (to hold a fetch in flight). Every call lands in ``calls`` and sets
    ``called``."""

    def __init__(self, clock: Callable[[], datetime], template_id: str = "tmpl-1") -> None:
        self.clock = clock
        self.template_id = template_id
        self.error: PartnerCenterError | None = None
        self.gate: asyncio.Event | None = None
        self.calls: list[str] = []
        self.called = asyncio.Event()

    async def __call__(self, agreement_type: str) -> AgreementMetadata:
        self.calls.append(agreement_type)
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return make_metadata(self.template_id, agreement_type=agreement_type, fetched_at=self.clock())


class RecordingStore:
    """Wraps a ``MetadataStore``: records reads and writes; fails with ``error`` (reads and writes) or
    ``write_error`` (writes only) when set; runs ``before_write`` (e.g. another instance's write) once,
    just before the next write."""

    def __init__(self, inner: MetadataStore) -> None:
        self.inner = inner
        self.error: MetadataStoreError | None = None
        self.write_error: MetadataStoreError | None = None
        self.before_write: Callable[[], object] | None = None
        self.reads: list[str] = []
        self.writes: list[tuple[str, str | None, str | None]] = []  # (agreement type, if_match, new etag)

    async def read(self, agreement_type: str) -> StoredMetadata | None:
        self.reads.append(agreement_type)
        if self.error is not None:
            raise self.error
        return await self.inner.read(agreement_type)

    async def write(self, metadata: AgreementMetadata, *, if_match: str | None) -> str | None:
        error = self.error or self.write_error
        if error is not None:
            self.writes.append((metadata.agreement_type, if_match, None))
            raise error
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            pending = hook()
            if asyncio.iscoroutine(pending):
                await pending
        etag = await self.inner.write(metadata, if_match=if_match)
        self.writes.append((metadata.agreement_type, if_match, etag))
        return etag
