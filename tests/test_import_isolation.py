"""`import sansio_upscope` must stay I/O-free: no event loop, HTTP client or socket."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("trio", "requests", "asyncio", "socket", "ssl", "h11")

PROBE = """
import sys
before = set(sys.modules)
import sansio_upscope
import sansio_upscope.oauth
loaded = set(sys.modules) - before
print("\\n".join(sorted(loaded)))
"""


def test_core_import_loads_no_io_modules() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
    ).stdout.split()
    bad = sorted(m for m in out if m.split(".")[0] in FORBIDDEN)
    assert bad == [], f"importing the core pulled in I/O modules: {bad}"
    assert "sansio_upscope" in out
