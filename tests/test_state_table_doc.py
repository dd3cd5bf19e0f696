"""docs/state-table.md shows the tables in sansio_upscope/_state.py as they are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_state_table_page_is_generated_from_the_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen" / "state_table.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = (ROOT / "docs" / "state-table.md").read_text()
    assert "AWAITING_RESPONSE --> AWAITING_TOKEN: ResponseReceived / RequestToken" in page
