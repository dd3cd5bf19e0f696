"""The one door to JOSE (RFC 7515 JWS, RFC 7517 JWK, RFC 7519 JWT): PyJWT with
``cryptography``, the optional ``jwt`` extra.

Nothing here signs by hand: keys are loaded by ``cryptography``, JWTs are signed and
JWKs exported by PyJWT. Both are imported inside the functions that need them, so the
core stays importable (and sans-IO) without the extra; asking for a signature without it
raises ``ImportError`` naming the extra. Every private key is held in a ``SigningKey``
whose repr shows its algorithm and ``kid``, never the key.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "JWT_EXTRA",
    "SIGNING_ALGS",
    "SigningKey",
    "jwt_id",
    "require_extra",
    "sign",
    "unverified_claims",
]

#: What to install for everything in this module.
JWT_EXTRA = "pip install 'sansio-upscope[jwt]'"

#: The JWS algorithms a private key may sign with (RFC 7518 §3.1): ECDSA P-256 SHA-256,
#: the one every DPoP server must accept in practice, and RSASSA-PKCS1-v1_5 SHA-256.
SIGNING_ALGS = ("ES256", "RS256")


def require_extra(what: str) -> Any:
    """The ``jwt`` module, or ``ImportError`` saying which extra brings it."""
    try:
        import cryptography  # noqa: F401  (PyJWT imports it lazily; fail here, clearly)
        import jwt
    except ImportError as missing:
        raise ImportError(
            f"{what} needs the optional JOSE dependencies (PyJWT with cryptography): {JWT_EXTRA}",
            name="jwt",
        ) from missing
    return jwt


def _load_private_key(key: object, what: str) -> PrivateKeyTypes:
    require_extra(what)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if isinstance(key, str):
        key = key.encode("ascii", "replace")
    if isinstance(key, bytes):
        try:
            return load_pem_private_key(key, password=None)
        except (ValueError, TypeError):
            # The key's own text stays out of the message: it is a secret.
            raise ValueError(f"{what}: private_key is not an unencrypted PEM private key") from None
    return key  # type: ignore[return-value]  # a cryptography key object; checked below


def _check_key_fits(key: PrivateKeyTypes, alg: str, what: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if alg == "ES256":
        fits = isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        want = "an EC P-256 private key"
    else:
        # RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
        fits = isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
        want = "an RSA private key of at least 2048 bits"
    if not fits:
        raise ValueError(f"{what}: signing_alg={alg} needs {want}")


@attrs.frozen(kw_only=True)
class SigningKey:
    """A private key and the JWS ``alg`` it signs with; ``kid`` names it to the server.

    Build it with ``SigningKey.load(pem_or_key, alg=..., kid=...)``. The key never
    appears in a repr.
    """

    alg: str
    kid: str | None = None
    private_key: PrivateKeyTypes = attrs.field(repr=False, eq=False)

    @classmethod
    def load(
        cls, key: object, *, alg: str = "ES256", kid: str | None = None, what: str = "a JWT"
    ) -> SigningKey:
        """From a PEM (str or bytes) or a ``cryptography`` private key object.

        Raises ``ImportError`` without the ``jwt`` extra and ``ValueError`` for an
        unknown ``alg`` or a key that cannot sign with it (the message never quotes the
        key).
        """
        if alg not in SIGNING_ALGS:
            raise ValueError(f"{what}: signing_alg must be one of {SIGNING_ALGS}, not {alg!r}")
        private_key = _load_private_key(key, what)
        _check_key_fits(private_key, alg, what)
        return cls(alg=alg, kid=kid, private_key=private_key)

    @classmethod
    def generate(cls, *, what: str = "DPoP") -> SigningKey:
        """A fresh EC P-256 key for ES256, held only in memory."""
        require_extra(what)
        from cryptography.hazmat.primitives.asymmetric import ec

        return cls(alg="ES256", private_key=ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (RFC 7517 §4), with no private member."""
        jwt = require_extra("a JWK")
        algorithm = jwt.get_algorithm_by_name(self.alg)
        public = self.private_key.public_key()
        jwk: dict[str, Any] = algorithm.to_jwk(public, as_dict=True)
        return jwk


def base64url(data: bytes) -> str:
    """RFC 7515 §2 base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_id() -> str:
    """A ``jti`` (RFC 7519 §4.1.7) no server has seen: 128 random bits."""
    return secrets.token_urlsafe(16)


def sign(claims: dict[str, Any], key: SigningKey, *, headers: dict[str, Any] | None = None) -> str:
    """A compact JWS over ``claims`` (RFC 7519 §7.1), signed by PyJWT with ``key``."""
    jwt = require_extra("signing a JWT")
    header = dict(headers or {})
    if key.kid is not None:
        header.setdefault("kid", key.kid)
    token: str = jwt.encode(claims, key.private_key, algorithm=key.alg, headers=header)
    return token


def unverified_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT this client holds but cannot verify (it is not the audience),
    or None when ``token`` is not a JWS. Read only to decide what to do next, never to
    trust: the server that receives the token verifies it."""
    jwt = require_extra("reading a JWT")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None
