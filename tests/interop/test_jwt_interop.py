"""private_key_jwt and DPoP-bound tokens from oidc-provider 9 (a certified OpenID
provider) on 127.0.0.1, through every adapter.

* private_key_jwt (RFC 7523 §2.2): the client signs a fresh assertion per token request;
  the token it gets works at the MCP TypeScript SDK server (Bearer).
* DPoP (RFC 9449): oidc-provider demands a nonce in every proof (so each client meets
  ``use_dpop_nonce`` first) and issues DPoP-bound tokens. The resource is a server of our
  own: it introspects the token at oidc-provider (RFC 7662: ``token_type`` DPoP,
  ``cnf.jkt``), verifies the request's proof with PyJWT (``htm``, ``htu``, ``ath``, its
  key's RFC 7638 thumbprint equal to ``jkt``) and demands its own nonce too. Both a
  client_credentials client (private_key_jwt) and a public authorization-code client
  (PKCE, headless browser) get DPoP-bound tokens there, and step up.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import jwt
import pytest
import requests
from interop_peers import AuthorizationServer, ResourceServer

from sansio_upscope.oauth import AuthorizationCode, ClientCredentials
from tests.driver import Call, names, run
from tests.hostile.jwt_world import jwk_thumbprint
from tests.hostile.server import Request, ScriptedServer, response, routes

pytestmark = pytest.mark.interop

RS_NONCE = "rs-nonce-interop"


def _b64url_sha256(text: str) -> str:
    import base64

    digest = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@attrs.define
class DPoPResource:
    """``/api/notes``: GET needs ``read``, POST ``write``; DPoP-bound tokens only."""

    server: AuthorizationServer
    seen: list[dict[str, Any]] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)
    http: ScriptedServer | None = None

    @property
    def url(self) -> str:
        assert self.http is not None
        return self.http.url

    def metadata(self, _request: Request) -> bytes:
        document = {
            "resource": self.url + "/api/notes",
            "authorization_servers": [self.server.issuer],
        }
        return response(200, [("Content-Type", "application/json")], json.dumps(document).encode())

    def challenge(self, error: str | None = None, **params: str) -> list[tuple[str, str]]:
        parts = [f'resource_metadata="{self.url}/.well-known/oauth-protected-resource/api/notes"']
        if error:
            parts.insert(0, f'error="{error}"')
        parts += [f'{name}="{value}"' for name, value in params.items()]
        return [("WWW-Authenticate", 'DPoP algs="ES256", ' + ", ".join(parts))]

    def notes(self, request: Request) -> bytes:
        needed = "read" if request.method == "GET" else "write"
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if not token:
            return response(401, self.challenge(scope=needed))
        if scheme != "DPoP":
            return response(401, self.challenge("invalid_token"))
        introspection = requests.post(
            self.server.introspection_endpoint,
            data={"token": token},
            auth=(self.server.introspection_client_id, self.server.introspection_client_secret),
            timeout=10,
        ).json()
        proof = request.header("dpop") or ""
        header = jwt.get_unverified_header(proof)
        claims = jwt.decode(proof, jwt.PyJWK(header["jwk"]).key, algorithms=["ES256"])
        record = {
            "active": introspection.get("active"),
            "token_type": introspection.get("token_type"),
            "jkt_matches": introspection.get("cnf", {}).get("jkt") == jwk_thumbprint(header["jwk"]),
            "htm_htu": (claims["htm"], claims["htu"]),
            "ath_ok": claims.get("ath") == _b64url_sha256(token),
            "fresh": abs(claims["iat"] - time.time()) < 60,
            "nonce": claims.get("nonce"),
            "aud": introspection.get("aud"),
        }
        with self._lock:
            self.seen.append(record)
        if not (record["active"] and record["jkt_matches"] and record["ath_ok"]):
            return response(401, self.challenge("invalid_token"))
        if record["nonce"] != RS_NONCE:
            return response(401, [*self.challenge("use_dpop_nonce"), ("DPoP-Nonce", RS_NONCE)])
        if needed not in introspection.get("scope", "").split():
            return response(403, self.challenge("insufficient_scope", scope=needed))
        return response(200, [("Content-Type", "text/plain")], f"{needed} ok".encode())


@pytest.fixture
def dpop_resource(oidc_provider: AuthorizationServer) -> Iterator[DPoPResource]:
    resource = DPoPResource(oidc_provider)
    table = {
        "/.well-known/oauth-protected-resource/api/notes": resource.metadata,
        "/api/notes": resource.notes,
    }
    with ScriptedServer(routes(table)) as http:  # type: ignore[arg-type]
        resource.http = http
        yield resource


@pytest.mark.parametrize("adapter", names())
def test_private_key_jwt_tokens_work_at_the_mcp_server(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    tokens = ClientCredentials(
        oidc_provider.key_client_id, private_key=oidc_provider.key_client_pem
    )
    before = oidc_provider.token_requests()
    url = mcp_ts_server.url + "/api/notes"
    outcomes = run(adapter, [Call(url=url, timeout=20), Call(url=url, timeout=20)], tokens)
    assert all(o.ok for o in outcomes), outcomes
    assert oidc_provider.token_requests() - before == 1  # the second call reused the token


@pytest.mark.parametrize("adapter", names())
def test_dpop_bound_tokens_with_nonces_and_a_step_up(
    adapter: str, oidc_provider: AuthorizationServer, dpop_resource: DPoPResource
) -> None:
    tokens = ClientCredentials(
        oidc_provider.key_client_id, private_key=oidc_provider.key_client_pem, dpop=True
    )
    url = dpop_resource.url + "/api/notes"
    before = oidc_provider.token_requests()
    outcomes = run(
        adapter,
        [Call(url=url, timeout=20), Call(method="POST", url=url, body=b"{}", timeout=20)],
        tokens,
    )
    assert [(o.error, o.content) for o in outcomes] == [(None, b"read ok"), (None, b"write ok")]
    # oidc-provider asked for its nonce once; the step-up's request reused it (or, if
    # the nonce rotated in between, asked once more).
    assert 3 <= oidc_provider.token_requests() - before <= 4
    seen = dpop_resource.seen
    assert all(r["active"] and r["token_type"] == "DPoP" and r["jkt_matches"] for r in seen)
    assert all(r["ath_ok"] and r["fresh"] and r["aud"] == url for r in seen)
    assert {r["htm_htu"] for r in seen} == {("GET", url), ("POST", url)}
    assert [r["nonce"] for r in seen][:2] == [None, RS_NONCE]


@pytest.mark.parametrize("adapter", names())
def test_dpop_with_a_user_authorization_code_and_pkce(
    adapter: str,
    oidc_provider: AuthorizationServer,
    dpop_resource: DPoPResource,
    headless_authorize: Any,
) -> None:
    # A public native client: the code exchange carries the proof (and meets the nonce);
    # the step-up is a second authorization whose code exchange is DPoP-bound too.
    tokens = AuthorizationCode(
        oidc_provider.native_client_id,
        oidc_provider.native_redirect_uri,
        authorize=headless_authorize,
        dpop=True,
    )
    url = dpop_resource.url + "/api/notes"
    outcomes = run(
        adapter,
        [Call(url=url, timeout=20), Call(method="POST", url=url, body=b"{}", timeout=20)],
        tokens,
    )
    assert [(o.error, o.content) for o in outcomes] == [(None, b"read ok"), (None, b"write ok")]
    assert len(headless_authorize.visited) == 2
    seen = dpop_resource.seen
    assert seen and all(r["token_type"] == "DPoP" and r["jkt_matches"] for r in seen)
