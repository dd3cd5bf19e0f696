"""A scriptable OAuth 2.0 authorization server for tests and ``upscope demo``.

It implements the token endpoint for the ``client_credentials`` and ``refresh_token``
grants (RFC 6749 §4.4, §6) with client authentication by ``client_secret_basic`` or
``client_secret_post`` (§2.3.1), and publishes RFC 8414 metadata. Tests script it:
grant fewer scopes than asked (RFC 6749 §3.3 allows that), fail the next requests with
an error code, hold requests until released, and count every token request.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, unquote

import attrs

from sansio_upscope import Token, format_scope, parse_scope

from ._base import Handler, LoopbackServer

__all__ = ["AuthorizationServer", "Grant", "TokenRequestRecord"]


@attrs.frozen(kw_only=True)
class TokenRequestRecord:
    """One token request as the authorization server saw it (no secrets kept)."""

    grant_type: str
    scopes: frozenset[str]
    resource: str | None
    client_id: str | None


@attrs.frozen(kw_only=True)
class Grant:
    """What an issued access token allows."""

    scopes: frozenset[str]
    expires_at: float
    resource: str | None = None


class AuthorizationServer(LoopbackServer):
    """Issues opaque bearer tokens and remembers what each one allows.

    Script it with these attributes (safe to set from any thread):

    * ``grant_only``: when not None, grant only requested scopes within this set.
    * ``failures``: a list of OAuth error codes; each token request pops the first and
      fails with it (HTTP 400, RFC 6749 §5.2; ``invalid_client`` gives 401).
    * ``hold``: when set, token requests wait until ``release()`` is called.
    * ``expires_in``: lifetime of issued tokens, in seconds.
    """

    def __init__(
        self,
        *,
        client_id: str = "demo-client",
        client_secret: str = "demo-secret",
        expires_in: int = 3600,
    ) -> None:
        super().__init__()
        self.handler = _TokenEndpoint
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.grant_only: frozenset[str] | None = None
        self.failures: list[str] = []
        self.hold = False
        self._released = threading.Event()
        self.token_requests: list[TokenRequestRecord] = []
        self._grants: dict[str, Grant] = {}
        self._refresh_tokens: dict[str, frozenset[str]] = {}
        self._state_lock = threading.Lock()

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/token"

    @property
    def token_request_count(self) -> int:
        return len(self.token_requests)

    def release(self) -> None:
        """Let held token requests go on (and stop holding new ones)."""
        self.hold = False
        self._released.set()

    def issue_token(
        self, scopes: frozenset[str], *, resource: str | None = None, grant_type: str = "direct"
    ) -> Token:
        """Issue a token in-process, as the token endpoint would (counted, scripted).

        Raises ``DemoTokenError`` when a scripted failure is due.
        """
        document = self._token_response(grant_type, scopes, resource, None)
        if "error" in document:
            raise DemoTokenError(str(document["error"]))
        return Token(
            str(document["access_token"]),
            scopes=parse_scope(str(document["scope"]))[0],
            expires_at=time.time() + self.expires_in,
            refresh_token=str(document["refresh_token"]),
        )

    def grant_for(self, access_token: str) -> Grant | None:
        """What ``access_token`` allows, or None for an unknown or revoked token."""
        with self._state_lock:
            return self._grants.get(access_token)

    def revoke_all(self) -> None:
        """Forget every access token: the resource server answers ``invalid_token``."""
        with self._state_lock:
            self._grants.clear()

    def _token_response(
        self,
        grant_type: str,
        scopes: frozenset[str],
        resource: str | None,
        client_id: str | None,
    ) -> dict[str, object]:
        with self._state_lock:
            self.token_requests.append(
                TokenRequestRecord(
                    grant_type=grant_type, scopes=scopes, resource=resource, client_id=client_id
                )
            )
            if self.failures:
                return {"error": self.failures.pop(0)}
        if self.hold:
            self._released.wait()
        granted = scopes if self.grant_only is None else scopes & self.grant_only
        access_token = secrets.token_urlsafe(24)
        refresh_token = secrets.token_urlsafe(24)
        with self._state_lock:
            self._grants[access_token] = Grant(
                scopes=granted, expires_at=time.time() + self.expires_in, resource=resource
            )
            self._refresh_tokens[refresh_token] = granted
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": format_scope(granted),
            "refresh_token": refresh_token,
        }

    def metadata(self) -> dict[str, object]:
        """RFC 8414 §2 authorization server metadata."""
        return {
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "grant_types_supported": ["client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": [],
        }


class DemoTokenError(Exception):
    """A scripted failure of ``AuthorizationServer.issue_token``; ``error`` is the code."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(f"the demo authorization server refused the token request: {error}")


class _TokenEndpoint(Handler[AuthorizationServer]):
    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/.well-known/oauth-authorization-server":
            self.reply_json(200, self.app.metadata())
        else:
            self.reply_json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/token":
            self.read_body()
            self.reply_json(404, {"error": "not_found"})
            return
        serve_token_request(self, self.app, self.read_body())


def serve_token_request(handler: Handler[Any], app: AuthorizationServer, body: bytes) -> None:
    """Answer the token request ``handler`` holds, as ``app``'s token endpoint: also how
    a resource server that is its own authorization base (MCP 2025-03-26) serves /token."""
    form = {k: v[0] for k, v in parse_qs(body.decode("latin-1")).items()}
    _TokenRequest(handler, app, form).answer()


@attrs.define
class _TokenRequest:
    handler: Handler[Any]
    app: AuthorizationServer
    form: dict[str, str]

    def reply_json(
        self, status: int, document: object, *, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.handler.reply_json(status, document, headers=headers)

    @property
    def headers(self) -> Any:
        return self.handler.headers

    def answer(self) -> None:
        form = self.form
        client_id = self._authenticated_client(form)
        if client_id is None:
            # RFC 6749 §5.2: invalid_client with 401 and a Basic challenge.
            self.reply_json(
                401, {"error": "invalid_client"}, headers=(("WWW-Authenticate", "Basic"),)
            )
            return
        grant_type = form.get("grant_type", "")
        scopes = parse_scope(form.get("scope", ""))[0]
        if grant_type == "refresh_token":
            with self.app._state_lock:
                granted = self.app._refresh_tokens.get(form.get("refresh_token", ""))
            if granted is None or not scopes <= granted:
                self.reply_json(400, {"error": "invalid_grant"})
                return
            scopes = scopes or granted
        elif grant_type != "client_credentials":
            self.reply_json(400, {"error": "unsupported_grant_type"})
            return
        document = self.app._token_response(grant_type, scopes, form.get("resource"), client_id)
        error = document.get("error")
        status = 401 if error == "invalid_client" else 400
        self.reply_json(
            status if error else 200, document, headers=(("Cache-Control", "no-store"),)
        )

    def _authenticated_client(self, form: dict[str, str]) -> str | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
            user, _, password = decoded.partition(":")
            client_id, secret = unquote(user), unquote(password)
        if client_id != self.app.client_id or not secrets.compare_digest(
            secret or "", self.app.client_secret
        ):
            return None
        return client_id
