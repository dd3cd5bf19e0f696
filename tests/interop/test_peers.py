"""The peers themselves behave as the interop tests assume (checked with plain requests)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse

import pytest
import requests
from interop_peers import AuthorizationServer, HeadlessBrowser, ResourceServer
from mcp_messages import HEADERS, INITIALIZE, SESSION_ID, tools_call

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


MCP_HEADERS = dict(HEADERS)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(oidc_provider: AuthorizationServer, scope: str, resource: str) -> str:
    response = _client_credentials(oidc_provider, scope, resource)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


def test_typescript_sdk_challenges(
    oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    notes = f"{mcp_ts_server.url}/api/notes"
    metadata = mcp_ts_server.resource_metadata_url("/api/notes")
    read = _token(oidc_provider, "read", notes)
    response = requests.post(notes, json={"n": 1}, headers=_bearer(read), timeout=10)
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", error_description="Insufficient scope", '
        f'scope="write", resource_metadata="{metadata}"'
    )
    assert requests.get(notes, headers=_bearer(read), timeout=10).status_code == 200

    elsewhere = _token(oidc_provider, "read write", f"{mcp_ts_server.url}/elsewhere")
    response = requests.post(notes, json={"n": 1}, headers=_bearer(elsewhere), timeout=10)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "Token was not issued for this resource" in response.headers["www-authenticate"]

    prm = requests.get(metadata, timeout=10).json()
    assert prm["resource"] == notes
    assert prm["authorization_servers"] == [oidc_provider.issuer]


def test_typescript_sdk_per_tool_step_up_challenge(
    oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    read = _token(oidc_provider, "read", mcp_ts_server.mcp_url)
    response = requests.post(
        mcp_ts_server.mcp_url, json=INITIALIZE, headers={**MCP_HEADERS, **_bearer(read)}, timeout=10
    )
    assert response.status_code == 200, response.text
    session = {SESSION_ID: response.headers[SESSION_ID]}
    call = tools_call(2, "write_file", path="a.txt", content="hi")
    response = requests.post(
        mcp_ts_server.mcp_url,
        json=call,
        headers={**MCP_HEADERS, **session, **_bearer(read)},
        timeout=10,
    )
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", error_description="Insufficient scope", '
        f'scope="read write", resource_metadata="{mcp_ts_server.resource_metadata_url("/mcp")}"'
    )
    both = _token(oidc_provider, "read write", mcp_ts_server.mcp_url)
    response = requests.post(
        mcp_ts_server.mcp_url,
        json=call,
        headers={**MCP_HEADERS, **session, **_bearer(both)},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert "wrote 2 bytes to a.txt" in response.text


def test_python_sdk_challenge_has_no_scope(
    oidc_provider: AuthorizationServer, mcp_python_server: ResourceServer
) -> None:
    metadata = mcp_python_server.resource_metadata_url("/mcp")
    read = _token(oidc_provider, "read", mcp_python_server.mcp_url)
    response = requests.post(
        mcp_python_server.mcp_url,
        json=INITIALIZE,
        headers={**MCP_HEADERS, **_bearer(read)},
        timeout=10,
    )
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", error_description="Required scope: write", '
        f'resource_metadata="{metadata}"'
    )
    assert requests.get(metadata, timeout=10).json()["scopes_supported"] == ["write"]

    elsewhere = _token(oidc_provider, "write", f"{mcp_python_server.url}/elsewhere")
    response = requests.post(
        mcp_python_server.mcp_url,
        json=INITIALIZE,
        headers={**MCP_HEADERS, **_bearer(elsewhere)},
        timeout=10,
    )
    assert response.status_code == 401

    write = _token(oidc_provider, "write", mcp_python_server.mcp_url)
    response = requests.post(
        mcp_python_server.mcp_url,
        json=INITIALIZE,
        headers={**MCP_HEADERS, **_bearer(write)},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert "upscope-interop-python" in response.text
