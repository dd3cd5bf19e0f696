"""Putting a token on a request, and DPoP (RFC 9449).

* ``authorization_fields(action, method=, url=, now=)``: the credential header fields a
  ``Send`` or ``Retry`` needs: ``Authorization`` for a Bearer token; for a DPoP-bound
  token (``Token.dpop_key``) also a fresh ``DPoP`` proof for this method and URL, with
  ``ath`` and the resource server's newest nonce. Every adapter calls it; none builds
  these fields itself.
* ``dpop_proof(key, method=, url=, now=, access_token=None, nonce=None)``: one proof
  (RFC 9449 §4.2).
* ``SigningKey``: a private key and its JWS ``alg`` (``SigningKey.load(pem, alg=...)``,
  ``SigningKey.generate()``); its repr never shows the key.
* ``AUTHORIZATION_HEADER``, ``DPOP_HEADER``: the names of the token's and the proof's
  header fields; ``CREDENTIAL_FIELDS``: every field name ``authorization_fields`` may
  set, lower-case.

Signing needs the ``jwt`` extra (``pip install 'sansio-upscope[jwt]'``, PyJWT with
``cryptography``), imported only when a proof is made: a Bearer token needs nothing.
"""

from ._dpop import (
    AUTHORIZATION_HEADER,
    CREDENTIAL_FIELDS,
    DPOP_HEADER,
    authorization_fields,
    dpop_proof,
)
from ._jose import SigningKey

__all__ = [
    "AUTHORIZATION_HEADER",
    "CREDENTIAL_FIELDS",
    "DPOP_HEADER",
    "SigningKey",
    "authorization_fields",
    "dpop_proof",
]
