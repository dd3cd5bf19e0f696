"""The OAuth flows end to end over real HTTP against oidc-provider 9 (a certified OpenID
provider) on 127.0.0.1: discovery, client_credentials, invalid_scope, invalid_client,
authorization code + PKCE S256 with a headless browser, RFC 9207 iss, refresh, RFC 8707
audience. ``send`` is a few lines of ``requests``; fixtures are in conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from interop_peers import AuthorizationServer, HeadlessBrowser, ResourceServer

from _upscope_io import drive_sync
from sansio_upscope import (
    BearerChallenge,
    Reason,
    RequestToken,
    Token,
    parse_www_authenticate,
)
from sansio_upscope.oauth import (
    AuthorizationCode,
    ClientCredentials,
    HttpRequest,
    HttpResponse,
    MetadataError,
    TokenEndpointError,
)

pytestmark = pytest.mark.interop

RESOURCE_PATH = "/api/notes"


def recording_send(
    session: requests.Session,
) -> tuple[Callable[[HttpRequest], HttpResponse], list[HttpRequest]]:
    sent: list[HttpRequest] = []

    def send(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        response = session.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            data=request.body,
            allow_redirects=False,
            timeout=10,
        )
        return HttpResponse(
            status_code=response.status_code,
            headers=tuple(response.headers.items()),
            body=response.content,
        )

    return send, sent


@pytest.fixture
def http() -> Any:
    with requests.Session() as session:
        yield recording_send(session)


def introspect(server: AuthorizationServer, token: Token) -> dict[str, Any]:
    answer = requests.post(
        server.introspection_endpoint,
        data={"token": token.access_token},
        auth=(server.introspection_client_id, server.introspection_client_secret),
        timeout=10,
    )
    answer.raise_for_status()
    document = answer.json()
    assert isinstance(document, dict)
    return document


def ask(resource: str, scopes: set[str], **kwargs: Any) -> RequestToken:
    kwargs.setdefault("reason", Reason.INSUFFICIENT_SCOPE)
    return RequestToken(scopes=frozenset(scopes), resource=resource, **kwargs)


def resource_url(server: AuthorizationServer, path: str = RESOURCE_PATH) -> str:
    # Any http://127.0.0.1:* URL is a resource this provider accepts (conftest.py).
    return "http://127.0.0.1:1" + path


def test_client_credentials_with_openid_discovery(
    oidc_provider: AuthorizationServer, http: Any
) -> None:
    send, sent = http
    source = ClientCredentials(
        oidc_provider.service_client_id,
        oidc_provider.service_client_secret,
        issuer=oidc_provider.issuer,
    )
    resource = resource_url(oidc_provider)
    token = drive_sync(source, ask(resource, {"read", "write"}), send=send, now=1000.0)
    # RFC 8414 well-known first (oidc-provider serves it as well as OpenID Discovery).
    assert [r.url for r in sent] == [
        oidc_provider.issuer + "/.well-known/oauth-authorization-server",
        oidc_provider.token_endpoint,
    ]
    assert token.token_type == "Bearer"
    assert token.scopes == frozenset({"read", "write"})
    assert token.expires_at is not None and 1000.0 < token.expires_at <= 4600.0
    info = introspect(oidc_provider, token)
    assert info["active"] is True and info["aud"] == resource  # RFC 8707 audience
    assert set(info["scope"].split()) == {"read", "write"}
    # Metadata is cached: a second token request goes straight to the token endpoint.
    drive_sync(source, ask(resource, {"read"}), send=send)
    assert sent[2].url == oidc_provider.token_endpoint and len(sent) == 3


def test_client_credentials_refused_scope_is_a_typed_error(
    oidc_provider: AuthorizationServer, http: Any
) -> None:
    send, _ = http
    source = ClientCredentials(
        oidc_provider.service_client_id,
        oidc_provider.service_client_secret,
        token_endpoint=oidc_provider.token_endpoint,
    )
    with pytest.raises(TokenEndpointError) as caught:
        drive_sync(source, ask(resource_url(oidc_provider), {"forbidden"}), send=send)
    assert caught.value.error == "invalid_scope" and caught.value.status_code == 400
    assert oidc_provider.service_client_secret not in str(caught.value)


def test_wrong_client_secret_is_invalid_client(
    oidc_provider: AuthorizationServer, http: Any
) -> None:
    send, _ = http
    source = ClientCredentials(
        oidc_provider.service_client_id, "wrong-secret", token_endpoint=oidc_provider.token_endpoint
    )
    with pytest.raises(TokenEndpointError) as caught:
        drive_sync(source, ask(resource_url(oidc_provider), {"read"}), send=send)
    assert caught.value.error == "invalid_client" and "wrong-secret" not in str(caught.value)


def test_discovery_from_a_real_challenge(
    oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer, http: Any
) -> None:
    send, sent = http
    url = mcp_ts_server.url + RESOURCE_PATH
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 401
    challenge = BearerChallenge.from_challenge(
        parse_www_authenticate(answer.headers["WWW-Authenticate"])[0]
    )
    source = ClientCredentials(oidc_provider.service_client_id, oidc_provider.service_client_secret)
    token = drive_sync(
        source,
        ask(url, {"read"}, resource_metadata=challenge.resource_metadata, challenge=challenge),
        send=send,
    )
    assert sent[0].url == challenge.resource_metadata
    assert introspect(oidc_provider, token)["aud"] == url
    listed = requests.get(url, headers={"Authorization": token.authorization}, timeout=10)
    assert listed.status_code == 200


def test_resource_metadata_for_another_resource_is_refused(
    oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer, http: Any
) -> None:
    send, sent = http
    source = ClientCredentials(oidc_provider.service_client_id, oidc_provider.service_client_secret)
    # The metadata of /mcp, offered for a request to /api/notes: RFC 9728 §3.3 mismatch.
    request = ask(
        mcp_ts_server.url + RESOURCE_PATH,
        {"read"},
        resource_metadata=mcp_ts_server.resource_metadata_url("/mcp"),
    )
    before = oidc_provider.token_requests()
    with pytest.raises(MetadataError, match="RFC 9728"):
        drive_sync(source, request, send=send)
    assert len(sent) == 1 and oidc_provider.token_requests() == before


def test_authorization_code_with_pkce_then_refresh(
    oidc_provider: AuthorizationServer, headless_authorize: HeadlessBrowser, http: Any
) -> None:
    send, sent = http
    source = AuthorizationCode(
        oidc_provider.native_client_id,
        oidc_provider.native_redirect_uri,
        issuer=oidc_provider.issuer,
        authorize=headless_authorize,
    )
    resource = resource_url(oidc_provider)
    token = drive_sync(
        source, ask(resource, {"openid", "read", "offline_access"}), send=send, now=0.0
    )
    authorization_url = headless_authorize.visited[0]
    assert "code_challenge_method=S256" in authorization_url
    assert "resource=" in authorization_url
    info = introspect(oidc_provider, token)
    assert info["aud"] == resource and "read" in info["scope"].split()
    assert token.refresh_token is not None, "offline_access should yield a refresh token"

    # Step-up within the grant's reach is not a refresh: the core decides can_refresh.
    refreshed = drive_sync(
        source,
        ask(resource, {"read"}, can_refresh=True, current_token=token, reason=Reason.EXPIRED),
        send=send,
    )
    assert [r.url for r in sent[-1:]] == [oidc_provider.token_endpoint]
    assert refreshed.access_token != token.access_token
    assert introspect(oidc_provider, refreshed)["active"] is True

    # Step-up to a wider scope: a new authorization (the browser is visited again).
    wider = drive_sync(source, ask(resource, {"read", "write"}), send=send)
    assert len(headless_authorize.visited) == 2
    assert set(introspect(oidc_provider, wider)["scope"].split()) >= {"read", "write"}
