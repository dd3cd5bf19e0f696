"""sansio-upscope: OAuth step-up authorization as a sans-IO state machine.

The public surface is re-exported here; everything else is private.
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
from ._challenges import (
    BearerChallenge,
    Challenge,
    DPoPChallenge,
    dpop_nonce,
    format_challenge,
)
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
from ._headers import dpop_challenge, parse_www_authenticate, www_authenticate_values
from ._log import RedactingFilter, redact, redact_headers
from ._scopes import format_scope, invalid_scope_tokens, parse_scope
from ._state import Exchange, State, Upscope, Upscopes
from ._token import Policy, Token

__all__ = [
    "Action",
    "BearerChallenge",
    "BodyNotReplayableError",
    "Challenge",
    "DPoPChallenge",
    "Deliver",
    "Event",
    "Exchange",
    "GiveUp",
    "HeaderParseError",
    "LocalProtocolError",
    "MalformedChallengeError",
    "Policy",
    "Reason",
    "RedactingFilter",
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
    "dpop_challenge",
    "dpop_nonce",
    "format_challenge",
    "format_scope",
    "invalid_scope_tokens",
    "parse_scope",
    "parse_www_authenticate",
    "redact",
    "redact_headers",
    "www_authenticate_values",
]

__version__ = "0.1.0"
