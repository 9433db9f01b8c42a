"""open_report_store: a folder without an account URL, an identity-based Blob container with one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shared.ledger.report_store import BlobReportStore, FileReportStore, open_report_store
from shared.settings import Settings
from tests.unit.metadata_cache.test_metadata_cache_factory import REQUIRED, RecordingCredential


def test_folder_without_an_account_url(tmp_path: Path) -> None:
    """With RECONCILE_REPORT_ACCOUNT_URL empty the reports go to RECONCILE_REPORT_DIR, written whole."""
    settings = Settings.from_environment({**REQUIRED, "RECONCILE_REPORT_DIR": str(tmp_path / "reports")})

    async def put() -> str:
        async with open_report_store(settings) as store:
            assert isinstance(store, FileReportStore)
            return await store.put("r.html", "<p>ok</p>", "text/html")

    where = asyncio.run(put())
    assert Path(where).read_text(encoding="utf-8") == "<p>ok</p>"
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["r.html"]


async def test_blob_container_with_an_account_url_closes_its_credential() -> None:
    """With an account URL the store is the named container reached with a built credential, closed on exit."""
    built: list[RecordingCredential] = []

    def factory() -> RecordingCredential:
        built.append(RecordingCredential())
        return built[-1]

    settings = Settings.from_environment(
        {**REQUIRED, "RECONCILE_REPORT_ACCOUNT_URL": "https://acct.blob.core.windows.net/"}
    )
    async with open_report_store(settings, credential_factory=factory) as store:
        assert isinstance(store, BlobReportStore)
        assert settings.reconcile_report_container == "reconciliation-reports"
    assert [c.closed for c in built] == [1]
