"""JWTs at the token endpoint: the RFC 7523 client assertion (``private_key_jwt``), the
RFC 7523 §2.1 jwt-bearer grant, and the RFC 8693 token exchange that turns an ID token
into an Identity Assertion JWT Authorization Grant (ID-JAG, SEP-990).

Pure functions over configuration, ``now`` and responses; every signature is PyJWT's
(``.._jose``). No assertion, ID token or ID-JAG ever reaches a message or a repr.
"""

from __future__ import annotations

from .._jose import SigningKey, jwt_id, sign, unverified_claims
from ._errors import InvalidResponseError
from ._messages import HttpResponse
from ._metadata import json_object
from ._tokens import CLIENT_ASSERTION_TYPE, parse_token_response

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "ID_JAG_TYPE",
    "ID_TOKEN_TYPE",
    "JWT_BEARER_GRANT",
    "TOKEN_EXCHANGE_GRANT",
    "client_assertion",
    "id_token_expiry",
    "parse_id_jag_response",
]

#: RFC 7523 §2.1: the JWT bearer authorization grant.
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: RFC 8693 §2.1: the token exchange grant.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
#: RFC 8693 §3: an OpenID Connect ID token as the subject token.
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
#: draft-ietf-oauth-identity-assertion-authz-grant (SEP-990): the ID-JAG token type.
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"

#: Seconds a client assertion lives: RFC 7523 §3 asks for an ``exp``; short, so a
#: captured one is soon useless (the ``jti`` already makes it single-use).
ASSERTION_LIFETIME = 120


def client_assertion(client_id: str, audience: str, key: SigningKey, *, now: float) -> str:
    """A fresh RFC 7523 §3 client assertion: ``iss`` = ``sub`` = ``client_id``, ``aud``
    = the authorization server (its issuer identifier, or its token endpoint when no
    issuer is known), a unique ``jti``, ``iat`` = ``now``, ``exp`` two minutes later."""
    issued = int(now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": jwt_id(),
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }
    return sign(claims, key)


def id_token_expiry(id_token: str) -> float | None:
    """The ``exp`` an ID token says it has (read, not verified: the IdP verifies it), or
    None when it is not a JWT or has no numeric ``exp``."""
    claims = unverified_claims(id_token)
    exp = claims.get("exp") if claims is not None else None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return float(exp)
    return None


def parse_id_jag_response(response: HttpResponse, url: str) -> str:
    """The ID-JAG from an RFC 8693 §2.2.1 token exchange response, or raise.

    An error response raises ``TokenEndpointError`` (as any token endpoint's, RFC 8693
    §2.2.2); a success that is not an ID-JAG raises ``InvalidResponseError``.
    """
    what = "token exchange response"
    if response.status_code != 200:
        parse_token_response(
            response, url, grant_type=TOKEN_EXCHANGE_GRANT, requested=None, now=None
        )
    document = json_object(response, what, url)
    issued_type = document.get("issued_token_type")
    if issued_type != ID_JAG_TYPE:
        shown = issued_type if isinstance(issued_type, str) else None
        raise InvalidResponseError(
            f"The identity provider's {what} has issued_token_type {shown!r}, not {ID_JAG_TYPE}",
            url=url,
            advice="Check that the identity provider supports SEP-990 cross-app access "
            "(ID-JAG) for this client.",
        )
    id_jag = document.get("access_token")
    if not isinstance(id_jag, str) or not id_jag:
        raise InvalidResponseError(f"The identity provider's {what} has no access_token", url=url)
    return id_jag
