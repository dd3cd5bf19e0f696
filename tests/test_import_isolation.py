"""Imports run one way: adapters -> core, never back (DESIGN.md, "Layout").

Two checks: the import graph of every module under ``sansio_upscope/`` read from its
source (any arrow into a package of ``adapters/`` fails, wherever it sits: inside a
function, under ``TYPE_CHECKING``), and what ``import sansio_upscope`` actually loads at
run time (no event loop, HTTP client or socket).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "sansio_upscope"
ADAPTER_PACKAGES = frozenset(
    path.name for path in (ROOT / "adapters").iterdir() if (path / "__init__.py").exists()
)
FORBIDDEN = ("trio", "requests", "asyncio", "socket", "ssl", "h11", "httpx", "httpx2", "redis")

PROBE = """
import sys
before = set(sys.modules)
import sansio_upscope
import sansio_upscope.oauth
loaded = set(sys.modules) - before
print("\\n".join(sorted(loaded)))
"""


def imported_names(source: Path) -> list[tuple[int, str]]:
    """(line, top-level module) for every absolute import in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def test_the_adapters_directory_holds_the_packages_we_expect() -> None:
    # The check below is only as good as this list: make sure it is not empty.
    assert {"_upscope_io", "upscope_asyncio", "upscope_trio", "upscope_requests"} <= (
        ADAPTER_PACKAGES
    )


def test_no_arrow_from_the_core_to_the_adapters() -> None:
    arrows = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted(CORE.rglob("*.py"))
        for line, name in imported_names(path)
        if name in ADAPTER_PACKAGES or name in FORBIDDEN
    ]
    assert arrows == [], "the core imports the I/O layer:\n" + "\n".join(arrows)


def test_core_import_loads_no_io_modules() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
    ).stdout.split()
    bad = sorted(m for m in out if m.split(".")[0] in FORBIDDEN)
    assert bad == [], f"importing the core pulled in I/O modules: {bad}"
    assert "sansio_upscope" in out


def test_core_import_loads_no_jose_library() -> None:
    # The `jwt` extra is optional: PyJWT and cryptography load only when something signs.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
    ).stdout.split()
    assert sorted(m for m in out if m.split(".")[0] in ("jwt", "cryptography")) == []


def test_the_core_works_without_the_jwt_extra() -> None:
    # With PyJWT unimportable, the core and the OAuth package import and run their
    # Bearer flows; asking for a JWT feature names the extra.
    probe = """
import sys
sys.modules["jwt"] = None
from sansio_upscope import Send
from sansio_upscope.dpop import authorization_fields
from sansio_upscope.oauth import ClientCredentials
assert authorization_fields(Send(authorization="Bearer t"), method="GET", url="https://x/",
                            now=0) == [("Authorization", "Bearer t")]
ClientCredentials("c", "s")
from sansio_upscope.oauth import CrossAppAccess, JwtBearer
JwtBearer("w", assertion="platform.jwt")  # forwards the JWT: needs no JOSE library
for make in (
    lambda: ClientCredentials("c", dpop=True),
    lambda: ClientCredentials("c", private_key=b"pem"),
    lambda: CrossAppAccess("c", "s", id_token="t", idp_token_endpoint="https://i/t",
                           idp_client_id="i"),
):
    try:
        make()
    except ImportError as error:
        print(error)
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    assert out.count("pip install 'sansio-upscope[jwt]'") == 3, out
