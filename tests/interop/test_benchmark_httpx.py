"""benchmarks/httpx.py still runs, all three parts: the fast path on httpx and httpx2, and
(in the MCP SDK's environment) 50 concurrent requests and the storm against the SDK's own
provider. Nothing here reads a timing; the storm's count of token requests is checked,
since showing it is one is what that part is for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.benchmark_support import run_benchmark

pytestmark = pytest.mark.interop


def test_httpx_benchmark_runs_every_part(mcp_client_python: Path) -> None:
    out = run_benchmark(
        "httpx.py",
        *("--rounds", "1", "--requests", "20"),
        parts=[
            "httpx Client (sync)",
            "httpx AsyncClient (asyncio, 10 tasks)",
            "httpx2 Client (sync)",
            "httpx2 AsyncClient (asyncio, 10 tasks)",
            "mcp ClientCredentialsOAuthProvider",
            "UpscopeAuth / mcp provider:",
            "UpscopeAuth / static:",
            "3. Storm",
        ],
    )
    storm = out[out.index("3. Storm") :]
    assert re.search(r"upscope_httpx2\.UpscopeAuth\s+[\d.]+ s, 1 token request\(s\)", storm), storm
