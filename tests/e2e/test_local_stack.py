"""`make run`'s story, run as a user would: it must finish, fix the wrong tenant id, and stop cleanly."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_local_stack_tells_the_whole_story() -> None:
    """The demo publishes, attests, lists dead letters, replays the fixed one and exits 0 within 3 minutes."""
    result = subprocess.run(
        [sys.executable, "-m", "demo.local_stack"], capture_output=True, text=True, timeout=180, check=False
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    final = out.split("=== 5.")[1]
    assert "dead_letter:NoRelationship       1" in final
    assert "UnknownCustomer" not in final  # replayed with the right tenant id, and attested
    assert "Partner Center now holds 131 attestations" in final  # 12 examples - 2 rejected + 120 burst + 1 replayed
    assert "replayed=1" in out
