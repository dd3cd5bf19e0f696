"""The benchmarks still run: each script in benchmarks/, at a tiny size, ends without an
error and prints every part of its report. Nothing here reads a timing (the targets live
in the benchmarks, run on demand); what is checked is what the issue notes rely on: that
`make bench` measures what it says. benchmarks/httpx.py, which needs the MCP SDK's
environment, is run by tests/interop/test_benchmark_httpx.py."""

from __future__ import annotations

from tests.benchmark_support import run_benchmark
from tests.store_support import REDIS_SERVER


def test_machine_reports_hot_cold_and_memory() -> None:
    run_benchmark(
        "machine.py",
        *("--exchanges", "100", "--rounds", "1", "--cold-calls", "5"),
        parts=[
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
        ],
    )


def test_memory_reports_every_case() -> None:
    run_benchmark(
        "memory.py",
        *("--exchanges", "100", "--client-exchanges", "10"),
        parts=[
            "baseline h11 (keep-alive cycles)",
            "Http11 + machine (401, token, retry, 200)",
            "hostile: same 403 forever (loop guard)",
            "hostile: new scope each time, no ceiling",
            "asyncio Client end to end",
        ],
    )


def test_parse_reports_its_verdicts() -> None:
    run_benchmark(
        "parse.py",
        "--quick",
        parts=[
            "single-challenge Bearer vs werkzeug",
            "single-challenge Bearer at least as fast as werkzeug:",
            # The verdict itself is a timing, and may change with the machine's load.
            "1 MB adversarial inputs linear (cost per character within 5x):",
        ],
    )


def test_store_reports_each_store_and_one_token_request_per_fleet() -> None:
    redis = (
        "RedisStore  1 token requests"
        if REDIS_SERVER is not None
        else "redis-server not installed: no RedisStore run"
    )
    run_benchmark(
        "store.py",
        *("--requests", "10", "--rounds", "1"),
        # A shared store makes the fleet step up once (what the benchmark exists to show).
        parts=["Fast path:", "Restart:", "Fleet storm:", "FileStore   1 token requests", redis],
    )


def test_adapters_reports_every_contender_and_target() -> None:
    out = run_benchmark(
        "adapters.py",
        *("--requests", "20", "--rounds", "1"),
        parts=[
            "asyncio, 1 concurrent",
            "asyncio, 10 concurrent",
            "trio, 1 concurrent",
            "trio, 10 concurrent",
            "aiohttp.ClientSession",
            "bare h11, asyncio protocol",
            "bare h11, trio socket",
            "httpx2.AsyncClient (trio)",
            "50 concurrent requests to a server that answers in 100 ms",
            "requests, in-process, sequential",
            "requests, loopback, sequential",
            "Targets (issue 15)",
        ],
    )
    targets = out[out.index("Targets (issue 15)") :]
    assert targets.count("(target") == 7, targets
    assert "vs bare h11 on a protocol" in targets, targets
    assert "vs bare h11 on trio's socket" in targets, targets
