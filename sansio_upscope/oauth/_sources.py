"""Token sources: what outlives one token request. Configuration (client, endpoints,
how the client authenticates), the discovery caches, registered clients, and which
authorization server issued each refresh token.

``source.flow(request_token, now=...)`` makes a ``TokenFlow`` (``_flow.py``, the planner)
for one ``RequestToken``; the flow reads this configuration and fills these caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._actions import RequestToken
from .._jose import SigningKey, require_extra
from .._urls import covers, origin
from ._clients import ClientStore, InMemoryClientStore
from ._errors import InvalidResponseError, MetadataError, OAuthError
from ._metadata import (
    DEFAULT_METADATA_LIFETIME,
    AuthorizationServerMetadata,
    ProtectedResourceMetadata,
)
from ._tokens import AUTH_METHODS

if TYPE_CHECKING:
    from ._flow import TokenFlow

__all__ = [
    "CLIENT_KEY",
    "ISSUER_KEY",
    "MAX_REMEMBERED_REFRESH_TOKENS",
    "ORIGIN_KEY",
    "RESOURCE_KEY",
    "AuthorizationCode",
    "ClientCredentials",
    "CrossAppAccess",
    "JwtBearer",
    "TokenSource",
]


def _check_auth_method(instance: Any, _attribute: object, value: str | None) -> None:
    if value is not None and value not in AUTH_METHODS:
        raise ValueError(f"auth_method must be one of {AUTH_METHODS}, not {value!r}")
    if value in ("client_secret_basic", "client_secret_post") and instance.client_secret is None:
        raise ValueError(f"auth_method={value!r} needs a client_secret")
    if value == "private_key_jwt" and instance.private_key is None:
        raise ValueError("auth_method='private_key_jwt' needs a private_key")


#: The keys of discovery records (``discovery_records``), each followed by its name:
#: RFC 9728 metadata by the ``resource`` it names, RFC 8414 metadata by issuer, an origin
#: that publishes no metadata (MCP 2025-03-26), the authorization server a configured
#: ``client_id`` is bound to (SEP-2352).
RESOURCE_KEY = "resource "
ISSUER_KEY = "issuer "
ORIGIN_KEY = "origin "
CLIENT_KEY = "client "


#: How many refresh tokens a source remembers the issuer of (oldest forgotten first; a
#: forgotten one is not used: the flow starts a new grant instead).
MAX_REMEMBERED_REFRESH_TOKENS = 1024


#: How many token endpoints' DPoP nonces a source remembers.
MAX_REMEMBERED_DPOP_NONCES = 64


def _fingerprint(refresh_token: str) -> bytes:
    # The source remembers where a refresh token came from without keeping the secret.
    return hashlib.sha256(refresh_token.encode()).digest()


@attrs.define(kw_only=True, eq=False)
class _TokenSource:
    """What all token sources share: the discovery caches, and which authorization
    server issued each refresh token."""

    #: Validated RFC 9728 metadata, by the ``resource`` it names.
    _resources: dict[str, ProtectedResourceMetadata] = attrs.field(
        init=False, factory=dict, repr=False
    )
    #: Origins whose resources publish no metadata (MCP 2025-03-26): each is its own
    #: authorization server, until the time given (None: no clock was given).
    _origin_servers: dict[str, float | None] = attrs.field(init=False, factory=dict, repr=False)
    #: The authorization server a configured ``client_id`` was first used at, when the
    #: server is discovered: its credentials are never sent to another one (SEP-2352).
    _client_issuer: str | None = attrs.field(init=False, default=None, repr=False)
    #: Validated RFC 8414 metadata, by issuer.
    _servers: dict[str, AuthorizationServerMetadata] = attrs.field(
        init=False, factory=dict, repr=False
    )
    #: The authorization server (issuer, or the configured token endpoint) that issued
    #: each refresh token, by the token's SHA-256.
    _refresh_issuers: dict[bytes, str] = attrs.field(init=False, factory=dict, repr=False)

    #: RFC 7523 §2.2 client authentication (``private_key_jwt``): a PEM (str or bytes)
    #: or a ``cryptography`` private key, signing with ``signing_alg``; ``kid`` names it.
    private_key: object = attrs.field(default=None, repr=False)
    signing_alg: str = "ES256"
    kid: str | None = None
    #: RFC 9449 DPoP: True makes a key in memory; a ``SigningKey`` is the application's.
    dpop: bool | SigningKey = attrs.field(default=False, repr=False)
    _client_key: SigningKey | None = attrs.field(init=False, default=None, repr=False)
    _dpop_key: SigningKey | None = attrs.field(init=False, default=None, repr=False)
    #: The newest DPoP-Nonce each token endpoint gave (RFC 9449 §8), by endpoint URL.
    _dpop_nonces: dict[str, str] = attrs.field(init=False, factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        # Loaded now, so a missing extra or an unusable key shows up at configuration.
        what = f"{type(self).__name__}(private_key=...)"
        if self.private_key is not None:
            self._client_key = SigningKey.load(
                self.private_key, alg=self.signing_alg, kid=self.kid, what=what
            )
        if isinstance(self.dpop, SigningKey):
            self._dpop_key = self.dpop
        elif self.dpop:
            self._dpop_key = SigningKey.generate(what=f"{type(self).__name__}(dpop=True)")

    def _remember_dpop_nonce(self, endpoint: str, nonce: str) -> None:
        nonces = self._dpop_nonces
        nonces.pop(endpoint, None)
        nonces[endpoint] = nonce
        while len(nonces) > MAX_REMEMBERED_DPOP_NONCES:
            del nonces[next(iter(nonces))]

    def _remember_refresh_token(self, refresh_token: str, issuer: str) -> None:
        issuers = self._refresh_issuers
        issuers.pop(_fingerprint(refresh_token), None)
        issuers[_fingerprint(refresh_token)] = issuer
        while len(issuers) > MAX_REMEMBERED_REFRESH_TOKENS:
            del issuers[next(iter(issuers))]

    def _refresh_token_issuer(self, refresh_token: str) -> str | None:
        return self._refresh_issuers.get(_fingerprint(refresh_token))

    def refresh_token_issuer(self, refresh_token: str) -> str | None:
        """The authorization server that issued ``refresh_token`` through this source
        (its issuer, or the configured token endpoint), or None when unknown. A token
        store keeps it beside the refresh token."""
        return self._refresh_token_issuer(refresh_token)

    def remember_refresh_token(self, refresh_token: str, issuer: str) -> None:
        """Record that ``issuer`` issued ``refresh_token`` (a token store hands this source
        a refresh token another process obtained): the flow then refreshes with it at
        that authorization server, and only there (RFC 6749 §10.4)."""
        self._remember_refresh_token(refresh_token, issuer)

    # -- discovery results, for a token store -----------------------------------------

    def discovery_records(self, resource: str, *, since: float) -> dict[str, Any]:
        """What this source discovered for ``resource`` at ``since`` or later, as JSON
        records by key (``RESOURCE_KEY`` and the others, then a name) for a token store:
        the protected resource metadata that covers it, its authorization server's
        metadata, an origin that publishes none, and the server the configured
        ``client_id`` is bound to."""
        records: dict[str, Any] = {}
        prm = self._metadata_for(resource, strict=getattr(self, "strict_resource", False))
        configured: str | None = getattr(self, "issuer", None)
        issuers = [configured] if configured is not None else []
        if prm is not None:
            issuers.append(prm.authorization_servers[0])
            if (prm.fetched_at or 0.0) >= since:
                records[RESOURCE_KEY + prm.resource] = prm.to_record()
        known = origin(resource).serialized
        until = self._origin_servers.get(known)
        if until is not None and until - DEFAULT_METADATA_LIFETIME >= since:
            records[ORIGIN_KEY + known] = {"expires_at": until}
            issuers.append(known)
        for issuer in issuers:
            server = self._servers.get(issuer)
            if server is not None and (server.fetched_at or 0.0) >= since:
                records[ISSUER_KEY + issuer] = server.to_record()
        client_id = getattr(self, "client_id", None)
        if client_id is not None and self._client_issuer is not None:
            records[CLIENT_KEY + client_id] = {"issuer": self._client_issuer}
        return records

    def learn_discovery(self, records: Mapping[str, Any], *, now: float) -> None:
        """Take discovery results a token store kept (``discovery_records`` of this or
        another process): each is validated again as when it was fetched; one past its
        lifetime, or older than what this source holds, is left out. The resource check
        (rule 11) is applied again when a flow uses it, to the URL called.
        Raises ``ValueError`` or ``MetadataError`` naming the key of a record that is
        malformed, or was kept under a key it does not belong to."""
        for key, record in records.items():
            try:
                self._learn(key, record, now)
            except (ValueError, TypeError, KeyError, MetadataError, InvalidResponseError) as exc:
                problem = exc.what if isinstance(exc, OAuthError) else str(exc)
                raise ValueError(f"the discovery record {key!r} is unusable: {problem}") from None

    def _learn(self, key: str, record: Any, now: float) -> None:
        kind, _, name = key.partition(" ")
        if kind + " " == CLIENT_KEY:
            issuer = record["issuer"]
            if not isinstance(issuer, str):
                raise ValueError("its issuer is not a string")
            if name == getattr(self, "client_id", None) and self._client_issuer is None:
                self._client_issuer = issuer  # SEP-2352: the fleet's first server
            return
        if kind + " " == ORIGIN_KEY:
            until = record["expires_at"]
            if not isinstance(until, (int, float)) or isinstance(until, bool):
                raise ValueError("its expires_at is not a number")
            if now < until:
                self._origin_servers[name] = max(until, self._origin_servers.get(name) or 0.0)
            return
        kept: Any
        table: dict[str, Any]
        if kind + " " == RESOURCE_KEY:
            kept, table = ProtectedResourceMetadata.from_record(record, name), self._resources
        elif kind + " " == ISSUER_KEY:
            kept, table = AuthorizationServerMetadata.from_record(record, name), self._servers
        else:
            raise ValueError("it is not a kind of record this version knows")
        if kept.expires_at is None or kept.fetched_at is None or now >= kept.expires_at:
            return  # undated or past its lifetime: fetched again when needed
        held = table.get(name)
        if held is None or (held.fetched_at or 0.0) < kept.fetched_at:
            table[name] = kept

    def protected_resource(
        self, resource: str, *, now: float, resource_metadata: str | None = None
    ) -> str | None:
        """The protected resource ``resource`` is part of, as its metadata (within its
        lifetime) names it (rule 11), or None when unknown or when a challenge names
        other metadata (``resource_metadata``: it changed, RFC 9728 §5.2). A token store
        keeps one token per protected resource, whatever URL under it was called."""
        prm = self._metadata_for(resource, strict=getattr(self, "strict_resource", False))
        if (
            prm is None
            or resource_metadata not in (None, prm.url)
            or (prm.expires_at is not None and now >= prm.expires_at)
        ):
            return None
        return prm.resource

    def _metadata_for(self, resource: str, *, strict: bool) -> ProtectedResourceMetadata | None:
        """The cached metadata of the protected resource ``resource`` is part of: the
        identical one when strict, else the longest that covers it (rule 11)."""
        if strict:
            return self._resources.get(resource)
        best = None
        for known, metadata in list(self._resources.items()):  # (a store may add some)
            if covers(known, resource) and (best is None or len(known) > len(best.resource)):
                best = metadata
        return best


@attrs.define(eq=False)  # identity: it holds caches
class ClientCredentials(_TokenSource):
    """Tokens for the client itself (RFC 6749 §4.4), e.g. a headless agent.

    With ``token_endpoint`` nothing is discovered; with ``issuer`` the authorization server
    is fixed and only its metadata is discovered; with neither, everything is discovered
    from the challenge (RFC 9728, then RFC 8414). ``auth_method`` forces one of
    ``client_secret_basic``, ``client_secret_post``, ``none``, ``private_key_jwt``;
    otherwise it is chosen from the server's metadata. With ``private_key`` (PEM) the
    client authenticates with a fresh RFC 7523 assertion per request (``signing_alg``
    ES256 or RS256, the ``jwt`` extra). ``dpop=True`` binds the tokens to a key
    (RFC 9449).
    The resource's metadata may name a resource that covers the URL called (same origin,
    path prefix on a segment boundary); ``strict_resource=True`` accepts only metadata
    naming exactly the URL called (RFC 9728 §3.3 read literally).
    With a discovered server, ``client_id`` and ``client_secret`` are sent only to the
    first authorization server they were used at: a resource that moves to another one
    fails with ``RegistrationError`` (SEP-2352).
    Raises ``ValueError`` for an unknown ``auth_method`` or one that needs a missing
    secret or key, or a key that cannot sign; ``ImportError`` without the ``jwt`` extra.
    """

    client_id: str
    client_secret: str | None = attrs.field(default=None, repr=False)
    token_endpoint: str | None = attrs.field(default=None, kw_only=True)
    auth_method: str | None = attrs.field(default=None, kw_only=True, validator=_check_auth_method)
    issuer: str | None = attrs.field(default=None, kw_only=True)
    strict_resource: bool = attrs.field(default=False, kw_only=True)

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
    ``strict_resource=True``: see ``ClientCredentials``. A resource whose metadata moves to
    another authorization server gets a new registration there (SEP-2352); a configured
    ``client_id`` is used only at the first server it was used at.
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
    strict_resource: bool = attrs.field(default=False, kw_only=True)
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


def _check_url_set(_instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must not be empty")


@attrs.define(eq=False)  # identity: it holds caches
class JwtBearer(_TokenSource):
    """Tokens for a workload that holds a JWT its platform issued (RFC 7523 §2.1, the
    jwt-bearer grant; SEP-1933 workload identity federation).

    ``assertion`` is the JWT, or a callable returning the current one (workload tokens
    rotate: it is called for every token request). The client authenticates as
    configured (``client_secret``, ``private_key``, or not at all: RFC 7523 §3.1 makes
    client authentication optional for this grant). Endpoints and
    ``strict_resource`` as for ``ClientCredentials``. A refused assertion is
    ``AssertionRejectedError``.
    """

    client_id: str
    assertion: str | Callable[[], str] = attrs.field(kw_only=True, repr=False)
    client_secret: str | None = attrs.field(default=None, kw_only=True, repr=False)
    token_endpoint: str | None = attrs.field(default=None, kw_only=True)
    auth_method: str | None = attrs.field(default=None, kw_only=True, validator=_check_auth_method)
    issuer: str | None = attrs.field(default=None, kw_only=True)
    strict_resource: bool = attrs.field(default=False, kw_only=True)

    def flow(self, request_token: RequestToken, *, now: float | None = None) -> TokenFlow:
        """A new flow answering ``request_token``; ``now`` dates ``expires_in``."""
        from ._flow import TokenFlow  # here: the planner imports this module

        return TokenFlow(self, request_token, now=now)


@attrs.define(eq=False)  # identity: it holds caches
class CrossAppAccess(_TokenSource):
    """Tokens for a user signed in at an enterprise identity provider (SEP-990,
    draft-ietf-oauth-identity-assertion-authz-grant).

    Two token requests per token: an RFC 8693 token exchange at ``idp_token_endpoint``
    (as ``idp_client_id``, with ``idp_client_secret`` when given) turns the user's
    ``id_token`` into an ID-JAG whose audience is the authorization server's issuer and
    whose resource is the protected resource; then the RFC 7523 jwt-bearer grant at the
    authorization server (as ``client_id`` / ``client_secret``) turns the ID-JAG into the
    access token. ``id_token`` is the token, or a callable returning the current one.
    An expired or refused ID token is ``SignInRequiredError``; a refused ID-JAG is
    ``AssertionRejectedError``. A step-up repeats both with the wider scope.
    Raises ``ValueError`` when the authorization server's issuer cannot be known (a
    ``token_endpoint`` without ``issuer``): it is the ID-JAG's audience.
    """

    client_id: str
    client_secret: str | None = attrs.field(repr=False)
    id_token: str | Callable[[], str] = attrs.field(kw_only=True, repr=False)
    idp_token_endpoint: str = attrs.field(kw_only=True, validator=_check_url_set)
    idp_client_id: str = attrs.field(kw_only=True)
    idp_client_secret: str | None = attrs.field(default=None, kw_only=True, repr=False)
    token_endpoint: str | None = attrs.field(default=None, kw_only=True)
    auth_method: str | None = attrs.field(default=None, kw_only=True, validator=_check_auth_method)
    issuer: str | None = attrs.field(default=None, kw_only=True)
    strict_resource: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.token_endpoint is not None and self.issuer is None:
            raise ValueError(
                "CrossAppAccess with token_endpoint=... also needs issuer=...: the "
                "authorization server's issuer is the ID-JAG's audience (SEP-990)"
            )
        require_extra("CrossAppAccess (it reads the ID token's exp)")
        super().__attrs_post_init__()

    def flow(self, request_token: RequestToken, *, now: float | None = None) -> TokenFlow:
        """A new flow answering ``request_token``; ``now`` dates ``expires_in`` and
        tells whether the ID token has expired."""
        from ._flow import TokenFlow  # here: the planner imports this module

        return TokenFlow(self, request_token, now=now)


#: Every built-in OAuth token source: what the drivers (``drive_sync``/``drive_async``)
#: and the adapters accept besides a plain callable.
TokenSource = ClientCredentials | AuthorizationCode | JwtBearer | CrossAppAccess
