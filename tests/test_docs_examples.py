"""The examples in docs/ run as written: the interactive ones as doctests, each adapter
page's complete example (the async page's once per framework tab) printing what the page
shows."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ["drive-by-hand.md"]
ASYNC_PAGE = DOCS / "adapters" / "async.md"
FRAMEWORKS = ["asyncio", "trio"]


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples(page: str) -> None:
    result = doctest.testfile(
        str(DOCS / page), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted > 0
    assert result.failed == 0


def section(page: Path, heading: str) -> str:
    """The text of a page's ``## heading`` section, up to the next one."""
    text = page.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def tabs(text: str) -> dict[str, str]:
    """The content of each pymdownx.tabbed tab (``=== "name"`` and its indented block)."""
    found = re.findall(r'^=== "([^"]+)"\n((?:\n|    .*\n)+)', text + "\n", flags=re.MULTILINE)
    return {name: textwrap.dedent(body) for name, body in found}


def fenced(text: str, language: str) -> str:
    """The first ``` block of ``language`` in ``text``."""
    match = re.search(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert match is not None, f"no {language} block"
    return match.group(1)


def run_example(example: str) -> str:
    """Run a page's complete example in a fresh interpreter and return what it printed."""
    run = subprocess.run(
        [sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_requests_page_complete_example() -> None:
    text = section(DOCS / "adapters" / "requests.md", "A complete example")
    assert run_example(fenced(text, "python")) == fenced(text, "text")


def test_async_page_has_one_example_per_framework() -> None:
    assert sorted(tabs(section(ASYNC_PAGE, "A complete example"))) == FRAMEWORKS


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_async_page_complete_example(framework: str) -> None:
    text = section(ASYNC_PAGE, "A complete example")
    example = fenced(tabs(text)[framework], "python")
    assert f"from upscope_{framework} import Client" in example
    # The page's "Either prints" block is the section's text block after the last tab.
    assert run_example(example) == fenced(text.rsplit("\n===", 1)[-1], "text")


def test_httpx_page_complete_example() -> None:
    text = (DOCS / "adapters" / "httpx.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    expected = re.findall(r"It prints:\n\n```text\n(.*?)```", text, re.S)[0]
    assert run_example(example) == expected
