"""Shared helpers for the OAuth unit tests (golden request/response scripts), and the
tests of the message types themselves (reprs never show secrets)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest

from sansio_upscope import BearerChallenge, Reason, RequestToken, Token, parse_www_authenticate
from sansio_upscope.oauth import (
    AuthorizationRedirect,
    Failed,
    Finished,
    HttpRequest,
    HttpResponse,
    OAuthError,
    OpenAuthorizationUrl,
    Step,
    TokenFlow,
)

RS = "https://rs.example/mcp"
PRM_URL = "https://rs.example/.well-known/oauth-protected-resource/mcp"
PRM_ROOT = "https://rs.example/.well-known/oauth-protected-resource"
ISSUER = "https://as.example"
ASM_URL = "https://as.example/.well-known/oauth-authorization-server"
OIDC_URL = "https://as.example/.well-known/openid-configuration"
TOKEN_URL = "https://as.example/token"
AUTHZ_URL = "https://as.example/authorize"
REG_URL = "https://as.example/register"
REDIRECT = "http://127.0.0.1:8123/callback"


def json_response(document: Any, status: int = 200, **headers: str) -> HttpResponse:
    return HttpResponse(
        status_code=status,
        headers=(("Content-Type", "application/json"), *headers.items()),
        body=json.dumps(document).encode(),
    )


def not_found() -> HttpResponse:
    return HttpResponse(status_code=404, headers=(("Content-Type", "text/html"),), body=b"<h1>")


def prm(resource: Any = RS, **extra: Any) -> dict[str, Any]:
    return {"resource": resource, "authorization_servers": [ISSUER], **extra}


def asm(issuer: str = ISSUER, **extra: Any) -> dict[str, Any]:
    document = {
        "issuer": issuer,
        "authorization_endpoint": AUTHZ_URL,
        "token_endpoint": TOKEN_URL,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    document.update(extra)
    return {k: v for k, v in document.items() if v is not None}


def token_json(**extra: Any) -> dict[str, Any]:
    document = {"access_token": "AT-secret", "token_type": "Bearer", "expires_in": 3600}
    document.update(extra)
    return {k: v for k, v in document.items() if v is not None}


def challenge(header: str) -> BearerChallenge:
    return BearerChallenge.from_challenge(parse_www_authenticate(header)[0])


def request_token(
    scopes: Iterable[str] = ("read",),
    *,
    header: str | None = None,
    resource: str = RS,
    resource_metadata: str | None = None,
    can_refresh: bool = False,
    current_token: Token | None = None,
    reason: Reason = Reason.INSUFFICIENT_SCOPE,
    acr_values: tuple[str, ...] = (),
    max_age: int | None = None,
) -> RequestToken:
    return RequestToken(
        scopes=frozenset(scopes),
        resource=resource,
        reason=reason,
        resource_metadata=resource_metadata,
        challenge=challenge(header) if header is not None else None,
        can_refresh=can_refresh,
        current_token=current_token,
        acr_values=acr_values,
        max_age=max_age,
    )


def form(request: HttpRequest) -> dict[str, str]:
    assert request.body is not None
    fields = parse_qsl(request.body.decode(), keep_blank_values=True)
    names = [name for name, _ in fields]
    assert len(names) == len(set(names)), f"repeated form field in {names}"
    return dict(fields)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


Script = list[tuple[str, str, HttpResponse]]


def run(flow: TokenFlow, script: Script) -> tuple[Step, list[HttpRequest]]:
    """Feed the flow the scripted responses, checking each request's method and URL.
    Returns the first step that is not an HttpRequest, and every request sent."""
    sent: list[HttpRequest] = []
    step = flow.start()
    for method, url, response in script:
        assert isinstance(step, HttpRequest), f"expected {method} {url}, flow gave {step!r}"
        assert (step.method, step.url) == (method, url)
        sent.append(step)
        step = flow.receive(response)
    return step, sent


def finished(step: Step) -> Token:
    assert isinstance(step, Finished), step
    return step.token


E = TypeVar("E", bound=OAuthError)


def failed(step: Step, kind: type[E]) -> E:
    assert isinstance(step, Failed), step
    assert isinstance(step.error, kind), repr(step.error)
    return step.error


# -- message types -------------------------------------------------------------------


def test_request_repr_hides_authorization_and_secret_fields() -> None:
    request = HttpRequest(
        method="POST",
        url=TOKEN_URL,
        headers=[("Authorization", "Basic c2VjcmV0"), ("DPoP", "proof"), ("Accept", "x")],
        body=b"grant_type=authorization_code&code=CODE1&code_verifier=VER1"
        b"&client_secret=SEC1&refresh_token=RT1&scope=read",
    )
    text = repr(request)
    for secret in ("c2VjcmV0", "proof", "CODE1", "VER1", "SEC1", "RT1"):
        assert secret not in text
    assert "grant_type=authorization_code" in text and "scope=read" in text
    assert request.header("authorization") == "Basic c2VjcmV0"
    assert request.header("x-missing") is None


@pytest.mark.parametrize(
    ("body", "shown"),
    [(None, "body=None"), (b'{"client_name": "x"}', "<20 bytes>"), (b"\xff=1", "<3 bytes>")],
)
def test_request_repr_of_bodies_that_are_not_forms(body: bytes | None, shown: str) -> None:
    assert shown in repr(HttpRequest(method="GET", url=RS, body=body))


def test_response_repr_hides_cookies_and_credential_headers() -> None:
    response = HttpResponse(
        status_code=200,
        headers=[
            ("Set-Cookie", "session=COOKIE-secret; HttpOnly"),
            ("Proxy-Authorization", "Basic PROXY-secret"),
            ("Content-Type", "application/json"),
        ],
    )
    text = repr(response)
    assert "COOKIE-secret" not in text and "PROXY-secret" not in text
    assert "Set-Cookie" in text and "application/json" in text
    request = HttpRequest(method="GET", url=RS, headers=[("Proxy-Authorization", "PROXY-secret")])
    assert "PROXY-secret" not in repr(request)
    assert response.header("set-cookie") == "session=COOKIE-secret; HttpOnly"


def test_response_redirect_and_token_reprs_hide_their_secrets() -> None:
    response = json_response(token_json(refresh_token="RT-secret"))
    assert "AT-secret" not in repr(response) and "bytes>" in repr(response)
    assert response.header("content-type") == "application/json"
    redirect = AuthorizationRedirect(url=REDIRECT + "?code=CODE-secret&state=s")
    assert "CODE-secret" not in repr(redirect)
    opened = OpenAuthorizationUrl(url=AUTHZ_URL + "?state=s", redirect_uri=REDIRECT)
    assert opened.redirect_uri == REDIRECT
    token = Token("AT-secret", refresh_token="RT-secret")
    assert "secret" not in repr(Finished(token=token))
