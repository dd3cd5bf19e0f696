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


def test_need_table_lists_every_check_in_order() -> None:
    """The "What happens to a need" table is NEED_CHECKS, row by row."""
    from sansio_upscope._state import NEED_CHECKS

    page = (ROOT / "docs" / "state-table.md").read_text()
    section = page.partition("## What happens to a need")[2].partition("<!-- END GENERATED -->")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert [row.split("|")[2].strip() for row in rows] == [f"`{s.name}`" for s in NEED_CHECKS]
    for row, step in zip(rows, NEED_CHECKS, strict=True):
        assert step.when.rstrip(".") in row
        assert (step.error or step.answers).__name__ in row
