"""The benchmarks still run: each script in benchmarks/, at a tiny size, ends without an
error and prints every part of its report. Nothing here reads a timing (the targets live
in the benchmarks, run on demand); what is checked is what the issue notes rely on: that
`make bench` measures what it says. benchmarks/httpx.py, which needs the MCP SDK's
environment, is run by tests/interop/test_benchmark_httpx.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.store_support import REDIS_SERVER

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(script: str, *args: str) -> str:
    """Run ``benchmarks/<script>`` in a fresh interpreter; what it printed."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_machine_reports_hot_cold_and_memory() -> None:
    out = run_benchmark("machine.py", "--exchanges", "100", "--rounds", "1", "--cold-calls", "5")
    for label in [
        "baseline  h11 parse of one response",
        "200 fast path (start, 200, Deliver)",
        "the same, token naming its resource",
        "403 step-up (403, token, retry, 200)",
        "401 renewal (401, token, retry, 200)",
        "cold      h11 parse of one response",
        "cold      200 fast path",
        "cold      an empty Python call",
        "memory    fast path",
        "memory    renewal",
    ]:
        assert label in out, f"{label!r} missing from:\n{out}"


def test_memory_reports_every_case() -> None:
    out = run_benchmark("memory.py", "--exchanges", "100", "--client-exchanges", "10")
    for label in [
        "baseline h11 (keep-alive cycles)",
        "Http11 + machine (401, token, retry, 200)",
        "hostile: same 403 forever (loop guard)",
        "hostile: new scope each time, no ceiling",
        "asyncio Client end to end",
    ]:
        assert label in out, f"{label!r} missing from:\n{out}"


def test_parse_reports_its_verdicts() -> None:
    out = run_benchmark("parse.py", "--quick")
    assert "single-challenge Bearer vs werkzeug" in out
    # The linearity verdict is a property of the parser, not of the machine's speed.
    assert "1 MB adversarial inputs linear (cost per character within 5x): yes" in out


def test_store_reports_each_store_and_one_token_request_per_fleet() -> None:
    out = run_benchmark("store.py", "--requests", "10", "--rounds", "1")
    assert "Fast path:" in out and "Restart:" in out and "Fleet storm:" in out
    # A shared store makes the fleet step up once (what the benchmark exists to show).
    assert "FileStore   1 token requests" in out, out
    if REDIS_SERVER is not None:
        assert "RedisStore  1 token requests" in out, out
    else:
        assert "redis-server not installed: no RedisStore run" in out, out


def test_adapters_reports_every_contender_and_target() -> None:
    out = run_benchmark("adapters.py", "--requests", "20", "--rounds", "1")
    for label in [
        "asyncio, 1 concurrent",
        "asyncio, 10 concurrent",
        "trio, 1 concurrent",
        "trio, 10 concurrent",
        "aiohttp.ClientSession",
        "httpx2.AsyncClient (trio)",
        "50 concurrent requests to a server that answers in 100 ms",
        "requests, in-process, sequential",
        "requests, loopback, sequential",
        "Targets (issue 15)",
    ]:
        assert label in out, f"{label!r} missing from:\n{out}"
    targets = out[out.index("Targets (issue 15)") :]
    assert targets.count("(target") == 6, targets
