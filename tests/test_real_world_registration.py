"""Issue 13, registration shapes over real sockets, on every adapter: authorization
servers of our own (scripted, tests/hostile/server.py) for what no package ships.

* An authorization server that lists only ``none`` for client authentication yet hands
  out a ``client_secret`` at dynamic registration (we asked for ``none``): the client
  stays public, on the first authorization and on every step-up, and the secret is never
  sent.
* A resource that moves to another authorization server (SEP-2352): its metadata, at the
  same URL, names AS2; the next 401 makes the client fetch it again, register at AS2 and
  start a new grant there, sending AS2 nothing of AS1's (client id, secret, refresh token).

Each authorization server checks what a real one checks: PKCE S256 (the verifier against
the challenge), the code's client and redirect URI, and the client authentication it
allows. The resource server accepts a token only from the server its metadata names and
for the resource it names (``aud``).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import pytest

from sansio_upscope.oauth import AuthorizationCode, InMemoryClientStore
from tests.driver import Call, Do, Step, names, run
from tests.hostile.server import Request, ScriptedServer, response

REDIRECT = "http://127.0.0.1/callback"
Serve = Callable[[Any], ScriptedServer]


def json_reply(status: int, document: object) -> bytes:
    return response(status, [("Content-Type", "application/json")], json.dumps(document).encode())


@attrs.define
class Issued:
    client_id: str
    resource: str
    scope: str


@attrs.define
class MiniAuthorizationServer:
    """Dynamic registration, authorization code + PKCE S256, refresh; ``methods`` is what
    it lists in token_endpoint_auth_methods_supported (it accepts only ``none``)."""

    serve: Serve
    methods: tuple[str, ...] = ("none",)
    server: ScriptedServer = attrs.field(init=False)
    clients: dict[str, str] = attrs.field(factory=dict)  # client_id -> secret handed out
    codes: dict[str, dict[str, str]] = attrs.field(factory=dict)
    tokens: dict[str, Issued] = attrs.field(factory=dict)
    refresh_tokens: dict[str, Issued] = attrs.field(factory=dict)
    token_forms: list[dict[str, str]] = attrs.field(factory=list)
    authorizations: list[dict[str, str]] = attrs.field(factory=list)
    _ids: Any = attrs.field(factory=itertools.count)

    def __attrs_post_init__(self) -> None:
        self.server = self.serve(self.script)

    @property
    def issuer(self) -> str:
        return self.server.url

    def script(self, request: Request) -> bytes:
        if request.path == "/.well-known/oauth-authorization-server":
            return json_reply(
                200,
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": self.issuer + "/authorize",
                    "token_endpoint": self.issuer + "/token",
                    "registration_endpoint": self.issuer + "/register",
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": list(self.methods),
                },
            )
        if request.path == "/register":
            asked = json.loads(request.body)
            assert asked["token_endpoint_auth_method"] == "none"
            client_id = f"{self.issuer}-client-{next(self._ids)}"
            self.clients[client_id] = secret = "handed-out-" + secrets.token_hex(4)
            # A server that hands out a secret the client did not ask for, and does not
            # echo the method it registered.
            return json_reply(201, {"client_id": client_id, "client_secret": secret})
        if request.path == "/token":
            return self.token(request)
        return response(404)

    def authorize(self, url: str) -> str:
        """The browser: approve at once, return the redirect with a code."""
        params = dict(parse_qsl(urlsplit(url).query))
        assert url.startswith(self.issuer + "/authorize?"), url
        assert params["client_id"] in self.clients and params["code_challenge_method"] == "S256"
        self.authorizations.append(params)
        code = secrets.token_urlsafe(8)
        self.codes[code] = params
        query = urlencode({"code": code, "state": params["state"]})
        return f"{params['redirect_uri']}?{query}"

    def token(self, request: Request) -> bytes:
        form = dict(parse_qsl(request.body.decode()))
        self.token_forms.append(form)
        if request.header("authorization") is not None or "client_secret" in form:
            return json_reply(401, {"error": "invalid_client"})  # only `none` is allowed
        if form["grant_type"] == "authorization_code":
            params = self.codes.pop(form["code"], None)
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if (
                params is None
                or params["client_id"] != form.get("client_id")
                or params["redirect_uri"] != form.get("redirect_uri")
                or params["code_challenge"] != challenge
            ):
                return json_reply(400, {"error": "invalid_grant"})
            issued = Issued(form["client_id"], form["resource"], params.get("scope", ""))
        elif form["grant_type"] == "refresh_token":
            old = self.refresh_tokens.get(form["refresh_token"])
            if old is None or old.client_id != form.get("client_id"):
                return json_reply(400, {"error": "invalid_grant"})
            issued = old
        else:
            return json_reply(400, {"error": "unsupported_grant_type"})
        access, refresh = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        self.tokens[access], self.refresh_tokens[refresh] = issued, issued
        document = {"access_token": access, "token_type": "Bearer", "expires_in": 3600}
        return json_reply(200, {**document, "refresh_token": refresh, "scope": issued.scope})


@attrs.define
class ResourceServer:
    """An MCP-style endpoint at /mcp needing ``read``, and /mcp/admin needing ``admin``;
    its metadata names /mcp and ``authorization_server``."""

    serve: Serve
    authorization_server: MiniAuthorizationServer
    server: ScriptedServer = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.server = self.serve(self.script)

    @property
    def url(self) -> str:
        return self.server.url

    def script(self, request: Request) -> bytes:
        prm = "/.well-known/oauth-protected-resource/mcp"
        metadata = f'resource_metadata="{self.url}{prm}"'
        if request.path == prm:
            document = {
                "resource": self.url + "/mcp",
                "authorization_servers": [self.authorization_server.issuer],
            }
            return json_reply(200, document)
        needed = {"/mcp": "read", "/mcp/admin": "admin"}[request.path]
        _, _, token = (request.header("authorization") or "").partition(" ")
        issued = self.authorization_server.tokens.get(token)
        if not token:
            return response(401, [("WWW-Authenticate", f'Bearer scope="{needed}", {metadata}')])
        if issued is None or issued.resource != self.url + "/mcp":
            challenge = f'Bearer error="invalid_token", {metadata}'
            return response(401, [("WWW-Authenticate", challenge)])
        if needed not in issued.scope.split():
            challenge = f'Bearer error="insufficient_scope", scope="{needed}", {metadata}'
            return response(403, [("WWW-Authenticate", challenge)])
        return response(200, [("Content-Type", "text/plain")], b"ok")


class Browser:
    """``authorize=`` for the token source: sends the browser to whichever server the
    authorization URL names."""

    def __init__(self, *servers: MiniAuthorizationServer) -> None:
        self.servers = servers

    def __call__(self, url: str) -> str:
        return next(s for s in self.servers if url.startswith(s.issuer + "/")).authorize(url)


@pytest.fixture(params=names())
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_client_registered_as_public_stays_public(adapter: str, serve: Serve) -> None:
    authorization = MiniAuthorizationServer(serve)
    rs = ResourceServer(serve, authorization)
    source = AuthorizationCode(redirect_uri=REDIRECT, authorize=Browser(authorization))
    calls = [Call(url=rs.url + "/mcp"), Call(url=rs.url + "/mcp/admin")]
    outcomes = run(adapter, calls, source, timeout=30)
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
        assert outcome.status_code == 200
    # The first authorization and the step-up: two code exchanges, both public.
    assert [form["grant_type"] for form in authorization.token_forms] == [
        "authorization_code",
        "authorization_code",
    ]
    [secret] = authorization.clients.values()
    for form in authorization.token_forms:
        assert "client_secret" not in form and secret not in json.dumps(form)


def test_a_resource_that_moves_is_followed_with_a_new_registration(
    adapter: str, serve: Serve
) -> None:
    as1, as2 = MiniAuthorizationServer(serve), MiniAuthorizationServer(serve)
    rs = ResourceServer(serve, as1)
    store = InMemoryClientStore()
    source = AuthorizationCode(
        redirect_uri=REDIRECT, authorize=Browser(as1, as2), client_store=store
    )

    def move() -> None:
        rs.authorization_server = as2  # same metadata URL, another authorization server

    steps: list[Step] = [Call(url=rs.url + "/mcp"), Do(move), Call(url=rs.url + "/mcp")]
    first, _, second = run(adapter, steps, source, timeout=30)
    assert first.error is None and first.status_code == 200
    assert second.error is None, second.error
    assert second.status_code == 200
    # A new registration at AS2 and a new grant there; the old one stays stored for AS1.
    [as1_client], [as2_client] = list(as1.clients), list(as2.clients)
    stored1, stored2 = store.get(as1.issuer), store.get(as2.issuer)
    assert stored1 is not None and stored1.client_id == as1_client
    assert stored2 is not None and stored2.client_id == as2_client
    assert [form["grant_type"] for form in as2.token_forms] == ["authorization_code"]
    # Nothing of AS1's reached AS2: not its client id, secret or refresh token.
    seen_by_as2 = json.dumps([r.target for r in as2.server.requests]) + json.dumps(
        [r.body.decode() for r in as2.server.requests]
    )
    assert as1_client not in seen_by_as2 and as1.clients[as1_client] not in seen_by_as2
    assert not any(token in seen_by_as2 for token in as1.refresh_tokens)
