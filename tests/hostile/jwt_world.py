"""Servers of our own for the JWT grants, verifying every signature with PyJWT (the
library the client signs with, so a bug in how we call it would show on both sides).

``JwtWorld`` runs two ``ScriptedServer``s on 127.0.0.1:

* the *world*: a protected resource ``/api`` (GET needs ``read``, POST ``write``;
  RFC 9728 metadata names the world as its authorization server) and that authorization
  server (RFC 8414 metadata, ``/token``). The token endpoint takes ``client_credentials``
  with ``private_key_jwt`` (RFC 7523 §2.2) or ``client_secret_basic``, and the
  ``jwt-bearer`` grant (RFC 7523 §2.1) with a workload JWT signed by the *platform* key or
  an ID-JAG signed by the IdP. With a DPoP proof (RFC 9449 §4.3 checks) it issues
  DPoP-bound tokens, and the resource then demands ``Authorization: DPoP`` plus a proof
  for the token's key. ``as_nonce`` / ``rs_nonce`` make either side demand a nonce.
* the *IdP*: ``/token`` does the RFC 8693 token exchange of an ID token for an ID-JAG
  (SEP-990), for the client ``idp-client`` / ``idp-secret``.

Every token request is recorded (``records``) without secrets; assertion ``jti``s are
remembered, so a replayed assertion or proof is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import attrs
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .server import Reply, Request, ScriptedServer, response, routes

Script = Callable[[Request], Reply | bytes]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"

KEY_CLIENT_ID = "key-client"  # private_key_jwt
SECRET_CLIENT_ID, SECRET_CLIENT_SECRET = "secret-client", "secret-client-SECRET-91c2"
WORKLOAD_CLIENT_ID = "workload-client"  # jwt-bearer, no client authentication
IDP_CLIENT_ID, IDP_CLIENT_SECRET = "idp-client", "idp-SECRET-3d7e"


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 for an EC key, computed here independently of the client's code."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def json_reply(status: int, document: object, *headers: tuple[str, str]) -> bytes:
    return response(
        status,
        [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *headers],
        json.dumps(document).encode(),
    )


@attrs.frozen(kw_only=True)
class TokenRecord:
    """One request to a token endpoint as the server saw it (no secret kept)."""

    server: str  # "as" or "idp"
    grant_type: str
    auth: str  # private_key_jwt, client_secret_basic, none
    scopes: frozenset[str]
    resource: str | None
    dpop: bool
    outcome: str  # "issued" or the error code


class Refused(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        self.error, self.description, self.status = error, description, status


class JwtWorld:
    def __init__(self, serve: Callable[[Script], ScriptedServer]) -> None:
        self.client_key = ec.generate_private_key(ec.SECP256R1())
        self.platform_key = ec.generate_private_key(ec.SECP256R1())
        self.idp_key = ec.generate_private_key(ec.SECP256R1())
        self.records: list[TokenRecord] = []
        self.as_nonce: str | None = None  # when set, the AS demands it in DPoP proofs
        self.rs_nonce: str | None = None  # likewise the resource
        self.id_jag_lifetime = 300  # seconds; negative: the IdP issues expired ID-JAGs
        self._lock = threading.Lock()
        self._seen_jti: set[str] = set()
        self._tokens: dict[str, tuple[frozenset[str], str | None]] = {}  # -> scopes, jkt
        self.server = serve(
            routes(
                {
                    "/.well-known/oauth-protected-resource/api": self.resource_metadata,
                    "/.well-known/oauth-authorization-server": self.server_metadata,
                    "/token": self.token,
                    "/api": self.protected,
                },
            )
        )
        self.url = self.server.url
        self.idp = serve(routes({"/token": self.idp_token}))

    # -- what the tests hand the client ------------------------------------------------

    @property
    def client_pem(self) -> bytes:
        return pem(self.client_key)

    def workload_jwt(self, *, now: float | None = None, audience: str | None = None) -> str:
        """A platform-issued workload identity token (the SEP-1933 kind)."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": "https://platform.example",
            "sub": "workload-7",
            "aud": audience or self.url,
            "iat": issued,
            "exp": issued + 300,
            "jti": secrets.token_urlsafe(8),
        }
        return jwt.encode(claims, self.platform_key, algorithm="ES256")

    def id_token(self, *, expires_in: int = 300) -> str:
        """An OpenID Connect ID token from the IdP for its client."""
        issued = int(time.time())
        claims = {
            "iss": self.idp.url,
            "sub": "user-42",
            "aud": IDP_CLIENT_ID,
            "iat": issued - 10,
            "exp": issued + expires_in,
        }
        return jwt.encode(claims, self.idp_key, algorithm="ES256")

    def as_records(self, grant_type: str | None = None) -> list[TokenRecord]:
        with self._lock:
            return [
                r for r in self.records if r.server == "as" and grant_type in (None, r.grant_type)
            ]

    def idp_records(self) -> list[TokenRecord]:
        with self._lock:
            return [r for r in self.records if r.server == "idp"]

    # -- metadata ----------------------------------------------------------------------

    def resource_metadata(self, _request: Request) -> bytes:
        return json_reply(200, {"resource": self.url + "/api", "authorization_servers": [self.url]})

    def server_metadata(self, _request: Request) -> bytes:
        return json_reply(
            200,
            {
                "issuer": self.url,
                "token_endpoint": self.url + "/token",
                "grant_types_supported": ["client_credentials", JWT_BEARER],
                "token_endpoint_auth_methods_supported": [
                    "private_key_jwt",
                    "client_secret_basic",
                    "none",
                ],
                "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
                "dpop_signing_alg_values_supported": ["ES256"],
            },
        )

    # -- the protected resource --------------------------------------------------------

    def protected(self, request: Request) -> bytes:
        needed = "read" if request.method == "GET" else "write"
        metadata = f'resource_metadata="{self.url}/.well-known/oauth-protected-resource/api"'
        scheme, _, access_token = (request.header("authorization") or "").partition(" ")
        with self._lock:
            grant = self._tokens.get(access_token)
        if grant is None:
            value = f'Bearer scope="{needed}", {metadata}'
            return response(401, [("WWW-Authenticate", value)])
        scopes, jkt = grant
        challenge_scheme = "Bearer"
        if jkt is not None:
            # RFC 9449 §7.1: a DPoP-bound token needs the DPoP scheme and a proof for it.
            challenge_scheme = "DPoP"
            try:
                if scheme != "DPoP":
                    raise Refused("invalid_token", "a DPoP-bound token sent as " + scheme)
                proof_jkt = self._check_proof(
                    request, access_token=access_token, nonce=self.rs_nonce
                )
                if proof_jkt != jkt:
                    raise Refused("invalid_token", "the proof is not signed by the token's key")
            except Refused as refused:
                headers = [
                    (
                        "WWW-Authenticate",
                        f'DPoP algs="ES256", error="{refused.error}", '
                        f'error_description="{refused.description}"',
                    )
                ]
                if refused.error == "use_dpop_nonce":
                    headers.append(("DPoP-Nonce", self.rs_nonce or ""))
                return response(401, headers)
        elif scheme != "Bearer":
            return response(
                401, [("WWW-Authenticate", f'Bearer error="invalid_token", {metadata}')]
            )
        if needed not in scopes:
            value = f'{challenge_scheme} error="insufficient_scope", scope="{needed}", {metadata}'
            return response(403, [("WWW-Authenticate", value)])
        return response(200, [("Content-Type", "text/plain")], f"{needed} ok".encode())

    def _check_proof(self, request: Request, *, access_token: str | None, nonce: str | None) -> str:
        """RFC 9449 §4.3: check the DPoP proof of ``request``; its key's thumbprint."""
        proof = request.header("dpop")
        if proof is None:
            raise Refused("invalid_dpop_proof", "no DPoP proof")
        header = jwt.get_unverified_header(proof)
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
            raise Refused("invalid_dpop_proof", "typ or alg")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or "d" in jwk:
            raise Refused("invalid_dpop_proof", "jwk")
        claims = jwt.decode(proof, jwt.PyJWK(jwk).key, algorithms=["ES256"])
        url = self.url + request.path
        if claims.get("htm") != request.method or claims.get("htu") != url:
            raise Refused("invalid_dpop_proof", "htm or htu")
        if abs(claims.get("iat", 0) - time.time()) > 60:
            raise Refused("invalid_dpop_proof", "iat")
        if access_token is not None:
            ath = _b64url(hashlib.sha256(access_token.encode()).digest())
            if claims.get("ath") != ath:
                raise Refused("invalid_dpop_proof", "ath")
        self._once(claims.get("jti"), "invalid_dpop_proof")
        if nonce is not None and claims.get("nonce") != nonce:
            raise Refused("use_dpop_nonce", "a nonce is required")
        return jwk_thumbprint(jwk)

    def _once(self, jti: object, error: str) -> None:
        with self._lock:
            if not isinstance(jti, str) or jti in self._seen_jti:
                raise Refused(error, "jti missing or replayed")
            self._seen_jti.add(jti)

    # -- the authorization server's token endpoint -------------------------------------

    def token(self, request: Request) -> bytes:
        form = dict(parse_qsl(request.body.decode()))
        grant_type = form.get("grant_type", "")
        scopes = frozenset(form.get("scope", "").split())
        auth, dpop, outcome = "none", request.header("dpop") is not None, "issued"
        try:
            auth, client_id = self._client(request, form)
            jkt = None
            if dpop:
                jkt = self._check_proof(request, access_token=None, nonce=self.as_nonce)
            if grant_type == "client_credentials":
                if client_id not in (KEY_CLIENT_ID, SECRET_CLIENT_ID):
                    raise Refused("unauthorized_client", "no client_credentials for it")
            elif grant_type == JWT_BEARER:
                self._check_grant_assertion(form.get("assertion", ""), client_id, form)
            else:
                raise Refused("unsupported_grant_type", grant_type)
            access_token = secrets.token_urlsafe(24)
            with self._lock:
                self._tokens[access_token] = (scopes, jkt)
            document = {
                "access_token": access_token,
                "token_type": "DPoP" if jkt else "Bearer",
                "expires_in": 600,
                "scope": " ".join(sorted(scopes)),
            }
            return json_reply(200, document)
        except Refused as refused:
            outcome = refused.error
            headers = []
            if refused.error == "use_dpop_nonce":
                headers.append(("DPoP-Nonce", self.as_nonce or ""))
            document = {"error": refused.error, "error_description": refused.description}
            return json_reply(refused.status, document, *headers)
        finally:
            record = TokenRecord(
                server="as",
                grant_type=grant_type,
                auth=auth,
                scopes=scopes,
                resource=form.get("resource"),
                dpop=dpop,
                outcome=outcome,
            )
            with self._lock:
                self.records.append(record)

    def _client(self, request: Request, form: dict[str, str]) -> tuple[str, str]:
        """Authenticate the client (RFC 6749 §2.3, RFC 7523 §2.2): (method, client_id)."""
        basic = request.header("authorization") or ""
        if basic.startswith("Basic "):
            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            if (user, password) != (SECRET_CLIENT_ID, SECRET_CLIENT_SECRET):
                raise Refused("invalid_client", "wrong secret", 401)
            return "client_secret_basic", user
        assertion = form.get("client_assertion")
        if assertion is not None:
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                raise Refused("invalid_client", "client_assertion_type", 401)
            try:
                claims = jwt.decode(
                    assertion,
                    self.client_key.public_key(),
                    algorithms=["ES256"],
                    audience=self.url,
                    issuer=KEY_CLIENT_ID,
                    options={"require": ["exp", "iat", "jti", "sub"]},
                )
            except jwt.PyJWTError as error:
                raise Refused("invalid_client", f"client assertion: {error}", 401) from None
            if claims["sub"] != KEY_CLIENT_ID or claims["exp"] - claims["iat"] > 300:
                raise Refused("invalid_client", "sub or lifetime", 401)
            self._once(claims["jti"], "invalid_client")
            return "private_key_jwt", KEY_CLIENT_ID
        return "none", form.get("client_id", "")

    def _check_grant_assertion(self, assertion: str, client_id: str, form: dict[str, str]) -> None:
        """RFC 7523 §3: a workload JWT from the platform, or an ID-JAG from the IdP."""
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("typ") == "oauth-id-jag+jwt":
                claims = jwt.decode(
                    assertion,
                    self.idp_key.public_key(),
                    algorithms=["ES256"],
                    audience=self.url,
                    issuer=self.idp.url,
                )
                if claims.get("client_id") != client_id:
                    raise Refused("invalid_grant", "the ID-JAG is for another client")
                if not frozenset(form.get("scope", "").split()) <= set(claims["scope"].split()):
                    raise Refused("invalid_scope", "more than the ID-JAG allows")
            else:
                jwt.decode(
                    assertion,
                    self.platform_key.public_key(),
                    algorithms=["ES256"],
                    audience=self.url,
                )
        except jwt.PyJWTError as error:
            raise Refused("invalid_grant", f"assertion: {error}") from None

    # -- the identity provider: RFC 8693 token exchange for an ID-JAG ------------------

    def idp_token(self, request: Request) -> bytes:
        form = dict(parse_qsl(request.body.decode()))
        scopes = frozenset(form.get("scope", "").split())
        outcome = "issued"
        try:
            basic = request.header("authorization") or ""
            user, _, password = (
                base64.b64decode(basic.removeprefix("Basic ")).decode().partition(":")
            )
            if (user, password) != (IDP_CLIENT_ID, IDP_CLIENT_SECRET):
                raise Refused("invalid_client", "wrong IdP client", 401)
            expected = {
                "grant_type": TOKEN_EXCHANGE,
                "requested_token_type": ID_JAG,
                "subject_token_type": ID_TOKEN,
                "audience": self.url,
            }
            for name, value in expected.items():
                if form.get(name) != value:
                    raise Refused("invalid_request", f"{name} must be {value}")
            try:
                id_claims = jwt.decode(
                    form.get("subject_token", ""),
                    self.idp_key.public_key(),
                    algorithms=["ES256"],
                    audience=IDP_CLIENT_ID,
                    issuer=self.idp.url,
                )
            except jwt.PyJWTError as error:
                raise Refused("invalid_grant", f"ID token: {error}") from None
            issued = int(time.time())
            id_jag = jwt.encode(
                {
                    "iss": self.idp.url,
                    "sub": id_claims["sub"],
                    "aud": self.url,
                    "client_id": SECRET_CLIENT_ID,
                    "resource": form.get("resource"),
                    "scope": " ".join(sorted(scopes)),
                    "jti": secrets.token_urlsafe(8),
                    "iat": issued,
                    "exp": issued + self.id_jag_lifetime,
                },
                self.idp_key,
                algorithm="ES256",
                headers={"typ": "oauth-id-jag+jwt"},
            )
            document = {
                "access_token": id_jag,
                "issued_token_type": ID_JAG,
                "token_type": "N_A",
                "expires_in": 300,
            }
            return json_reply(200, document)
        except Refused as refused:
            outcome = refused.error
            return json_reply(
                refused.status, {"error": refused.error, "error_description": refused.description}
            )
        finally:
            record = TokenRecord(
                server="idp",
                grant_type=form.get("grant_type", ""),
                auth="client_secret_basic",
                scopes=scopes,
                resource=form.get("resource"),
                dpop=False,
                outcome=outcome,
            )
            with self._lock:
                self.records.append(record)
