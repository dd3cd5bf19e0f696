"""The token endpoint: client authentication, the request form, the response (RFC 6749
§2.3, §3.2, §5)."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from .._abnf import TOKEN68
from .._dpop import DPOP_HEADER
from .._scopes import format_scope, parse_scope
from .._token import Token
from ._clients import RegisteredClient
from ._errors import InvalidResponseError, MetadataError, TokenEndpointError
from ._messages import HttpRequest, HttpResponse
from ._metadata import AuthorizationServerMetadata, json_object

__all__ = [
    "AUTH_METHODS",
    "CLIENT_ASSERTION_TYPE",
    "choose_auth_method",
    "parse_token_response",
    "token_request",
]

#: Client authentication methods without a key, in the order a client with a secret
#: prefers them (RFC 7591 §2 names).
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
#: Every client authentication method we implement (``private_key_jwt``: OpenID Connect
#: Core §9, RFC 7523 §2.2; it needs a private key).
AUTH_METHODS = (*SECRET_AUTH_METHODS, "private_key_jwt")

#: RFC 7523 §2.2: ``client_assertion_type`` for a JWT client assertion.
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def choose_auth_method(
    explicit: str | None,
    client: RegisteredClient,
    server: AuthorizationServerMetadata | None,
    *,
    private_key: bool = False,
) -> str:
    """How to authenticate at the token endpoint (RFC 6749 §2.3).

    The explicit choice wins, then what registration agreed (RFC 7591 §2): a client that
    registered as public (``none``) stays public even when the server also handed it a
    secret. A client without a secret is public: ``none``, whatever the server lists
    (it has nothing else to offer, and servers such as Keycloak accept public clients
    without listing ``none``). A client with a secret takes the first of
    ``client_secret_basic``, ``client_secret_post``, ``none`` that the server lists in
    ``token_endpoint_auth_methods_supported`` (absent: ``client_secret_basic``,
    RFC 8414 §2).
    A client with a ``private_key`` uses ``private_key_jwt`` (RFC 7523 §2.2) unless the
    server lists methods without it; then its secret, if it has one.
    Raises ``MetadataError``, naming both lists, when nothing fits.
    """
    if explicit is not None:
        return explicit
    if client.token_endpoint_auth_method in AUTH_METHODS:
        return client.token_endpoint_auth_method
    if private_key:
        listed = server.token_endpoint_auth_methods_supported if server is not None else None
        if listed is None or "private_key_jwt" in listed:
            return "private_key_jwt"
        if client.client_secret is None:
            raise MetadataError(
                f"The authorization server does not list private_key_jwt among its "
                f"client authentication methods ({list(listed)}), and this client has "
                f"only a private key",
                advice="Enable private_key_jwt for this client at the authorization "
                "server, or configure a client secret.",
            )
    if client.client_secret is None:
        return "none"
    listed = server.token_endpoint_auth_methods_supported if server is not None else None
    supported = listed if listed is not None else ("client_secret_basic",)
    for method in SECRET_AUTH_METHODS:
        if method in supported:
            return method
    raise MetadataError(
        f"No client authentication method fits: the authorization server lists "
        f"{list(supported)} in token_endpoint_auth_methods_supported, this client can "
        f"use {list(SECRET_AUTH_METHODS)}",
        advice=(
            "Configure a client the server accepts: a client_secret for client_secret_basic "
            "or client_secret_post, or a public client (none) where the server allows one."
        ),
    )


def token_request(
    endpoint: str,
    form: list[tuple[str, str]],
    client: RegisteredClient,
    auth_method: str,
    *,
    client_assertion: str | None = None,
    dpop_proof: str | None = None,
) -> HttpRequest:
    """A POST to the token endpoint with the client authenticated by ``auth_method``
    (``private_key_jwt`` sends ``client_assertion``) and, when given, a DPoP proof
    (RFC 9449 §5)."""
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ]
    if dpop_proof is not None:
        headers.append((DPOP_HEADER, dpop_proof))
    secret = client.client_secret or ""
    if auth_method == "client_secret_basic":
        # RFC 6749 §2.3.1: id and secret are form-encoded (Appendix B) before Basic.
        pair = f"{quote(client.client_id, safe='')}:{quote(secret, safe='')}"
        headers.append(("Authorization", "Basic " + base64.b64encode(pair.encode()).decode()))
    elif auth_method == "client_secret_post":
        form = [*form, ("client_id", client.client_id), ("client_secret", secret)]
    elif auth_method == "private_key_jwt":
        # RFC 7523 §2.2; client_id too, which the assertion's sub repeats (RFC 6749 §3.2.1).
        assert client_assertion is not None
        form = [
            *form,
            ("client_id", client.client_id),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", client_assertion),
        ]
    else:
        # RFC 6749 §3.2.1: a public client identifies itself with client_id.
        form = [*form, ("client_id", client.client_id)]
    return HttpRequest(
        method="POST", url=endpoint, headers=tuple(headers), body=urlencode(form).encode()
    )


def _expires_in(value: object, url: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # some servers send a string; the RFC's example is a number
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise InvalidResponseError(
        f"The token response has an invalid expires_in ({type(value).__name__})", url=url
    )


def parse_token_response(
    response: HttpResponse,
    url: str,
    *,
    grant_type: str,
    requested: frozenset[str] | None,
    now: float | None,
    previous: Token | None = None,
) -> Token:
    """The token from a successful response (RFC 6749 §5.1), or raise.

    A missing ``scope`` means the requested scope (§5.1) (``requested`` is None when no
    ``scope`` was sent); a refresh (``previous`` given) that sent no scope and got none
    keeps the previous token's scope, and without a new refresh token keeps the old one
    (§6). A narrower ``scope`` is recorded as granted: the state machine decides what it
    means. Raises ``TokenEndpointError`` for a §5.2 error response and
    ``InvalidResponseError`` for anything that is not the JSON the RFC asks for.
    """
    what = f"{grant_type} token response"
    if response.status_code != 200:
        try:
            document = json_object(response, what, url)
        except InvalidResponseError as unreadable:
            if response.status_code < 500:
                raise
            raise InvalidResponseError(
                unreadable.what,
                status_code=response.status_code,
                url=url,
                advice="The authorization server failed (5xx); try again later.",
            ) from None
        error = document.get("error")
        if not isinstance(error, str):
            raise InvalidResponseError(
                f"The token endpoint answered HTTP {response.status_code} without an OAuth "
                f"error code",
                status_code=response.status_code,
                url=url,
            )
        description = document.get("error_description")
        error_uri = document.get("error_uri")
        scope_text = format_scope(requested) if requested else "(none)"
        raise TokenEndpointError(
            f"The token request (grant_type={grant_type}, scope={scope_text}) was refused",
            error=error,
            error_description=description if isinstance(description, str) else None,
            error_uri=error_uri if isinstance(error_uri, str) else None,
            status_code=response.status_code,
            url=url,
            dpop_nonce=response.header("dpop-nonce"),
        )
    document = json_object(response, what, url)
    access_token = document.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise InvalidResponseError(f"The {what} has no access_token", url=url)
    if not TOKEN68.fullmatch(access_token):
        # RFC 6750 §2.1 b64token (RFC 9449 §7.1 token68 for DPoP: the same characters):
        # anything else cannot go in an Authorization field, and a CR or LF in it would
        # split the request. The token itself is never quoted: it is a credential.
        raise InvalidResponseError(
            f"The {what} has an access_token that is not RFC 6750 §2.1 b64token syntax "
            f"({len(access_token)} characters); it cannot be sent in an Authorization field",
            url=url,
            advice="Report this to the authorization server's operator.",
        )
    token_type = document.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() not in ("bearer", "dpop"):
        # RFC 6749 §7.1: "The client MUST NOT use an access token if it does not
        # understand the token type."
        shown = token_type if isinstance(token_type, str) else None
        raise InvalidResponseError(
            f"The {what} has token_type {shown!r}; only Bearer (RFC 6750) and DPoP "
            f"(RFC 9449) tokens can be used",
            url=url,
        )
    expires_in = _expires_in(document.get("expires_in"), url)
    scope = document.get("scope")
    granted = parse_scope(scope)[0] if isinstance(scope, str) else requested
    refresh_token = document.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        refresh_token = None
    if previous is not None:
        # A refresh: the old grant's scope and refresh token stand unless replaced (§6).
        if granted is None:
            granted = previous.scopes
        refresh_token = refresh_token or previous.refresh_token
    return Token(
        access_token,
        token_type=token_type,
        scopes=granted,
        expires_at=None if expires_in is None or now is None else now + expires_in,
        refresh_token=refresh_token,
    )
