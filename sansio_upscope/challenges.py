"""``WWW-Authenticate`` challenges: the parser, the challenge model, and its views.

The four names a driver of the machine needs (``parse_www_authenticate``,
``HeaderParseError``, ``Challenge``, ``BearerChallenge``) are also at the top of the
package; the rest live here:

* ``www_authenticate_values(headers)``: the ``WWW-Authenticate`` field lines of a
  response, from (name, value) pairs as h11 gives them, ready for the parser.
* ``format_challenge(challenge)``: a challenge written back in the RFC 9110 §11 syntax
  (``str(challenge)`` does the same).
* ``DPoPChallenge`` (RFC 9449 §7.1: ``algs``, ``error``, ``nonce``),
  ``dpop_challenge(headers)``, the first DPoP challenge of a response paired with its
  nonce, and ``dpop_nonce(headers)``, the single ``DPoP-Nonce`` value (RFC 9449 §8).

See docs/parser.md.
"""

from ._challenges import BearerChallenge, Challenge, DPoPChallenge, dpop_nonce, format_challenge
from ._errors import HeaderParseError
from ._headers import dpop_challenge, parse_www_authenticate, www_authenticate_values

__all__ = [
    "BearerChallenge",
    "Challenge",
    "DPoPChallenge",
    "HeaderParseError",
    "dpop_challenge",
    "dpop_nonce",
    "format_challenge",
    "parse_www_authenticate",
    "www_authenticate_values",
]
