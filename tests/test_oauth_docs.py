"""The interactive example in docs/oauth.md runs as written."""

from __future__ import annotations

import doctest
from pathlib import Path

OAUTH_PAGE = Path(__file__).resolve().parent.parent / "docs" / "oauth.md"


def test_oauth_page_examples() -> None:
    result = doctest.testfile(str(OAUTH_PAGE), module_relative=False, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
