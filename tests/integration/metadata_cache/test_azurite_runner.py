"""emulators.azurite: the runner starts and stops Azurite, and a missing install fails loudly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.azurite import AzuriteBlob, AzuriteNotInstalled, run_azurite

pytestmark = pytest.mark.integration


def test_fixture_listens_on_loopback(azurite: AzuriteBlob) -> None:
    """The fixture's Azurite accepts connections on 127.0.0.1 and names devstoreaccount1."""
    with socket.create_connection((azurite.host, azurite.port), timeout=2):
        pass
    assert azurite.host == "127.0.0.1"
    assert f"BlobEndpoint=http://127.0.0.1:{azurite.port}/devstoreaccount1;" in azurite.connection_string


def test_runner_stops_azurite_and_removes_its_folder() -> None:
    """Leaving the runner stops the process (the port is free again) and deletes the temporary location."""
    with run_azurite() as running:
        location = running.location
        assert location.is_dir()
    with socket.socket() as sock:
        assert sock.connect_ex((running.host, running.port)) != 0
    assert not location.exists()


def test_missing_install_names_the_make_target(tmp_path: Path) -> None:
    """Without the executable the runner raises AzuriteNotInstalled telling how to install it."""
    with (
        pytest.raises(AzuriteNotInstalled, match=r"make \.tools/node_modules/\.bin/azurite"),
        run_azurite(executable=tmp_path / "azurite-blob"),
    ):
        pass


def test_missing_install_fails_the_tests_instead_of_skipping(tmp_path: Path) -> None:
    """A test using the fixture without Azurite installed fails with the install hint; nothing is skipped."""
    (tmp_path / "conftest.py").write_text("from emulators.azurite import azurite  # noqa: F401\n")
    (tmp_path / "test_needs_azurite.py").write_text("def test_it(azurite):\n    pass\n")
    env = {**os.environ, "AZURITE_BLOB_BIN": str(tmp_path / "missing" / "azurite-blob")}
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout
    assert "1 error" in completed.stdout
    assert "skipped" not in completed.stdout
    assert "make .tools/node_modules/.bin/azurite" in completed.stdout
