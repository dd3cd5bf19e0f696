"""Token sources: what outlives one token request. Configuration (client, endpoints,
how the client authenticates), the discovery caches, registered clients, and which
authorization server issued each refresh token.

``source.flow(request_token, now=...)`` makes a ``TokenFlow`` (``_flow.py``, the planner)
for one ``RequestToken``; the flow reads this configuration and fills these caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from .._actions import RequestToken
from ._clients import ClientStore, InMemoryClientStore
from ._metadata import AuthorizationServerMetadata, ProtectedResourceMetadata
from ._tokens import AUTH_METHODS

if TYPE_CHECKING:
    from ._flow import TokenFlow

__all__ = ["MAX_REMEMBERED_REFRESH_TOKENS", "AuthorizationCode", "ClientCredentials"]


def _check_auth_method(instance: Any, _attribute: object, value: str | None) -> None:
    if value is not None and value not in AUTH_METHODS:
        raise ValueError(f"auth_method must be one of {AUTH_METHODS}, not {value!r}")
    if value in ("client_secret_basic", "client_secret_post") and instance.client_secret is None:
        raise ValueError(f"auth_method={value!r} needs a client_secret")


#: How many refresh tokens a source remembers the issuer of (oldest forgotten first; a
#: forgotten one is not used: the flow starts a new grant instead).
MAX_REMEMBERED_REFRESH_TOKENS = 1024


def _fingerprint(refresh_token: str) -> bytes:
    # The source remembers where a refresh token came from without keeping the secret.
    return hashlib.sha256(refresh_token.encode()).digest()


@attrs.define(kw_only=True, eq=False)
class _TokenSource:
    """What all token sources share: the discovery caches, and which authorization
    server issued each refresh token."""

    #: Validated RFC 9728 metadata, by ``RequestToken.resource``.
    _resources: dict[str, ProtectedResourceMetadata] = attrs.field(
        init=False, factory=dict, repr=False
    )
    #: Validated RFC 8414 metadata, by issuer.
    _servers: dict[str, AuthorizationServerMetadata] = attrs.field(
        init=False, factory=dict, repr=False
    )
    #: The authorization server (issuer, or the configured token endpoint) that issued
    #: each refresh token, by the token's SHA-256.
    _refresh_issuers: dict[bytes, str] = attrs.field(init=False, factory=dict, repr=False)

    def _remember_refresh_token(self, refresh_token: str, issuer: str) -> None:
        issuers = self._refresh_issuers
        issuers.pop(_fingerprint(refresh_token), None)
        issuers[_fingerprint(refresh_token)] = issuer
        while len(issuers) > MAX_REMEMBERED_REFRESH_TOKENS:
            del issuers[next(iter(issuers))]

    def _refresh_token_issuer(self, refresh_token: str) -> str | None:
        return self._refresh_issuers.get(_fingerprint(refresh_token))


@attrs.define(eq=False)  # identity: it holds caches
class ClientCredentials(_TokenSource):
    """Tokens for the client itself (RFC 6749 §4.4), e.g. a headless agent.

    With ``token_endpoint`` nothing is discovered; with ``issuer`` the authorization server
    is fixed and only its metadata is discovered; with neither, everything is discovered
    from the challenge (RFC 9728, then RFC 8414). ``auth_method`` forces one of
    ``client_secret_basic``, ``client_secret_post``, ``none``; otherwise it is chosen from
    the server's metadata.
    Raises ``ValueError`` for an unknown ``auth_method`` or one that needs a missing secret.
    """

    client_id: str
    client_secret: str | None = attrs.field(default=None, repr=False)
    token_endpoint: str | None = attrs.field(default=None, kw_only=True)
    auth_method: str | None = attrs.field(default=None, kw_only=True, validator=_check_auth_method)
    issuer: str | None = attrs.field(default=None, kw_only=True)

    def flow(self, request_token: RequestToken, *, now: float | None = None) -> TokenFlow:
        """A new flow answering ``request_token``; ``now`` dates ``expires_in``."""
        from ._flow import TokenFlow  # here: the planner imports this module

        return TokenFlow(self, request_token, now=now)


@attrs.define(eq=False)  # identity: it holds caches
class AuthorizationCode(_TokenSource):
    """Tokens for a user, through their browser (RFC 6749 §4.1 with PKCE S256, RFC 7636).

    ``client_id`` None means register (MCP order): the stored client for the issuer
    (``client_store``), else the Client ID Metadata Document ``client_metadata_url`` when
    the server supports it, else RFC 7591 dynamic registration.
    ``redirect_uri`` None means a loopback receiver on a free port, chosen by the driver.
    ``authorize(url) -> redirect URL`` sends the browser (async for ``drive_async``);
    None opens the system browser and catches the redirect on loopback (RFC 8252).
    Raises ``ValueError`` for an unknown ``auth_method`` or one that needs a missing secret.
    """

    client_id: str | None = None
    redirect_uri: str | None = None
    client_secret: str | None = attrs.field(default=None, kw_only=True, repr=False)
    authorize: Callable[[str], Any] | None = attrs.field(default=None, kw_only=True, repr=False)
    auth_method: str | None = attrs.field(default=None, kw_only=True, validator=_check_auth_method)
    issuer: str | None = attrs.field(default=None, kw_only=True)
    client_metadata_url: str | None = attrs.field(default=None, kw_only=True)
    client_name: str = attrs.field(default="sansio-upscope", kw_only=True)
    client_store: ClientStore = attrs.field(factory=InMemoryClientStore, kw_only=True)
    token_endpoint: None = attrs.field(default=None, init=False, repr=False)

    def flow(
        self,
        request_token: RequestToken,
        *,
        now: float | None = None,
        redirect_uri: str | None = None,
    ) -> TokenFlow:
        """A new flow answering ``request_token``; ``redirect_uri`` overrides the
        configured one (the driver passes its loopback receiver's).
        Raises ``ValueError`` when there is no redirect URI at all."""
        redirect_uri = redirect_uri or self.redirect_uri
        if redirect_uri is None:
            raise ValueError(
                "AuthorizationCode needs a redirect_uri: pass one, or let drive_sync use a "
                "loopback receiver (authorize=None)"
            )
        from ._flow import TokenFlow  # here: the planner imports this module

        return TokenFlow(self, request_token, now=now, redirect_uri=redirect_uri)
