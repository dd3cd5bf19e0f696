"""Issue 13 against a real authorization server, on every adapter: oidc-provider 9
configured to list only ``none`` for client authentication, with RFC 8707 resource
indicators, in front of a resource server whose metadata names a resource wider than the
URL called: its whole origin, or the path prefix ``/api``.

The resource server is ours (a scripted one, tests/hostile/server.py): it reads the JWT
access tokens oidc-provider issues and accepts one only when its ``aud`` is exactly the
resource its metadata names and its ``scope`` covers the route. The client is the
built-in ``AuthorizationCode`` flow with no configuration: it registers itself (RFC 7591,
public), authorizes through a headless browser, and steps up with a new authorization.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from interop_peers import AuthorizationServer, HeadlessBrowser

from sansio_upscope.oauth import AuthorizationCode
from tests.driver import Call, names, run
from tests.hostile.server import Request, ScriptedServer, response

pytestmark = pytest.mark.interop

PRM = "/.well-known/oauth-protected-resource"
#: What each route needs.
ROUTES = {
    "/api/files/1": "read",
    "/api/files/2": "read",
    "/api/files/3": "read",
    "/api/admin": "admin",
}


def claims(authorization: str | None) -> dict[str, Any] | None:
    """The claims of a Bearer JWT (the signature is oidc-provider's; what matters here is
    what it issued), or None."""
    kind, _, token = (authorization or "").partition(" ")
    if kind.lower() != "bearer" or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return document if isinstance(document, dict) else None


def resource_server(
    serve: Callable[[Any], ScriptedServer], issuer: str, prefix: str
) -> ScriptedServer:
    """A REST API at /api whose metadata names ``origin + prefix`` as its resource."""
    server: ScriptedServer

    def script(request: Request) -> bytes:
        resource = server.url + prefix
        metadata = f'resource_metadata="{server.url}{PRM}{prefix}"'
        if request.path == PRM + prefix:
            document = {"resource": resource, "authorization_servers": [issuer]}
            return response(
                200, [("Content-Type", "application/json")], json.dumps(document).encode()
            )
        needed = ROUTES.get(request.path)
        if needed is None:
            return response(404)
        token = claims(request.header("authorization"))
        if token is None:
            return response(401, [("WWW-Authenticate", f'Bearer scope="{needed}", {metadata}')])
        audience = token.get("aud")
        if resource not in (audience if isinstance(audience, list) else [audience]):
            challenge = f'Bearer error="invalid_token", {metadata}'
            return response(401, [("WWW-Authenticate", challenge)])
        if needed not in str(token.get("scope", "")).split():
            challenge = f'Bearer error="insufficient_scope", scope="{needed}", {metadata}'
            return response(403, [("WWW-Authenticate", challenge)])
        return response(200, [("Content-Type", "text/plain")], b"ok " + request.path.encode())

    server = serve(script)
    return server


@pytest.fixture
def browser(oidc_provider_public_only: AuthorizationServer) -> Iterator[HeadlessBrowser]:
    browser = HeadlessBrowser(redirect_uri=oidc_provider_public_only.native_redirect_uri)
    with browser.session:
        yield browser


def registrations(server: AuthorizationServer) -> int:
    answer = requests.get(f"{server.issuer}/interop/registrations", timeout=10)
    count = answer.json()["count"]
    assert isinstance(count, int)
    return count


@pytest.mark.parametrize("prefix", ["", "/api"])
@pytest.mark.parametrize("adapter", names())
def test_a_public_client_on_a_none_only_server_steps_up_under_a_wider_resource(
    adapter: str,
    prefix: str,
    oidc_provider_public_only: AuthorizationServer,
    browser: HeadlessBrowser,
    serve: Callable[[Any], ScriptedServer],
) -> None:
    provider = oidc_provider_public_only
    discovery = provider.issuer + "/.well-known/openid-configuration"
    metadata = requests.get(discovery, timeout=10).json()
    assert metadata["token_endpoint_auth_methods_supported"] == ["none"]
    rs = resource_server(serve, provider.issuer, prefix)
    source = AuthorizationCode(redirect_uri=provider.native_redirect_uri, authorize=browser)
    tokens_before, registered_before = provider.token_requests(), registrations(provider)
    calls = [Call(url=rs.url + path) for path in ROUTES]
    outcomes = run(adapter, calls, source, timeout=60)
    for outcome, path in zip(outcomes, ROUTES, strict=True):
        assert outcome.error is None, outcome.error
        assert outcome.status_code == 200 and outcome.content == b"ok " + path.encode()
    # One registration (public: `none`), one authorization for `read` shared by the three
    # files, one more for the step-up to `admin`: two token requests in all.
    assert registrations(provider) - registered_before == 1
    assert provider.token_requests() - tokens_before == 2
    assert len(browser.visited) == 2
    # Both authorizations named the metadata's resource (RFC 8707), not the URL called.
    for url in browser.visited:
        assert f"resource={quote(rs.url + prefix, safe='')}" in url
