"""Token sources and the per-request flow machine. Everything that decides what the next
OAuth request is lives here.

Theory of operation: a token source (``ClientCredentials``, ``AuthorizationCode``) holds
what outlives one token request: configuration, discovered metadata, registered clients.
``source.flow(request_token, now=...)`` makes a ``TokenFlow`` for one ``RequestToken``.
The flow is a planner: after each input it records the facts it learnt, then
``_advance`` walks the fixed plan and emits the first step whose fact is still missing::

    resource metadata (RFC 9728)  ->  authorization server metadata (RFC 8414 / OIDC)
      ->  client (given, stored, CIMD, or RFC 7591 registration)
      ->  refresh (RFC 6749 §6) when the core says it can serve and the refresh token
          came from this authorization server, else the grant:
          client_credentials (§4.4) or authorization_code + PKCE S256 (§4.1, RFC 7636)
      ->  Finished(token) | Failed(error)

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

from .._actions import RequestToken
from .._errors import LocalProtocolError
from .._scopes import format_scope
from ._clients import (
    ClientStore,
    InMemoryClientStore,
    RegisteredClient,
    registration_request,
    registration_response,
)
from ._errors import (
    AuthorizationError,
    InvalidResponseError,
    MetadataError,
    OAuthError,
    RegistrationError,
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
from ._metadata import AuthorizationServerMetadata, ProtectedResourceMetadata
from ._tokens import AUTH_METHODS, choose_auth_method, parse_token_response, token_request
from ._urls import (
    authorization_server_metadata_urls,
    check_url,
    protected_resource_metadata_urls,
)

__all__ = ["AuthorizationCode", "ClientCredentials", "TokenFlow"]


def _log(message: str, *args: object) -> None:
    # Imported here: `logging` imports `threading`, and importing the core must not.
    import logging

    logging.getLogger("sansio_upscope.oauth").debug(message, *args)


def _check_auth_method(instance: Any, _attribute: object, value: str | None) -> None:
    if value is not None and value not in AUTH_METHODS:
        raise ValueError(f"auth_method must be one of {AUTH_METHODS}, not {value!r}")
    if value in ("client_secret_basic", "client_secret_post") and instance.client_secret is None:
        raise ValueError(f"auth_method={value!r} needs a client_secret")


class Phase(enum.Enum):
    """What the flow is waiting for."""

    START = "start"
    RESOURCE_METADATA = "resource_metadata"
    SERVER_METADATA = "server_metadata"
    REGISTRATION = "registration"
    AUTHORIZATION = "authorization"
    TOKEN = "token"
    DONE = "done"


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
        return TokenFlow(self, request_token, now=now, redirect_uri=redirect_uri)


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
        source: ClientCredentials | AuthorizationCode,
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
        self._grant_type = ""
        self._sent_scopes: frozenset[str] | None = None
        self._state = ""
        self._verifier = ""
        self._code: str | None = None

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
            if self._server is None:
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
        if self._resource_candidates is None:
            cached = source._resources.get(request.resource)
            # RFC 9728 §5.2: a challenge naming other metadata means it changed: refetch.
            if cached is not None and request.resource_metadata in (None, cached.url):
                self._prm = cached
                return self._advance()
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
            raise MetadataError(
                f"No protected resource metadata found for {request.resource}: "
                + "; ".join(self._tried),
                advice=(
                    "The resource must publish RFC 9728 metadata (MCP requires it), or "
                    "configure issuer=... or token_endpoint=... on the token source."
                ),
            )
        self._pending_url, self._pending_expected = self._resource_candidates.pop(0)
        return self._get(Phase.RESOURCE_METADATA, self._pending_url)

    def _resource_metadata_received(self, response: HttpResponse) -> Step:
        url = self._pending_url
        if response.status_code != 200:
            self._tried.append(f"{url} answered HTTP {response.status_code}")
            return self._resource_metadata_request()
        try:
            self._prm = ProtectedResourceMetadata.from_response(
                response, url, self._pending_expected
            )
        except InvalidResponseError as error:
            self._tried.append(f"{url}: {error.what}")
            return self._resource_metadata_request()
        self._source._resources[self._request.resource] = self._prm
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
            self._server = AuthorizationServerMetadata.from_response(response, url, issuer)
        except InvalidResponseError as error:
            self._tried.append(f"{url}: {error.what}")
            return self._server_metadata_request()
        self._source._servers[issuer] = self._server
        return self._advance()

    def _get(self, phase: Phase, url: str) -> HttpRequest:
        _log("fetching %s metadata from %s", phase.value, url)
        self.phase = phase
        return HttpRequest(method="GET", url=url, headers=(("Accept", "application/json"),))

    # -- the client --------------------------------------------------------------------

    def _choose_client(self) -> Step | None:
        source = self._source
        if source.client_id is not None:
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
        method = choose_auth_method(self._source.auth_method, self._client, self._server)
        _log("token request grant_type=%s auth=%s to %s", grant_type, method, endpoint)
        self.phase = Phase.TOKEN
        self._token_endpoint = endpoint
        self._grant_type = grant_type
        self._sent_scopes = scopes or None
        return token_request(endpoint, form, self._client, method)

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
            if refreshing and error.error == "invalid_grant":
                # The refresh token expired or was revoked: a new grant can still serve.
                _log("refresh token refused (invalid_grant); starting a new grant")
                self._refresh_failed = True
                return self._advance()
            raise
        if token.refresh_token:
            self._source._remember_refresh_token(token.refresh_token, self._authorization_server())
        _log("token issued, type=%s", token.token_type)
        return Finished(token=token)

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
        Phase.TOKEN: _token_received,
    }
