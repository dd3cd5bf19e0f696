"""Running a script of benchmarks/ from a test: tests/test_benchmarks.py and
tests/interop/test_benchmark_httpx.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(script: str, *args: str, parts: Iterable[str]) -> str:
    """Run ``benchmarks/<script>`` with ``args`` in a fresh interpreter, check that it
    ended without an error and printed each of ``parts``; what it printed."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    missing = [part for part in parts if part not in run.stdout]
    assert not missing, f"{script} printed no {missing}:\n{run.stdout}"
    return run.stdout
