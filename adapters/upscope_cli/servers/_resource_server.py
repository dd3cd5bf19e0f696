"""A protected resource (RFC 6750) for tests and ``upscope demo``.

Each route names the scopes it needs. A request without a token gets 401 with a Bearer
challenge (RFC 6750 §3); an unknown, revoked or expired token gets 401 ``invalid_token``
(§3.1); a token without the route's scopes gets 403 ``insufficient_scope`` naming only
the scopes this operation needs (MCP 2026-07-28, SEP-2350). Every challenge carries
``resource_metadata`` (RFC 9728 §5.1), and the metadata document is served.

By default the whole origin is one protected resource (its metadata names the origin,
as Slack's MCP server does). ``resources`` names path prefixes instead, each a protected
resource with its own metadata (``("/mcp", "/api")``); ``check_audience`` refuses a token
issued for another resource (RFC 8707 ``aud``, 401 ``invalid_token``). ``resources=()``
publishes no metadata at all (an MCP 2025-03-26 server); ``authorization_base`` then
makes the origin its own authorization server: ``"metadata"`` serves RFC 8414 metadata
and ``/token`` at the origin, ``"defaults"`` serves only ``/token`` (the default path).

Besides JSON routes there are routes that echo the body, stream ``text/event-stream``
events, redirect, and close the connection, so adapters can be tested against each.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Literal

import attrs

from sansio_upscope import format_scope

from ._authorization_server import AuthorizationServer, serve_token_request
from ._base import Handler, LoopbackServer

__all__ = ["ResourceServer", "Route", "SeenRequest"]


def _scopes(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


Kind = Literal["json", "echo", "events", "redirect", "close", "truncate", "garbage"]


@attrs.frozen(kw_only=True)
class Route:
    """How the resource server answers one path.

    * ``scopes``: needed scopes; None for a public route.
    * ``kind``: ``json`` (a small JSON document), ``echo`` (the request body back),
      ``events`` (``text/event-stream``, ``events`` events; after the first it waits for
      ``ResourceServer.events_gate`` when that is set), ``redirect`` (307 to
      ``location``), ``close`` (closes the connection without answering), ``truncate``
      (promises 100 bytes, sends 10, closes), ``garbage`` (answers with something that
      is not HTTP, then closes).
    * ``always_refuse``: answer ``insufficient_scope`` even to a sufficient token (a
      server that never accepts: the loop guard must give up).
    * ``escalate``: every request with a token needs one more scope than the last
      (``level:2``, ``level:3``...): a server that keeps asking for new scopes, so only the budgets
      of ``Policy`` stop the step-ups.
    """

    scopes: frozenset[str] | None = attrs.field(default=None, converter=_scopes)
    kind: Kind = "json"
    location: str | None = None
    always_refuse: bool = False
    escalate: bool = False
    events: int = 3


@attrs.frozen(kw_only=True)
class SeenRequest:
    """A request as the resource server received it. ``authorization`` is kept for
    tests that check which token reached which server, never shown in a repr."""

    method: str
    path: str
    authorization: str | None = attrs.field(repr=False)
    body: bytes = attrs.field(repr=lambda body: f"<{len(body)} bytes>")
    #: The client's TCP port: requests with the same port came over one connection.
    client_port: int = 0


def default_routes() -> dict[str, Route]:
    return {
        "/public": Route(),
        "/files": Route(scopes={"files:read"}),
        "/files/upload": Route(scopes={"files:write"}, kind="echo"),
        "/admin": Route(scopes={"admin"}),
        "/stubborn": Route(scopes={"files:read"}, always_refuse=True),
        "/escalate": Route(scopes={"level:1"}, escalate=True),
        "/events": Route(scopes={"files:read"}, kind="events"),
        "/close": Route(kind="close"),
        "/truncate": Route(kind="truncate"),
        "/garbage": Route(kind="garbage"),
    }


class ResourceServer(LoopbackServer):
    """Serves ``routes`` (``default_routes()`` unless given), checking tokens that
    ``authorization_server`` issued. ``requests`` lists what arrived, in order."""

    def __init__(
        self,
        authorization_server: AuthorizationServer,
        routes: dict[str, Route] | None = None,
        *,
        resources: tuple[str, ...] = ("",),
        check_audience: bool = False,
        authorization_base: Literal["metadata", "defaults"] | None = None,
    ) -> None:
        super().__init__()
        self.handler = _Resource
        self.authorization_server = authorization_server
        self.routes = default_routes() if routes is None else dict(routes)
        self.resources = resources
        self.check_audience = check_audience
        self.authorization_base = authorization_base
        self.requests: list[SeenRequest] = []
        #: When set, ``events`` routes send the first event, then wait for this.
        self.events_gate: threading.Event | None = None
        self._levels: dict[str, int] = {}
        self._levels_lock = threading.Lock()

    def resource_of(self, path: str) -> str | None:
        """The path prefix of the protected resource ``path`` is part of (the longest
        in ``resources`` on a segment boundary), or None."""
        covering = [r for r in self.resources if path == r or path.startswith(r.rstrip("/") + "/")]
        return max(covering, key=len) if covering else None

    def metadata(self, path: str = "") -> dict[str, object] | None:
        """RFC 9728 §2 protected resource metadata for the resource at ``path``."""
        resource = self.resource_of(path or "/")
        if resource is None:
            return None
        scopes: set[str] = set()
        for route in self.routes.values():
            scopes |= route.scopes or set()
        return {
            "resource": self.url + resource,
            "authorization_servers": [self.authorization_server.issuer],
            "scopes_supported": sorted(scopes),
            "bearer_methods_supported": ["header"],
        }

    def _next_level(self, path: str) -> int:
        with self._levels_lock:
            level = self._levels[path] = self._levels.get(path, 0) + 1
            return level

    def requests_to(self, path: str) -> list[SeenRequest]:
        return [seen for seen in list(self.requests) if seen.path == path]


_METADATA = "/.well-known/oauth-protected-resource"


class _Resource(Handler[ResourceServer]):
    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        body = self.read_body()
        path = self.path.split("?")[0]
        app = self.app
        if path.startswith(_METADATA):
            metadata = app.metadata(path[len(_METADATA) :])
            self.reply_json(404 if metadata is None else 200, metadata or {"error": "not_found"})
            return
        if app.authorization_base is not None and self._authorization(path, body):
            return
        authorization = self.headers.get("Authorization")
        app.requests.append(
            SeenRequest(
                method=self.command,
                path=path,
                authorization=authorization,
                body=body,
                client_port=self.client_address[1],
            )
        )
        route = app.routes.get(path)
        if route is None:
            self.reply_json(404, {"error": "not_found", "path": path})
        elif route.kind == "close":
            self.close_connection = True
        elif route.kind == "garbage":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            self.close_connection = True
        elif route.kind == "truncate":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            self.close_connection = True
        elif route.scopes is None or self._authorized(route, path, authorization):
            self._answer(route, path, body)

    def _authorized(self, route: Route, path: str, authorization: str | None) -> bool:
        assert route.scopes is not None
        needed = route.scopes
        if route.escalate and authorization:
            needed = frozenset({f"level:{self.app._next_level(path) + 1}"})
        scope = format_scope(needed)
        resource = self.app.resource_of(path)
        metadata = (
            "" if resource is None else f', resource_metadata="{self.app.url}{_METADATA}{resource}"'
        )
        kind, _, token = (authorization or "").partition(" ")
        if kind.lower() != "bearer" or not token:
            # RFC 6750 §3: no error code when the request carried no token.
            self._challenge(401, f'Bearer realm="demo", scope="{scope}"{metadata}')
            return False
        grant = self.app.authorization_server.grant_for(token)
        audience = None if resource is None else self.app.url + resource
        wrong_audience = (
            self.app.check_audience and grant is not None and grant.resource != audience
        )
        if grant is None or grant.expires_at <= time.time() or wrong_audience:
            self._challenge(
                401,
                f'Bearer realm="demo", error="invalid_token", '
                f'error_description="The access token is unknown, revoked or expired, or '
                f'issued for another resource"{metadata}',
            )
            return False
        if route.always_refuse or not needed <= grant.scopes:
            self._challenge(
                403,
                f'Bearer realm="demo", error="insufficient_scope", scope="{scope}", '
                f'error_description="This operation needs {scope}"{metadata}',
            )
            return False
        return True

    def _authorization(self, path: str, body: bytes) -> bool:
        """Serve the authorization endpoints at the origin (MCP 2025-03-26 fallback)."""
        app = self.app
        if path == "/token" and self.command == "POST":
            serve_token_request(self, app.authorization_server, body)
            return True
        if (
            path == "/.well-known/oauth-authorization-server"
            and app.authorization_base == "metadata"
        ):
            document = dict(app.authorization_server.metadata())
            document.update(issuer=app.url, token_endpoint=app.url + "/token")
            self.reply_json(200, document)
            return True
        return False

    def _challenge(self, status: int, value: str) -> None:
        error = {401: "unauthorized", 403: "forbidden"}[status]
        self.reply_json(status, {"error": error}, headers=(("WWW-Authenticate", value),))

    def _answer(self, route: Route, path: str, body: bytes) -> None:
        if route.kind == "echo":
            self.reply(200, body, content_type="application/octet-stream")
        elif route.kind == "redirect":
            assert route.location is not None
            self.reply(307, b"", headers=(("Location", route.location),))
        elif route.kind == "events":
            self._events(route)
        else:
            self.reply_json(200, {"ok": True, "path": path})

    def _events(self, route: Route) -> None:
        # A text/event-stream body (MCP streamable HTTP), chunked (RFC 9112 §7.1).
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number in range(1, route.events + 1):
            data = f"id: {number}\nevent: message\ndata: {json.dumps({'n': number})}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            gate = self.app.events_gate
            if number == 1 and gate is not None:
                gate.wait(30)
        self.wfile.write(b"0\r\n\r\n")
