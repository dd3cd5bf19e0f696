"""DPoP (RFC 9449): proofs of possession, and the header fields a request carries.

``authorization_fields(action, method=..., url=..., now=...)`` is the one answer every
adapter asks for when the machine says ``Send`` or ``Retry``: the ``Authorization``
field alone for a Bearer token, and for a DPoP-bound token the ``DPoP`` scheme plus a
fresh proof for exactly this method and URL (§7.1). Adapters never build these fields
themselves.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

from ._actions import Retry, Send
from ._jose import SigningKey, base64url, jwt_id, sign

__all__ = [
    "AUTHORIZATION_HEADER",
    "CREDENTIAL_FIELDS",
    "DPOP_HEADER",
    "authorization_fields",
    "dpop_proof",
]

#: RFC 6750 §2.1, RFC 9449 §7.1: the request header field that carries the token.
AUTHORIZATION_HEADER = "Authorization"
#: RFC 9449 §4.1: the request header field that carries the proof.
DPOP_HEADER = "DPoP"
#: Every field ``authorization_fields`` may set, lower-case: an adapter drops the
#: caller's fields of these names when it sets the core's.
CREDENTIAL_FIELDS = frozenset({AUTHORIZATION_HEADER.lower(), DPOP_HEADER.lower()})


def _htu(url: str) -> str:
    # RFC 9449 §4.2: "htu: The HTTP target URI ..., without query and fragment parts."
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def dpop_proof(
    key: SigningKey,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
    nonce: str | None = None,
) -> str:
    """A DPoP proof JWT (RFC 9449 §4.2) for one request.

    Header: ``typ`` ``dpop+jwt``, ``alg``, ``jwk`` (the public key only). Claims: a new
    ``jti``, ``htm``, ``htu`` without query or fragment, ``iat`` from ``now``; ``ath``
    (base64url SHA-256 of the access token) when the request carries one (§4.2, §7.1);
    ``nonce`` when the server gave one (§8, §9). Raises ``ImportError`` without the
    ``jwt`` extra.
    """
    claims: dict[str, object] = {
        "jti": jwt_id(),
        "htm": method.upper(),
        "htu": _htu(url),
        "iat": int(now),
    }
    if access_token is not None:
        claims["ath"] = base64url(hashlib.sha256(access_token.encode("ascii")).digest())
    if nonce is not None:
        claims["nonce"] = nonce
    # The jwk names the key itself: no kid (§4.2 puts the public key in the header).
    header = {"typ": "dpop+jwt", "jwk": key.public_jwk()}
    return sign(claims, SigningKey(alg=key.alg, private_key=key.private_key), headers=header)


def authorization_fields(
    action: Send | Retry, *, method: str, url: str, now: float
) -> list[tuple[str, str]]:
    """The credential header fields for the request ``action`` says to send.

    None when the action carries no token; ``Authorization: Bearer ...`` for a Bearer
    token; ``Authorization: DPoP ...`` and a ``DPoP`` proof bound to ``method``, ``url``,
    the token (``ath``) and the resource server's newest nonce for a DPoP-bound token
    (RFC 9449 §7.1, §9). ``now`` is the proof's ``iat``.
    """
    authorization = action.authorization
    if authorization is None:
        return []
    fields = [(AUTHORIZATION_HEADER, authorization)]
    if action.dpop_key is not None:
        access_token = authorization.partition(" ")[2]
        proof = dpop_proof(
            action.dpop_key,
            method=method,
            url=url,
            now=now,
            access_token=access_token,
            nonce=action.dpop_nonce,
        )
        fields.append((DPOP_HEADER, proof))
    return fields
