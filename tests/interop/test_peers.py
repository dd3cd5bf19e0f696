"""The peers themselves behave as the interop tests assume (checked with plain requests)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse

import pytest
import requests
from interop_peers import AuthorizationServer, HeadlessBrowser

pytestmark = pytest.mark.interop

RESOURCE = "http://127.0.0.1:9/api/notes"


def _client_credentials(
    oidc_provider: AuthorizationServer, scope: str, resource: str = RESOURCE
) -> requests.Response:
    return requests.post(
        oidc_provider.token_endpoint,
        data={"grant_type": "client_credentials", "scope": scope, "resource": resource},
        auth=(oidc_provider.service_client_id, oidc_provider.service_client_secret),
        timeout=10,
    )


def _introspect(oidc_provider: AuthorizationServer, token: str) -> dict[str, object]:
    response = requests.post(
        oidc_provider.introspection_endpoint,
        data={"token": token},
        auth=(oidc_provider.introspection_client_id, oidc_provider.introspection_client_secret),
        timeout=10,
    )
    response.raise_for_status()
    body = response.json()
    assert isinstance(body, dict)
    return body


def test_discovery_advertises_pkce_s256_and_introspection(
    oidc_provider: AuthorizationServer,
) -> None:
    metadata = requests.get(
        f"{oidc_provider.issuer}/.well-known/openid-configuration", timeout=10
    ).json()
    assert metadata["issuer"] == oidc_provider.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["token_endpoint"] == oidc_provider.token_endpoint
    assert metadata["introspection_endpoint"] == oidc_provider.introspection_endpoint
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_client_credentials_token_is_bound_to_the_resource(
    oidc_provider: AuthorizationServer,
) -> None:
    before = oidc_provider.token_requests()
    response = _client_credentials(oidc_provider, "read write")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read write"
    claims = _introspect(oidc_provider, response.json()["access_token"])
    assert claims["active"] is True
    assert claims["aud"] == RESOURCE
    assert claims["scope"] == "read write"
    assert oidc_provider.token_requests() == before + 1


def test_forbidden_scope_is_invalid_scope(oidc_provider: AuthorizationServer) -> None:
    response = _client_credentials(oidc_provider, "read forbidden")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_readonly_resource_gets_a_narrower_grant(oidc_provider: AuthorizationServer) -> None:
    response = _client_credentials(oidc_provider, "read write", "http://127.0.0.1:9/readonly/x")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


def test_headless_authorization_code_with_pkce(
    oidc_provider: AuthorizationServer, headless_authorize: HeadlessBrowser
) -> None:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    for scope in ("read", "read write"):
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": oidc_provider.native_client_id,
                "redirect_uri": oidc_provider.native_redirect_uri,
                "scope": scope,
                "state": "s1",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": RESOURCE,
            }
        )
        redirect = headless_authorize(f"{oidc_provider.authorization_endpoint}?{query}")
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redirect).query))
        assert params["state"] == "s1"
        assert params["iss"] == oidc_provider.issuer
        response = requests.post(
            oidc_provider.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": oidc_provider.native_redirect_uri,
                "client_id": oidc_provider.native_client_id,
                "code_verifier": verifier,
                "resource": RESOURCE,
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["scope"] == scope
        claims = _introspect(oidc_provider, response.json()["access_token"])
        assert claims["aud"] == RESOURCE


def test_headless_authorization_refuses_forbidden(
    oidc_provider: AuthorizationServer, headless_authorize: HeadlessBrowser
) -> None:
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": oidc_provider.native_client_id,
            "redirect_uri": oidc_provider.native_redirect_uri,
            "scope": "read forbidden",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
            "resource": RESOURCE,
        }
    )
    redirect = headless_authorize(f"{oidc_provider.authorization_endpoint}?{query}")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redirect).query))
    assert params["error"] == "invalid_scope"
