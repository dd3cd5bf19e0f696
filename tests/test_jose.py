"""The JOSE layer (PyJWT with cryptography): keys, signatures, DPoP proofs (RFC 9449 §4.2)
and the header fields every adapter asks the core for."""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sansio_upscope import Retry, Send, Token
from sansio_upscope._jose import base64url, sign, unverified_claims
from sansio_upscope.dpop import DPOP_HEADER, SigningKey, authorization_fields, dpop_proof

NOW = 1_700_000_000.0


def pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def decode_proof(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a proof as a resource server would: with the key its own header names."""
    header = jwt.get_unverified_header(proof)
    key = jwt.PyJWK(header["jwk"]).key
    return header, jwt.decode(proof, key, algorithms=["ES256", "RS256"])


@pytest.mark.parametrize(
    ("key", "alg"),
    [(pem(EC_KEY), "ES256"), (pem(EC_KEY).decode(), "ES256"), (RSA_KEY, "RS256")],
)
def test_a_key_loads_from_pem_or_object_and_signs(key: Any, alg: str) -> None:
    signing = SigningKey.load(key, alg=alg, kid="k1")
    token = sign({"sub": "me"}, signing)
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": "k1", "typ": "JWT"}
    public = signing.private_key.public_key()
    assert jwt.decode(token, public, algorithms=[alg]) == {"sub": "me"}  # type: ignore[arg-type]
    assert "PRIVATE" not in repr(signing) and repr(signing) == f"SigningKey(alg='{alg}', kid='k1')"


@pytest.mark.parametrize(
    ("key", "alg", "message"),
    [
        (pem(EC_KEY), "HS256", "signing_alg must be one of"),
        (pem(EC_KEY), "RS256", "needs an RSA private key of at least 2048 bits"),
        (RSA_KEY, "ES256", "needs an EC P-256 private key"),
        (ec.generate_private_key(ec.SECP384R1()), "ES256", "needs an EC P-256 private key"),
        (
            b"-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n",
            "ES256",
            "not an unencrypted PEM private key",
        ),
    ],
)
def test_a_key_that_cannot_sign_is_refused_without_quoting_it(
    key: Any, alg: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        SigningKey.load(key, alg=alg)
    assert "SECRET" not in str(caught.value) and "PRIVATE" not in str(caught.value)


def test_without_the_extra_asking_for_a_signature_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(ImportError, match=r"pip install 'sansio-upscope\[jwt\]'"):
        SigningKey.generate()
    with pytest.raises(ImportError, match=r"sansio-upscope\[jwt\]"):
        SigningKey.load(pem(EC_KEY))


def test_a_generated_key_exports_only_its_public_half() -> None:
    key = SigningKey.generate()
    jwk = key.public_jwk()
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and "d" not in jwk
    rsa_jwk = SigningKey.load(RSA_KEY, alg="RS256").public_jwk()
    assert rsa_jwk["kty"] == "RSA" and "d" not in rsa_jwk


def test_a_dpop_proof_has_what_rfc9449_section_4_2_asks() -> None:
    key = SigningKey.generate()
    proof = dpop_proof(
        key,
        method="post",
        url="https://rs.example/api/notes?x=1#frag",
        now=NOW + 0.9,
        access_token="AT-1",
        nonce="n-1",
    )
    header, claims = decode_proof(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256" and "kid" not in header
    assert header["jwk"] == key.public_jwk()
    assert claims["htm"] == "POST" and claims["htu"] == "https://rs.example/api/notes"
    assert claims["iat"] == int(NOW) and claims["nonce"] == "n-1"
    assert claims["ath"] == base64url(hashlib.sha256(b"AT-1").digest())
    again = decode_proof(dpop_proof(key, method="GET", url="https://as.example/t", now=NOW))[1]
    assert again["jti"] != claims["jti"] and "ath" not in again and "nonce" not in again


def test_authorization_fields_for_no_token_bearer_and_dpop() -> None:
    where: dict[str, Any] = {"method": "GET", "url": "https://rs.example/a?q", "now": NOW}
    assert authorization_fields(Send(authorization=None), **where) == []
    assert authorization_fields(Retry(authorization="Bearer AT"), **where) == [
        ("Authorization", "Bearer AT")
    ]
    key = SigningKey.generate()
    token = Token("AT-2", token_type="DPoP", dpop_key=key)
    fields = authorization_fields(
        Retry(authorization=token.authorization, dpop_nonce="rs-nonce", dpop_key=key), **where
    )
    assert fields[0] == ("Authorization", "DPoP AT-2") and fields[1][0] == DPOP_HEADER
    claims = decode_proof(fields[1][1])[1]
    assert claims["htu"] == "https://rs.example/a" and claims["nonce"] == "rs-nonce"
    assert claims["ath"] == base64url(hashlib.sha256(b"AT-2").digest())


def test_a_token_hides_its_key_and_only_a_dpop_token_has_one() -> None:
    key = SigningKey.generate()
    token = Token("AT-3", token_type="DPoP", dpop_key=key)
    assert "private_key" not in repr(token) and "dpop_key" not in repr(token)
    assert token == Token("AT-3", token_type="DPoP")  # the key is not part of equality
    with pytest.raises(ValueError, match="dpop_key is for DPoP tokens"):
        Token("AT-4", dpop_key=key)


def test_unverified_claims_reads_a_jwt_and_refuses_anything_else() -> None:
    token = sign({"exp": 5, "sub": "u"}, SigningKey.load(EC_KEY))
    assert unverified_claims(token) == {"exp": 5, "sub": "u"}
    assert unverified_claims("not-a-jwt") is None
