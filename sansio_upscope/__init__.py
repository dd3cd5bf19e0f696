"""sansio-upscope: OAuth step-up authorization as a sans-IO state machine.

Here is what a driver of the machine needs: the events it feeds, the actions it gets
back, ``Upscope``/``Upscopes``/``Exchange``, ``Token`` and ``Policy``, the errors, and the
challenge parser. Everything else is private, or lives in a public submodule:

* ``sansio_upscope.challenges``: the parser and challenge model, plus
  ``www_authenticate_values``, ``format_challenge`` and the DPoP helpers
  (``DPoPChallenge``, ``dpop_challenge``, ``dpop_nonce``).
* ``sansio_upscope.scopes``: ``parse_scope``, ``format_scope``, ``invalid_scope_tokens``.
* ``sansio_upscope.redaction``: ``redact``, ``redact_headers``, ``RedactingFilter``.
* ``sansio_upscope.oauth``: sans-IO OAuth flows (token sources).
"""

from ._actions import (
    Action,
    Deliver,
    GiveUp,
    Reason,
    RequestToken,
    Retry,
    Send,
    WaitForToken,
)
from ._challenges import BearerChallenge, Challenge
from ._errors import (
    BodyNotReplayableError,
    HeaderParseError,
    LocalProtocolError,
    MalformedChallengeError,
    ScopeNotAllowedError,
    ScopeNotGrantedError,
    StepUpError,
    StepUpLoopError,
    TokenRequestFailedError,
    TooManyRetriesError,
    TooManyTokenRequestsError,
)
from ._events import Event, ResponseReceived, TokenFailed, TokenIssued
from ._headers import parse_www_authenticate
from ._state import Exchange, State, Upscope, Upscopes
from ._token import Policy, Token

__all__ = [
    "Action",
    "BearerChallenge",
    "BodyNotReplayableError",
    "Challenge",
    "Deliver",
    "Event",
    "Exchange",
    "GiveUp",
    "HeaderParseError",
    "LocalProtocolError",
    "MalformedChallengeError",
    "Policy",
    "Reason",
    "RequestToken",
    "ResponseReceived",
    "Retry",
    "ScopeNotAllowedError",
    "ScopeNotGrantedError",
    "Send",
    "State",
    "StepUpError",
    "StepUpLoopError",
    "Token",
    "TokenFailed",
    "TokenIssued",
    "TokenRequestFailedError",
    "TooManyRetriesError",
    "TooManyTokenRequestsError",
    "Upscope",
    "Upscopes",
    "WaitForToken",
    "parse_www_authenticate",
]

__version__ = "0.1.0"
