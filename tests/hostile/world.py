"""A small, well-behaved OAuth world on one scripted server, for cases that break one piece.

``/ok`` is a protected resource whose 401 names its RFC 9728 metadata (``/prm/ok``), the
server is also the authorization server (issuer = its base URL, RFC 8414 metadata at the
well-known URL) and ``/token`` issues ``world-token-<n>`` (with a refresh token) for the
``client_credentials``, ``refresh_token`` and ``authorization_code`` grants (the code
must be ``code``). ``revoked`` holds access tokens the resource now answers with 401
``invalid_token``. A test replaces one route with a hostile one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from urllib.parse import parse_qsl

from .server import Reply, Request, ScriptedServer, response, routes

Script = Callable[[Request], Reply | bytes]

__all__ = ["OAuthWorld", "json_reply"]


def json_reply(status: int, document: object, **headers: str) -> bytes:
    return response(
        status,
        [("Content-Type", "application/json"), *headers.items()],
        json.dumps(document).encode(),
    )


class OAuthWorld:
    def __init__(
        self,
        serve: Callable[[Script], ScriptedServer],
        *,
        token_prefix: str = "world-token-",
        refresh_prefix: str = "world-refresh-",
        code: str = "world-code",
    ) -> None:
        self.token_prefix = token_prefix
        self.refresh_prefix = refresh_prefix
        self.code = code
        self.revoked: set[str] = set()
        #: accept each access token once, then answer 401 invalid_token (forces a refresh)
        self.single_use = False
        self.table: dict[str, Script] = {}
        self.server = serve(routes(self.table))
        self.url = self.server.url
        self._lock = threading.Lock()
        self.issued = 0
        self.table.update(
            {
                "/ok": self.protected,
                "/prm/ok": self.metadata_for("/ok"),
                "/.well-known/oauth-authorization-server": self.server_metadata,
                "/token": self.token,
            }
        )

    def challenge(self, path: str, *, status: int = 401, extra: str = "") -> bytes:
        value = f'Bearer resource_metadata="{self.url}/prm{path}"{extra}'
        return response(status, [("WWW-Authenticate", value)], b"")

    def protected(self, request: Request) -> bytes:
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token.startswith(self.token_prefix):
            return self.challenge(request.path)
        if token in self.revoked:
            return self.challenge(request.path, extra=', error="invalid_token"')
        if self.single_use:
            self.revoked.add(token)
        return response(200, [("Content-Type", "text/plain")], b"fine")

    def metadata_for(self, path: str, *, resource: str | None = None, **extra: object) -> Script:
        def script(_request: Request) -> bytes:
            document = {
                "resource": resource if resource is not None else self.url + path,
                "authorization_servers": [self.url],
                **extra,
            }
            return json_reply(200, document)

        return script

    def server_metadata(self, _request: Request) -> bytes:
        return json_reply(
            200,
            {
                "issuer": self.url,
                "token_endpoint": self.url + "/token",
                "authorization_endpoint": self.url + "/authorize",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
            },
        )

    def token(self, request: Request) -> bytes:
        form = dict(parse_qsl(request.body.decode()))
        grant = form.get("grant_type")
        if grant == "refresh_token" and not form.get("refresh_token", "").startswith(
            self.refresh_prefix
        ):
            return json_reply(400, {"error": "invalid_grant"})
        if grant == "authorization_code" and form.get("code") != self.code:
            return json_reply(400, {"error": "invalid_grant"})
        if grant not in ("client_credentials", "refresh_token", "authorization_code"):
            return json_reply(400, {"error": "unsupported_grant_type"})
        with self._lock:
            self.issued += 1
            number = self.issued
        return json_reply(
            200,
            {
                "access_token": f"{self.token_prefix}{number}",
                "token_type": "Bearer",
                "expires_in": 60,
                "refresh_token": f"{self.refresh_prefix}{number}",
            },
        )

    def token_requests(self) -> list[Request]:
        return [r for r in self.server.requests if r.path == "/token"]
