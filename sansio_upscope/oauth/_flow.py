"""The per-request flow machine. Everything that decides what the next OAuth request is
lives here.

Theory of operation: a token source (``ClientCredentials``, ``AuthorizationCode``,
``_sources.py``) holds what outlives one token request: configuration, discovered
metadata, registered clients. ``source.flow(request_token, now=...)`` makes a
``TokenFlow`` for one ``RequestToken``. The flow is a planner: after each input it
records the facts it learnt, then ``_advance`` walks the fixed plan and emits the first
step whose fact is still missing::

    resource metadata (RFC 9728)  ->  authorization server metadata (RFC 8414 / OIDC)
      ->  client (given, stored, CIMD, or RFC 7591 registration)
      ->  refresh (RFC 6749 §6) when the core says it can serve and the refresh token
          came from this authorization server, else the grant:
          client_credentials (§4.4) or authorization_code + PKCE S256 (§4.1, RFC 7636)
          or jwt-bearer (RFC 7523 §2.1), for cross-app access after an RFC 8693 token
          exchange at the identity provider (SEP-990)
      ->  Finished(token) | Failed(error)

Every token request carries a fresh client assertion when the client authenticates with
``private_key_jwt`` and a fresh DPoP proof when the source has a DPoP key; an
authorization server's ``use_dpop_nonce`` sends the same request again once per new
nonce (RFC 9449 §8), at most ``MAX_DPOP_NONCE_RETRIES`` times.

Server behaviour never raises out of the flow: every ``OAuthError`` becomes
``Failed(error)``. Only API misuse raises (``LocalProtocolError``).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import secrets
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from .._actions import Reason, RequestToken
from .._dpop import dpop_proof
from .._errors import LocalProtocolError
from .._scopes import format_scope
from .._token import Token
from .._urls import origin
from ._assertions import (
    ID_JAG_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER_GRANT,
    TOKEN_EXCHANGE_GRANT,
    client_assertion,
    id_token_expiry,
    parse_id_jag_response,
)
from ._clients import (
    RegisteredClient,
    registration_request,
    registration_response,
)
from ._errors import (
    AssertionRejectedError,
    AuthorizationError,
    InvalidResponseError,
    MetadataError,
    OAuthError,
    RegistrationError,
    SignInRequiredError,
    TokenEndpointError,
)
from ._messages import (
    AuthorizationRedirect,
    Failed,
    Finished,
    HttpRequest,
    HttpResponse,
    OpenAuthorizationUrl,
    Step,
)
from ._metadata import (
    DEFAULT_METADATA_LIFETIME,
    AuthorizationServerMetadata,
    ProtectedResourceMetadata,
)
from ._sources import AuthorizationCode, ClientCredentials, CrossAppAccess, JwtBearer, TokenSource
from ._tokens import choose_auth_method, parse_token_response, token_request
from ._urls import (
    authorization_server_metadata_urls,
    check_url,
    protected_resource_metadata_urls,
)

__all__ = ["MAX_DPOP_NONCE_RETRIES", "Phase", "TokenFlow"]

#: Times one token request is sent again for a new ``use_dpop_nonce`` (RFC 9449 §8).
MAX_DPOP_NONCE_RETRIES = 2


def _log(message: str, *args: object) -> None:
    # Imported here: `logging` imports `threading`, and importing the core must not.
    import logging

    logging.getLogger("sansio_upscope.oauth").debug(message, *args)


class Phase(enum.Enum):
    """What the flow is waiting for."""

    START = "start"
    RESOURCE_METADATA = "resource_metadata"
    SERVER_METADATA = "server_metadata"
    REGISTRATION = "registration"
    AUTHORIZATION = "authorization"
    TOKEN_EXCHANGE = "token_exchange"
    TOKEN = "token"
    DONE = "done"


def _pkce_challenge(verifier: str) -> str:
    # RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), no padding.
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class TokenFlow:
    """One token request, as a machine: ``start()`` then ``receive(...)`` until
    ``Finished`` or ``Failed``.

    ``receive`` takes an ``HttpResponse`` after an ``HttpRequest`` and an
    ``AuthorizationRedirect`` after ``OpenAuthorizationUrl``; anything else, or any call
    after the flow ended, raises ``LocalProtocolError`` and changes nothing.
    """

    def __init__(
        self,
        source: TokenSource,
        request_token: RequestToken,
        *,
        now: float | None = None,
        redirect_uri: str | None = None,
    ) -> None:
        self._source = source
        self._request = request_token
        self._now = now
        self._redirect_uri = redirect_uri
        self.phase = Phase.START
        self._issuer: str | None = source.issuer
        self._resource = request_token.resource
        self._prm: ProtectedResourceMetadata | None = None
        self._server: AuthorizationServerMetadata | None = None
        self._client: RegisteredClient | None = None
        self._resource_candidates: list[tuple[str, tuple[str, ...]]] | None = None
        self._server_candidates: list[str] | None = None
        self._tried: list[str] = []
        self._token_endpoint = ""
        self._pending_url = ""
        self._pending_expected: tuple[str, ...] = ()
        self._refresh_failed = False
        #: Set when no metadata answered and the resource's origin stands in for the
        #: authorization server (MCP 2025-03-26); every later error says so.
        self._fallback: str | None = None
        self._grant_type = ""
        self._sent_scopes: frozenset[str] | None = None
        self._state = ""
        self._verifier = ""
        self._code: str | None = None
        self._id_jag: str | None = None
        self._exchange_endpoint = ""
        self._sent_dpop_nonce: str | None = None
        self._dpop_nonce_retries = 0

    def __repr__(self) -> str:
        return f"<TokenFlow {type(self._source).__name__} phase={self.phase.value}>"

    # -- the public inputs ------------------------------------------------------------

    def start(self) -> Step:
        """The first step. Raises ``LocalProtocolError`` when called twice."""
        if self.phase is not Phase.START:
            raise LocalProtocolError(f"start() called in phase {self.phase.value}")
        return self._run(self._advance)

    def receive(
        self, event: HttpResponse | AuthorizationRedirect, *, now: float | None = None
    ) -> Step:
        """Feed the answer to the last step; ``now`` (optional) updates the clock used
        for ``expires_in``. Raises ``LocalProtocolError`` for the wrong input."""
        expected = AuthorizationRedirect if self.phase is Phase.AUTHORIZATION else HttpResponse
        if self.phase in (Phase.START, Phase.DONE) or not isinstance(event, expected):
            raise LocalProtocolError(
                f"receive({type(event).__name__}) is not accepted in phase {self.phase.value}"
            )
        if now is not None:
            self._now = now
        handler = self._HANDLERS[self.phase]
        return self._run(lambda: handler(self, event))

    def _run(self, body: Callable[[], Step]) -> Step:
        try:
            step = body()
        except OAuthError as error:
            if self._fallback is not None and self._fallback not in error.what:
                error.what = f"{error.what.rstrip('.')}. {self._fallback}"
                error.args = (error._message(),)
            _log("token flow failed: %s", type(error).__name__)
            self.phase = Phase.DONE
            return Failed(error=error)
        if isinstance(step, Finished):
            self.phase = Phase.DONE
        return step

    # -- the plan ------------------------------------------------------------------

    def _advance(self) -> Step:
        source, request = self._source, self._request
        discover = source.token_endpoint is None
        if discover and self._issuer is None:
            if self._prm is None:
                return self._resource_metadata_request()
            self._issuer = self._prm.authorization_servers[0]
            self._resource = self._prm.resource
        if discover and self._server is None:
            assert self._issuer is not None
            self._server = source._servers.get(self._issuer)
            if self._server is None or not self._fresh(self._server.expires_at):
                self._server = None
                return self._server_metadata_request()
        if self._client is None:
            registration = self._choose_client()
            if registration is not None:
                return registration
        current = request.current_token
        if (
            request.can_refresh
            and current is not None
            and current.refresh_token
            and not self._refresh_failed
            and self._may_refresh_here(current.refresh_token)
        ):
            return self._refresh_request(current.refresh_token)
        if isinstance(source, ClientCredentials):
            return self._client_credentials_request()
        if isinstance(source, JwtBearer):
            return self._jwt_bearer_request(_current(source.assertion))
        if isinstance(source, CrossAppAccess):
            if self._id_jag is None:
                return self._token_exchange_request(source)
            return self._jwt_bearer_request(self._id_jag)
        if self._code is None:
            return self._authorization_step()
        return self._code_request(self._code)

    def _authorization_server(self) -> str:
        """Who this flow's token requests go to: the configured token endpoint, else
        the issuer (configured or discovered)."""
        endpoint = self._source.token_endpoint
        if endpoint is not None:
            return endpoint
        assert self._issuer is not None
        return self._issuer

    def _may_refresh_here(self, refresh_token: str) -> bool:
        # RFC 6749 §6 and §10.4: a refresh token is bound to the client and to the
        # authorization server that issued it; sent anywhere else it is a leaked
        # credential. A resource whose metadata now names another authorization server
        # (RFC 9728 §5.2) gets a new grant there instead. A refresh token of unknown
        # origin is used only when the authorization server is configured, not discovered.
        issuer = self._source._refresh_token_issuer(refresh_token)
        if issuer is None:
            configured = self._source.token_endpoint or self._source.issuer
            allowed = configured is not None
        else:
            allowed = issuer == self._authorization_server()
        if not allowed:
            _log("refresh token not from %s; starting a new grant", self._authorization_server())
        return allowed

    # -- discovery ---------------------------------------------------------------------

    def _resource_metadata_request(self) -> Step:
        request, source = self._request, self._source
        strict = source.strict_resource
        if self._resource_candidates is None:
            cached = source._metadata_for(request.resource, strict=strict)
            # RFC 9728 §5.2: a challenge naming other metadata means it changed: refetch.
            # SEP-2352: so does a 401 for a token this source obtained; the resource may
            # have moved to another authorization server, at the same metadata URL.
            # Past its lifetime (Cache-Control max-age, else an hour) it is fetched again.
            if (
                cached is not None
                and self._fresh(cached.expires_at)
                and request.resource_metadata in (None, cached.url)
                and not self._token_rejected()
            ):
                self._prm = cached
                return self._advance()
            # An origin known to publish no metadata: straight to its own server, unless
            # the challenge now names metadata or the token was rejected.
            known = origin(request.resource).serialized
            if (
                known in source._origin_servers
                and self._fresh(source._origin_servers[known])
                and request.resource_metadata is None
                and not self._token_rejected()
            ):
                return self._fall_back_to_origin(known)
            candidates = self._resource_candidates = []
            if request.resource_metadata is not None:
                problem = check_url(request.resource_metadata, "resource_metadata URL")
                if problem:
                    raise problem
                # RFC 9728 §3.3: from the header, `resource` must be the URL we called.
                candidates.append((request.resource_metadata, (request.resource,)))
            problem = check_url(request.resource, "protected resource URL")
            if problem:
                raise problem
            candidates += protected_resource_metadata_urls(request.resource)
        if not self._resource_candidates:
            # None answered with a document (a document that is refused ends the flow).
            tried, known = "; ".join(self._tried), origin(request.resource).serialized
            now = self._now
            until = None if now is None else now + DEFAULT_METADATA_LIFETIME
            self._source._origin_servers[known] = until
            return self._fall_back_to_origin(known, tried)
        self._pending_url, self._pending_expected = self._resource_candidates.pop(0)
        return self._get(Phase.RESOURCE_METADATA, self._pending_url)

    def _fresh(self, expires_at: float | None) -> bool:
        """Is a discovery result within its lifetime (always, without a clock)?"""
        return expires_at is None or self._now is None or self._now < expires_at

    def _token_rejected(self) -> bool:
        """A 401 for the token held (RFC 6750 §3.1 invalid_token): discovery starts over."""
        request = self._request
        return request.reason is Reason.INVALID_TOKEN and request.current_token is not None

    def _fall_back_to_origin(self, issuer: str, tried: str = "") -> Step:
        # MCP 2025-03-26 (before RFC 9728 was adopted): the MCP server's origin is the
        # authorization base URL: RFC 8414 metadata there, else /authorize, /token and
        # /register. Nothing was refused on the way: a document naming another origin
        # stops the flow instead (RFC 9728 §7.3).
        request = self._request
        self._issuer = issuer
        tried = f" ({tried})" if tried else ""
        self._fallback = (
            f"{request.resource} publishes no protected resource metadata{tried}, so its "
            f"origin {issuer} was used as the authorization server (MCP 2025-03-26)"
        )
        _log("no protected resource metadata for %s; using its origin %s as the "
             "authorization server (MCP 2025-03-26)", request.resource, issuer)  # fmt: skip
        self._tried = []
        return self._advance()

    def _resource_metadata_received(self, response: HttpResponse) -> Step:
        url = self._pending_url
        if response.status_code != 200:
            self._tried.append(f"{url} answered HTTP {response.status_code}")
            return self._resource_metadata_request()
        strict = self._source.strict_resource
        try:
            self._prm = ProtectedResourceMetadata.from_response(
                response,
                url,
                self._pending_expected,
                covering=None if strict else self._request.resource,
                now=self._now,
            )
        except InvalidResponseError as error:
            self._tried.append(f"{url}: {error.what}")
            return self._resource_metadata_request()
        self._source._resources[self._prm.resource] = self._prm
        return self._advance()

    def _server_metadata_request(self) -> Step:
        issuer = self._issuer
        assert issuer is not None
        if self._server_candidates is None:
            problem = check_url(issuer, "issuer")
            if problem:
                raise problem
            self._server_candidates = authorization_server_metadata_urls(issuer)
            self._tried = []
        if not self._server_candidates:
            if self._fallback is not None:
                return self._default_endpoints(issuer)
            raise MetadataError(
                f"No authorization server metadata found for issuer {issuer}: "
                + "; ".join(self._tried),
                advice="The issuer must publish RFC 8414 or OpenID Connect Discovery metadata.",
            )
        self._pending_url = self._server_candidates.pop(0)
        return self._get(Phase.SERVER_METADATA, self._pending_url)

    def _server_metadata_received(self, response: HttpResponse) -> Step:
        url, issuer = self._pending_url, self._issuer
        assert issuer is not None
        if response.status_code != 200:
            self._tried.append(f"{url} answered HTTP {response.status_code}")
            return self._server_metadata_request()
        try:
            self._server = AuthorizationServerMetadata.from_response(
                response, url, issuer, now=self._now
            )
        except InvalidResponseError as error:
            self._tried.append(f"{url}: {error.what}")
            return self._server_metadata_request()
        self._source._servers[issuer] = self._server
        return self._advance()

    def _default_endpoints(self, issuer: str) -> Step:
        # MCP 2025-03-26, "Fallbacks for Servers without Metadata Discovery": the default
        # endpoint paths at the authorization base URL, PKCE S256 as the spec requires.
        _log("no authorization server metadata at %s; using /authorize, /token, /register",
             issuer)  # fmt: skip
        self._server = AuthorizationServerMetadata(
            issuer=issuer,
            authorization_endpoint=issuer + "/authorize",
            token_endpoint=issuer + "/token",
            registration_endpoint=issuer + "/register",
            code_challenge_methods_supported=("S256",),
            fetched_at=self._now,
            expires_at=None if self._now is None else self._now + DEFAULT_METADATA_LIFETIME,
        )
        self._fallback = (
            f"{self._fallback}; it publishes no metadata either: its default endpoints were used"
        )
        self._source._servers[issuer] = self._server
        return self._advance()

    def _get(self, phase: Phase, url: str) -> HttpRequest:
        _log("fetching %s metadata from %s", phase.value, url)
        self.phase = phase
        return HttpRequest(method="GET", url=url, headers=(("Accept", "application/json"),))

    # -- the client --------------------------------------------------------------------

    def _choose_client(self) -> Step | None:
        source = self._source
        if source.client_id is not None and self._configured_client_fits():
            self._client = RegisteredClient(
                client_id=source.client_id, client_secret=source.client_secret
            )
            return None
        assert isinstance(source, AuthorizationCode) and self._server is not None
        assert self._issuer is not None
        self._client = source.client_store.get(self._issuer)
        if self._client is not None:
            return None
        server = self._server
        if server.client_id_metadata_document_supported and source.client_metadata_url:
            # MCP client registration: the HTTPS URL of the client's metadata document
            # is the client_id; the server fetches it. A public client (no secret).
            self._client = RegisteredClient(client_id=source.client_metadata_url)
            return None
        if server.registration_endpoint is None:
            raise RegistrationError(
                f"No client_id was given and the authorization server {self._issuer} offers "
                f"neither Client ID Metadata Documents (with client_metadata_url set) nor "
                f"dynamic client registration"
            )
        assert self._redirect_uri is not None
        _log("registering a client at %s", server.registration_endpoint)
        self.phase = Phase.REGISTRATION
        return registration_request(
            server.registration_endpoint,
            redirect_uri=self._redirect_uri,
            client_name=source.client_name,
        )

    def _configured_client_fits(self) -> bool:
        """May the configured client_id (and secret) go to this flow's authorization server?

        Configured with the server (``issuer``, ``token_endpoint``): yes. Discovered: only
        the first server it was used at. A resource that moves to another one (its
        metadata names a new ``authorization_servers``, SEP-2352) must not hand that
        server the old one's credentials (RFC 6749 §10.1): an ``AuthorizationCode``
        source registers there instead; a ``ClientCredentials`` one cannot, and fails.
        """
        source = self._source
        if source.issuer is not None or source.token_endpoint is not None:
            return True
        here = self._authorization_server()
        if source._client_issuer in (None, here):
            source._client_issuer = here
            return True
        _log("client_id configured for %s; registering at %s", source._client_issuer, here)
        if isinstance(source, AuthorizationCode):
            return False
        raise RegistrationError(
            f"The resource's metadata now names the authorization server {here}, but this "
            f"ClientCredentials client_id was used at {source._client_issuer}; its "
            f"credentials are not sent to another server (SEP-2352)",
            advice=f"Configure a ClientCredentials source with issuer={here!r} and a client "
            "registered there, if that server is to be trusted.",
        )

    def _registration_received(self, response: HttpResponse) -> Step:
        assert isinstance(self._source, AuthorizationCode) and self._server is not None
        assert self._server.registration_endpoint is not None and self._issuer is not None
        self._client = registration_response(response, self._server.registration_endpoint)
        self._source.client_store.set(self._issuer, self._client)
        return self._advance()

    # -- grants ------------------------------------------------------------------------

    def _scopes(self) -> frozenset[str]:
        """MCP scope selection: what the core asks for; when the challenge named no
        scope, add the resource metadata's ``scopes_supported``; empty means omit."""
        request = self._request
        scopes = set(request.scopes)
        challenged = request.challenge.scope if request.challenge is not None else None
        if challenged is None and self._prm is not None and self._prm.scopes_supported:
            scopes |= self._prm.scopes_supported
        return frozenset(scopes)

    def _token_endpoint_request(
        self, grant_type: str, form: list[tuple[str, str]], scopes: frozenset[str]
    ) -> HttpRequest:
        endpoint = self._source.token_endpoint
        if endpoint is None:
            assert self._server is not None
            endpoint = self._server.token_endpoint
        assert self._client is not None
        problem = check_url(endpoint, "token endpoint")
        if problem:
            raise problem
        # RFC 8707 §2.2: the resource, in every token request, whatever the grant.
        form = [("grant_type", grant_type), *form, ("resource", self._resource)]
        # RFC 6749 §4.1.3: the code exchange has no scope; the authorization request set it.
        if scopes and grant_type != "authorization_code":
            form.append(("scope", format_scope(scopes)))
        source = self._source
        method = choose_auth_method(
            source.auth_method,
            self._client,
            self._server,
            private_key=source._client_key is not None,
        )
        self._check_jws_algorithms(method)
        assertion = None
        if method == "private_key_jwt":
            assert source._client_key is not None
            # RFC 7523 §3: aud identifies the authorization server: its issuer
            # identifier (RFC 7523bis), else the token endpoint URL that is all we know.
            audience = self._issuer or endpoint
            assertion = client_assertion(
                self._client.client_id, audience, source._client_key, now=self._clock()
            )
        proof = None
        if source._dpop_key is not None:
            # RFC 9449 §5: a proof for this POST; §8: the nonce this server gave last.
            self._sent_dpop_nonce = source._dpop_nonces.get(endpoint)
            proof = dpop_proof(
                source._dpop_key,
                method="POST",
                url=endpoint,
                now=self._clock(),
                nonce=self._sent_dpop_nonce,
            )
        _log("token request grant_type=%s auth=%s to %s", grant_type, method, endpoint)
        self.phase = Phase.TOKEN
        self._token_endpoint = endpoint
        self._grant_type = grant_type
        self._sent_scopes = scopes or None
        return token_request(
            endpoint, form, self._client, method, client_assertion=assertion, dpop_proof=proof
        )

    def _check_jws_algorithms(self, auth_method: str) -> None:
        """Before any token request: a resource that requires DPoP gets it, and the keys
        this client signs with fit what the authorization server says it takes."""
        source, server, prm = self._source, self._server, self._prm
        if prm is not None and prm.dpop_bound_access_tokens_required and not source._dpop_key:
            raise MetadataError(
                f"The protected resource {prm.resource} requires DPoP-bound tokens "
                f"(dpop_bound_access_tokens_required, RFC 9728 §2), and this token source "
                f"does not use DPoP",
                advice="Set dpop=True (or dpop=SigningKey...) on the token source.",
            )
        if server is None:
            return
        checks = (
            (
                source._client_key if auth_method == "private_key_jwt" else None,
                server.token_endpoint_auth_signing_alg_values_supported,
                "token_endpoint_auth_signing_alg_values_supported",
                "the client's private_key",
            ),
            (
                source._dpop_key,
                server.dpop_signing_alg_values_supported,
                "dpop_signing_alg_values_supported",
                "the DPoP key",
            ),
        )
        for key, listed, member, whose in checks:
            if key is not None and listed is not None and key.alg not in listed:
                raise MetadataError(
                    f"The authorization server {server.issuer} lists {list(listed)} in "
                    f"{member}; {whose} signs with {key.alg}",
                    advice="Use a key for one of the algorithms the server lists, or allow "
                    "this one at the server.",
                )

    def _clock(self) -> float:
        if self._now is None:
            raise LocalProtocolError(
                "signing a JWT (client assertion, DPoP proof) needs the current time: "
                "pass now= to source.flow() and flow.receive()"
            )
        return self._now

    def _refresh_request(self, refresh_token: str) -> HttpRequest:
        # RFC 6749 §6: only scopes already granted; the core set can_refresh so.
        return self._token_endpoint_request(
            "refresh_token", [("refresh_token", refresh_token)], self._request.scopes
        )

    def _client_credentials_request(self) -> HttpRequest:
        return self._token_endpoint_request("client_credentials", [], self._scopes())

    def _code_request(self, code: str) -> HttpRequest:
        assert self._redirect_uri is not None
        form = [
            ("code", code),
            ("redirect_uri", self._redirect_uri),
            ("code_verifier", self._verifier),
        ]
        return self._token_endpoint_request("authorization_code", form, self._scopes())

    def _token_received(self, response: HttpResponse) -> Step:
        refreshing = self._grant_type == "refresh_token"
        try:
            token = parse_token_response(
                response,
                self._token_endpoint,
                grant_type=self._grant_type,
                requested=self._sent_scopes,
                now=self._now,
                previous=self._request.current_token if refreshing else None,
            )
        except TokenEndpointError as error:
            if self._take_dpop_nonce(error):
                return self._advance()  # the same request again, with the nonce
            if refreshing and error.error == "invalid_grant":
                # The refresh token expired or was revoked: a new grant can still serve.
                _log("refresh token refused (invalid_grant); starting a new grant")
                self._refresh_failed = True
                return self._advance()
            if self._grant_type == JWT_BEARER_GRANT and error.error == "invalid_grant":
                raise _as(
                    AssertionRejectedError,
                    error,
                    "The authorization server refused the "
                    + ("ID-JAG" if isinstance(self._source, CrossAppAccess) else "assertion")
                    + " of the jwt-bearer grant (RFC 7523 §3.1)",
                ) from None
            raise
        nonce = response.header("dpop-nonce")
        if nonce is not None and self._source._dpop_key is not None:
            self._source._remember_dpop_nonce(self._token_endpoint, nonce)  # RFC 9449 §8.2
        token = self._bind_dpop_key(token)
        if self._prm is not None:
            # Rule 11: the token is for the protected resource the metadata named; the
            # core sends it only to URLs that resource covers.
            token = attrs.evolve(token, resource=self._prm.resource)
        if token.refresh_token:
            self._source._remember_refresh_token(token.refresh_token, self._authorization_server())
        _log("token issued, type=%s", token.token_type)
        return Finished(token=token)

    def _take_dpop_nonce(self, error: TokenEndpointError) -> bool:
        """RFC 9449 §8: ``use_dpop_nonce`` with a nonce this request did not carry means
        send it again with that nonce; the same nonce again, or too many, is final."""
        nonce = error.dpop_nonce
        if (
            self._source._dpop_key is None
            or error.error != "use_dpop_nonce"
            or nonce is None
            or nonce == self._sent_dpop_nonce
            or self._dpop_nonce_retries >= MAX_DPOP_NONCE_RETRIES
        ):
            return False
        self._dpop_nonce_retries += 1
        self._source._remember_dpop_nonce(self._token_endpoint, nonce)
        _log("token endpoint asked for a DPoP nonce; sending the request again")
        return True

    def _bind_dpop_key(self, token: Token) -> Token:
        """A DPoP token carries the key its proofs are signed with (RFC 9449 §6); a
        Bearer token from a server that ignored the proof is used as Bearer (§5)."""
        if token.token_type != "DPoP":
            return token
        key = self._source._dpop_key
        if key is None:
            raise InvalidResponseError(
                "The token endpoint issued a DPoP-bound token, but this client sent no DPoP "
                "proof: it cannot use the token",
                url=self._token_endpoint,
                advice="Set dpop=True on the token source, or have the authorization "
                "server issue Bearer tokens to this client.",
            )
        return attrs.evolve(token, dpop_key=key)

    # -- JWT grants: jwt-bearer (RFC 7523) and cross-app access (SEP-990) --------------

    def _jwt_bearer_request(self, assertion: str) -> HttpRequest:
        # RFC 7523 §2.1: grant_type and assertion; scope and resource as for any grant.
        return self._token_endpoint_request(
            JWT_BEARER_GRANT, [("assertion", assertion)], self._scopes()
        )

    def _token_exchange_request(self, source: CrossAppAccess) -> HttpRequest:
        now = self._clock()
        id_token = _current(source.id_token)
        expiry = id_token_expiry(id_token)
        if expiry is not None and now >= expiry:
            raise SignInRequiredError(
                f"The user's ID token expired {int(now - expiry)} s ago; cross-app access "
                f"cannot exchange it at the identity provider"
            )
        endpoint = source.idp_token_endpoint
        problem = check_url(endpoint, "identity provider token endpoint")
        if problem:
            raise problem
        assert self._issuer is not None
        # RFC 8693 §2.1 with SEP-990's profile: an ID-JAG for this authorization server
        # (audience = its issuer) and this resource, with the scopes the core asks for.
        form = [
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("requested_token_type", ID_JAG_TYPE),
            ("audience", self._issuer),
            ("resource", self._resource),
            ("subject_token", id_token),
            ("subject_token_type", ID_TOKEN_TYPE),
        ]
        scopes = self._scopes()
        if scopes:
            form.append(("scope", format_scope(scopes)))
        client = RegisteredClient(
            client_id=source.idp_client_id, client_secret=source.idp_client_secret
        )
        _log("token exchange for an ID-JAG at %s", endpoint)
        self.phase = Phase.TOKEN_EXCHANGE
        self._exchange_endpoint = endpoint
        return token_request(endpoint, form, client, choose_auth_method(None, client, None))

    def _exchange_received(self, response: HttpResponse) -> Step:
        try:
            self._id_jag = parse_id_jag_response(response, self._exchange_endpoint)
        except TokenEndpointError as error:
            if error.error == "invalid_grant":
                raise _as(
                    SignInRequiredError,
                    error,
                    "The identity provider refused the user's ID token in the token exchange",
                ) from None
            raise
        return self._advance()

    # -- authorization code + PKCE -----------------------------------------------------

    def _authorization_step(self) -> OpenAuthorizationUrl:
        server, client, request = self._server, self._client, self._request
        assert server is not None and client is not None and self._redirect_uri is not None
        methods = server.code_challenge_methods_supported
        if methods is None or "S256" not in methods:
            # MCP: "If code_challenge_methods_supported is absent, the client MUST refuse
            # to proceed"; RFC 7636 §4.2: S256 is the method a capable client must use.
            listed = "it is absent" if methods is None else "it lists " + " ".join(methods)
            raise MetadataError(
                f"The authorization server {server.issuer} does not list S256 in "
                f"code_challenge_methods_supported ({listed}); refusing to start an "
                f"authorization without PKCE S256",
                advice="Enable PKCE with S256 at the authorization server.",
            )
        if server.authorization_endpoint is None:
            raise MetadataError(
                f"The authorization server {server.issuer} has no authorization_endpoint"
            )
        self._state = secrets.token_urlsafe(32)
        self._verifier = secrets.token_urlsafe(64)  # RFC 7636 §4.1: 43-128 characters
        params = [
            ("response_type", "code"),
            ("client_id", client.client_id),
            ("redirect_uri", self._redirect_uri),
            ("state", self._state),
            ("code_challenge", _pkce_challenge(self._verifier)),
            ("code_challenge_method", "S256"),
            ("resource", self._resource),  # RFC 8707 §2.1
        ]
        scopes = self._scopes()
        if scopes:
            params.append(("scope", format_scope(scopes)))
        if "offline_access" in scopes:
            # OpenID Connect Core §11: offline_access is ignored unless prompt has consent.
            params.append(("prompt", "consent"))
        # RFC 9470 §4: the challenge's acr_values and max_age go to the new authorization.
        if request.acr_values:
            params.append(("acr_values", " ".join(request.acr_values)))
        if request.max_age is not None:
            params.append(("max_age", str(request.max_age)))
        endpoint = server.authorization_endpoint
        url = endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)
        _log("authorization needed at %s", endpoint)
        self.phase = Phase.AUTHORIZATION
        return OpenAuthorizationUrl(url=url, redirect_uri=self._redirect_uri)

    def _redirect_received(self, redirect: AuthorizationRedirect) -> Step:
        server = self._server
        assert server is not None and self._redirect_uri is not None
        got, want = urlsplit(redirect.url), urlsplit(self._redirect_uri)
        if (got.scheme, got.netloc, got.path) != (want.scheme, want.netloc, want.path):
            raise AuthorizationError(
                f"The browser ended at a URL that is not the redirect_uri {self._redirect_uri}"
            )
        params = dict(parse_qsl(got.query))
        if params.get("state") != self._state:
            # RFC 6749 §10.12: a response without our state may be forged (CSRF).
            raise AuthorizationError(
                "The authorization response's state does not match the request's "
                "(possible cross-site request forgery); its code was not used"
            )
        issuer = params.get("iss")
        if (issuer is not None or server.authorization_response_iss_parameter_supported) and (
            issuer != server.issuer
        ):
            # RFC 9207 §2.4: a different or missing iss means a mix-up: MUST reject.
            raise AuthorizationError(
                f"The authorization response came from issuer {issuer!r}, not "
                f"{server.issuer!r} (RFC 9207 mix-up defence); its code was not used"
            )
        if "error" in params:
            raise AuthorizationError(
                "The authorization server refused the authorization request",
                error=params["error"],
                error_description=params.get("error_description"),
                error_uri=params.get("error_uri"),
            )
        code = params.get("code")
        if not code:
            raise AuthorizationError("The authorization response carries no code")
        self._code = code
        return self._advance()

    _HANDLERS: ClassVar[dict[Phase, Callable[[TokenFlow, Any], Step]]] = {
        Phase.RESOURCE_METADATA: _resource_metadata_received,
        Phase.SERVER_METADATA: _server_metadata_received,
        Phase.REGISTRATION: _registration_received,
        Phase.AUTHORIZATION: _redirect_received,
        Phase.TOKEN_EXCHANGE: _exchange_received,
        Phase.TOKEN: _token_received,
    }


def _current(value: str | Callable[[], str]) -> str:
    """A configured credential, or the current one from its callable."""
    return value() if callable(value) else value


def _as(kind: type[OAuthError], error: TokenEndpointError, what: str) -> OAuthError:
    """``error`` as the more precise ``kind``, quoting the same server answer."""
    return kind(
        what,
        error=error.error,
        error_description=error.error_description,
        error_uri=error.error_uri,
        status_code=error.status_code,
        url=error.url,
    )
