"""Golden scripts for the step-up machine: inputs -> expected actions, as data.

Each script is a list of steps ``(exchange, input, expected)``. ``exchange`` names an
exchange (made on first use, for ``URL``); ``input`` is ``START``, ``RESUME`` or an
event; ``expected`` is a short tuple that says what the action must be (see
``summary``). One ``Upscope`` per script, so scripts can show several concurrent
exchanges.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import attrs
import pytest

from sansio_upscope import (
    BodyNotReplayableError,
    Deliver,
    GiveUp,
    LocalProtocolError,
    MalformedChallengeError,
    Policy,
    Reason,
    RequestToken,
    ResponseReceived,
    Retry,
    ScopeNotAllowedError,
    ScopeNotGrantedError,
    Send,
    State,
    StepUpError,
    StepUpLoopError,
    Token,
    TokenFailed,
    TokenIssued,
    TokenRequestFailedError,
    TooManyRetriesError,
    TooManyTokenRequestsError,
    Upscope,
    Upscopes,
    WaitForToken,
    _state,
)
from sansio_upscope._state import (
    CHALLENGES,
    NEED_CHECKS,
    NEXT_STATE,
    OUTCOMES,
    TRANSITIONS,
    Input,
)

URL = "https://api.example/mcp"
PRM = "https://api.example/.well-known/oauth-protected-resource/mcp"
START, RESUME = Input.START, Input.RESUME


def start_at(now: float) -> tuple[Input, float]:
    return (START, now)


def resume_at(now: float) -> tuple[Input, float]:
    return (RESUME, now)


def www(value: str, status: int = 403, *, nonce: str | None = None) -> ResponseReceived:
    headers = [("WWW-Authenticate", value)]
    if nonce is not None:
        headers.append(("DPoP-Nonce", nonce))
    return ResponseReceived(status_code=status, headers=headers)


def ok(status: int = 200) -> ResponseReceived:
    return ResponseReceived(status_code=status, headers=[("Content-Type", "text/plain")])


def issued(access: str, *scopes: str, refresh: str | None = None, **kw: Any) -> TokenIssued:
    return TokenIssued(
        token=Token(
            access, scopes=frozenset(scopes) if scopes else None, refresh_token=refresh, **kw
        )
    )


def scope403(scope: str | None = None, **params: str) -> ResponseReceived:
    value = 'Bearer error="insufficient_scope"'
    if scope is not None:
        value += f', scope="{scope}"'
    for name, param in params.items():
        value += f', {name}="{param}"'
    return www(value)


UNAUTHORIZED = www('Bearer error="invalid_token", scope="read"', 401)
BARE_401 = ResponseReceived(status_code=401, headers=[])


def summary(action: Any) -> tuple[Any, ...]:
    """The parts of an action a script checks."""
    if isinstance(action, (Send, Retry)):
        return (type(action).__name__, action.authorization, action.dpop_nonce)
    if isinstance(action, RequestToken):
        return ("RequestToken", action.reason, " ".join(sorted(action.scopes)), action.can_refresh)
    if isinstance(action, WaitForToken):
        return ("WaitForToken", action.token_request)
    if isinstance(action, GiveUp):
        return ("GiveUp", type(action.error))
    assert isinstance(action, Deliver)
    return ("Deliver",)


def send(auth: str | None = None, nonce: str | None = None) -> tuple[Any, ...]:
    return ("Send", auth, nonce)


def retry(auth: str | None, nonce: str | None = None) -> tuple[Any, ...]:
    return ("Retry", auth, nonce)


def token(reason: Reason, scopes: str, can_refresh: bool = False) -> tuple[Any, ...]:
    return ("RequestToken", reason, scopes, can_refresh)


def give_up(kind: type[StepUpError]) -> tuple[Any, ...]:
    return ("GiveUp", kind)


DELIVER = ("Deliver",)
Step = tuple[str, Any, tuple[Any, ...]]

SCRIPTS: dict[str, tuple[Policy, list[Step]]] = {
    # Rule 1: not 401/403 -> delivered, headers never parsed.
    "200 delivered": (Policy(), [("a", START, send()), ("a", ok(), DELIVER)]),
    "500 with a challenge is delivered": (
        Policy(),
        [("a", START, send()), ("a", www('Bearer error="insufficient_scope"', 500), DELIVER)],
    ),
    # First contact: 401 to no token (MCP discovery), then step-up to a wider scope.
    "401 then 403 step-up with union scopes": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            (
                "a",
                scope403("write", resource_metadata=PRM),
                token(Reason.INSUFFICIENT_SCOPE, "read write"),
            ),
            ("a", issued("T2", "read", "write"), retry("Bearer T2")),
            ("a", ok(), DELIVER),
            ("b", START, send("Bearer T2")),
            ("b", ok(), DELIVER),
        ],
    ),
    # Rule 2: any 403 but insufficient_scope is final; so is a 403 with no challenge.
    "403 other error delivered": (
        Policy(),
        [("a", START, send()), ("a", www('Bearer error="invalid_request"'), DELIVER)],
    ),
    "403 without a challenge delivered": (
        Policy(),
        [("a", START, send()), ("a", ResponseReceived(status_code=403), DELIVER)],
    ),
    "401 Basic only is not ours": (
        Policy(),
        [("a", START, send()), ("a", www('Basic realm="x"', 401), DELIVER)],
    ),
    "401 with an unknown error code is delivered": (
        Policy(),
        [("a", START, send()), ("a", www('Bearer error="invalid_dpop_proof"', 401), DELIVER)],
    ),
    # 401 with no WWW-Authenticate at all still gets a token (hostile-server suite).
    "bare 401 asks for a token": (
        Policy(initial_scopes={"read"}),
        [
            ("a", START, send()),
            ("a", BARE_401, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1"), retry("Bearer T1")),
            ("a", BARE_401, give_up(StepUpLoopError)),
        ],
    ),
    # Rule 2 + SEP-2350: accumulate; scopes known to be granted are kept.
    "union of requested, granted and challenged": (
        Policy(initial_scopes={"base"}),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "base read")),
            ("a", issued("T1", "base", "read", "extra"), retry("Bearer T1")),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "base extra read write")),
            ("a", issued("T2"), retry("Bearer T2")),
            ("a", ok(), DELIVER),
        ],
    ),
    # Rule 3: a refresh can serve a fresh token for the same scopes, never a wider one.
    "invalid_token with a refresh token: refresh can serve": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read", refresh="R1"), retry("Bearer T1")),
            ("a", ok(), DELIVER),
            ("b", START, send("Bearer T1")),
            ("b", UNAUTHORIZED, token(Reason.INVALID_TOKEN, "read", can_refresh=True)),
            ("b", issued("T2", "read", refresh="R2"), retry("Bearer T2")),
            ("b", ok(), DELIVER),
            ("c", START, send("Bearer T2")),
            ("c", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "read write", False)),
        ],
    ),
    # Rule 4: the same challenge after a step-up gives up, in the same exchange...
    "same challenge again gives up": (
        Policy(),
        [
            ("a", START, send()),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "write")),
            ("a", issued("T1"), retry("Bearer T1")),
            ("a", scope403("write"), give_up(StepUpLoopError)),
        ],
    ),
    # ... and across exchanges: no new token request for a challenge already answered.
    "loop guard across exchanges, even after a success": (
        Policy(),
        [
            ("a", START, send()),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "write")),
            ("a", issued("T1"), retry("Bearer T1")),
            ("a", scope403("write"), give_up(StepUpLoopError)),
            ("b", START, send("Bearer T1")),
            ("b", ok(), DELIVER),
            ("c", START, send("Bearer T1")),
            ("c", scope403("write"), give_up(StepUpLoopError)),
        ],
    ),
    # Two alternating challenges cannot loop: the token already holds both.
    "alternating challenges": (
        Policy(),
        [
            ("a", START, send()),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "write")),
            ("a", issued("T1"), retry("Bearer T1")),
            ("a", scope403("admin"), token(Reason.INSUFFICIENT_SCOPE, "admin write")),
            ("a", issued("T2"), retry("Bearer T2")),
            ("a", scope403("write"), give_up(StepUpLoopError)),
            ("b", START, send("Bearer T2")),
            ("b", scope403("admin"), give_up(StepUpLoopError)),
        ],
    ),
    # A narrower grant cannot satisfy the challenge: give up at once, no retry.
    "narrower grant": (
        Policy(),
        [
            ("a", START, send()),
            ("a", scope403("read write"), token(Reason.INSUFFICIENT_SCOPE, "read write")),
            ("a", issued("T1", "read"), give_up(ScopeNotGrantedError)),
            ("b", START, send("Bearer T1")),
            ("b", scope403("read write"), give_up(ScopeNotGrantedError)),
        ],
    ),
    # The PyPI `mcp` server: insufficient_scope with no scope parameter.
    "scopeless 403: one step-up, then a clear give-up": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            (
                "a",
                www('Bearer error="insufficient_scope", error_description="Required scope: write"'),
                token(Reason.INSUFFICIENT_SCOPE, "read"),
            ),
            ("a", issued("T2", "read", "write"), retry("Bearer T2")),
            (
                "a",
                www('Bearer error="insufficient_scope", error_description="Required scope: admin"'),
                give_up(StepUpLoopError),
            ),
            ("b", START, send("Bearer T2")),
            ("b", ok(), DELIVER),
            (
                "c",
                START,
                send("Bearer T2"),
            ),
            (
                "c",
                www('Bearer error="insufficient_scope", error_description="Required scope: admin"'),
                give_up(StepUpLoopError),
            ),
        ],
    ),
    "scopeless 403 where the new token adds nothing": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("a", scope403(), token(Reason.INSUFFICIENT_SCOPE, "read")),
            ("a", issued("T2", "read"), give_up(StepUpLoopError)),
        ],
    ),
    "scopeless 403 with a scope hint": (
        Policy(initial_scopes={"write"}),
        [
            ("a", START, send()),
            ("a", scope403(), token(Reason.INSUFFICIENT_SCOPE, "write")),
            ("a", issued("T1"), retry("Bearer T1")),
            ("a", ok(), DELIVER),
        ],
    ),
    # Rule 4: max_token_requests bounds every exchange.
    "max_token_requests": (
        Policy(max_token_requests=1),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("a", scope403("write"), give_up(TooManyTokenRequestsError)),
        ],
    ),
    "max_retries": (
        Policy(max_retries=1, max_token_requests=5),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("a", scope403("write"), give_up(TooManyRetriesError)),
        ],
    ),
    # Rule 5: single flight. b waits for a's token request, then retries with no request.
    "single flight: one token request, two retries": (
        Policy(),
        [
            ("a", START, send()),
            ("b", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("b", UNAUTHORIZED, ("WaitForToken", 1)),
            ("b", RESUME, ("WaitForToken", 1)),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("b", RESUME, retry("Bearer T1")),
            ("a", ok(), DELIVER),
            ("b", ok(), DELIVER),
        ],
    ),
    # Rule 5: a response to an older token is retried with the newer one, no request.
    "stale token retried without a token request": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("b", START, send("Bearer T1")),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "read write")),
            ("a", issued("T2", "read", "write"), retry("Bearer T2")),
            ("b", scope403("write"), retry("Bearer T2")),
            ("b", ok(), DELIVER),
        ],
    ),
    "stale token that still lacks the scope asks again": (
        Policy(),
        [
            ("a", START, send()),
            ("b", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("b", scope403("admin"), token(Reason.INSUFFICIENT_SCOPE, "admin read")),
        ],
    ),
    # A waiter whose need the new token does not meet asks again itself.
    "waiter with another need asks again": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("b", START, send("Bearer T1")),
            ("c", START, send("Bearer T1")),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "read write")),
            ("b", scope403("admin"), ("WaitForToken", 2)),
            ("c", scope403("write"), ("WaitForToken", 2)),
            ("a", issued("T2", "read", "write"), retry("Bearer T2")),
            ("c", RESUME, retry("Bearer T2")),
            ("b", RESUME, token(Reason.INSUFFICIENT_SCOPE, "admin read write")),
        ],
    ),
    # A start while a token request is under way and no token is held waits for it.
    "start waits while the first token is being fetched": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("b", START, ("WaitForToken", 1)),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("b", RESUME, send("Bearer T1")),
        ],
    ),
    "waiters share a failure": (
        Policy(),
        [
            ("a", START, send()),
            ("c", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("b", START, ("WaitForToken", 1)),
            ("c", UNAUTHORIZED, ("WaitForToken", 1)),
            ("a", TokenFailed(error=RuntimeError("AS down")), give_up(TokenRequestFailedError)),
            ("b", RESUME, give_up(TokenRequestFailedError)),
            ("c", RESUME, give_up(TokenRequestFailedError)),
        ],
    ),
    "a cancelled token request hands over to a waiter": (
        Policy(),
        [
            ("a", START, send()),
            ("c", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("b", START, ("WaitForToken", 1)),
            ("c", UNAUTHORIZED, ("WaitForToken", 1)),
            ("a", TokenFailed(cancelled=True), give_up(TokenRequestFailedError)),
            ("c", RESUME, token(Reason.NO_TOKEN, "read")),
            ("b", RESUME, ("WaitForToken", 2)),
            ("c", issued("T1", "read"), retry("Bearer T1")),
            ("b", RESUME, send("Bearer T1")),
        ],
    ),
    "a waiter of a cancelled first request starts over": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("b", START, ("WaitForToken", 1)),
            ("a", TokenFailed(cancelled=True), give_up(TokenRequestFailedError)),
            ("b", RESUME, send()),
        ],
    ),
    # Rule 6: a scope outside the ceiling gives up before any token request.
    "allowed_scopes ceiling": (
        Policy(allowed_scopes={"read", "write"}),
        [
            ("a", START, send()),
            ("a", scope403("write admin"), give_up(ScopeNotAllowedError)),
        ],
    ),
    "max_scopes bounds the union": (
        Policy(max_scopes=2),
        [
            ("a", START, send()),
            ("a", scope403("a b"), token(Reason.INSUFFICIENT_SCOPE, "a b")),
            ("a", issued("T1"), retry("Bearer T1")),
            ("a", scope403("c"), give_up(ScopeNotAllowedError)),
        ],
    ),
    "within the ceiling": (
        Policy(allowed_scopes={"read", "write"}),
        [
            ("a", START, send()),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "write")),
        ],
    ),
    # Rule 7: RFC 9470 step-up authentication.
    "insufficient_user_authentication": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read", refresh="R1"), retry("Bearer T1")),
            (
                "a",
                www('Bearer error="insufficient_user_authentication", acr_values="myACR"', 401),
                token(Reason.INSUFFICIENT_USER_AUTHENTICATION, "read", False),
            ),
            ("a", issued("T2", "read"), retry("Bearer T2")),
            ("a", ok(), DELIVER),
            ("b", START, send("Bearer T2")),
            (
                "b",
                www('Bearer error="insufficient_user_authentication", acr_values="myACR"', 401),
                token(Reason.INSUFFICIENT_USER_AUTHENTICATION, "read", False),
            ),
            ("b", issued("T3", "read"), retry("Bearer T3")),
            (
                "b",
                www('Bearer error="insufficient_user_authentication", acr_values="myACR"', 401),
                give_up(StepUpLoopError),
            ),
        ],
    ),
    "a waiter for a user authentication takes the new token": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("b", START, send("Bearer T1")),
            (
                "a",
                www('Bearer error="insufficient_user_authentication", max_age="5"', 401),
                token(Reason.INSUFFICIENT_USER_AUTHENTICATION, "read"),
            ),
            (
                "b",
                www('Bearer error="insufficient_user_authentication", max_age="5"', 401),
                ("WaitForToken", 2),
            ),
            ("a", issued("T2", "read"), retry("Bearer T2")),
            ("b", RESUME, retry("Bearer T2")),
        ],
    ),
    # Rule 7: DPoP nonce, once per new nonce (RFC 9449 §9).
    "use_dpop_nonce retries once per new nonce": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("D1", "read", token_type="DPoP"), retry("DPoP D1")),
            (
                "a",
                www('DPoP error="use_dpop_nonce"', 401, nonce="n1"),
                retry("DPoP D1", "n1"),
            ),
            (
                "a",
                www('DPoP error="use_dpop_nonce"', 401, nonce="n1"),
                give_up(StepUpLoopError),
            ),
            ("b", START, send("DPoP D1", "n1")),
            (
                "b",
                www('DPoP error="use_dpop_nonce"', 401, nonce="n2"),
                retry("DPoP D1", "n2"),
            ),
            ("b", ok(), DELIVER),
        ],
    ),
    "use_dpop_nonce without a nonce header": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("D1", "read", token_type="DPoP"), retry("DPoP D1")),
            ("a", www('DPoP error="use_dpop_nonce"', 401), give_up(StepUpLoopError)),
        ],
    ),
    # A nonce is for DPoP proofs: a request that carried none (no token, or a Bearer
    # token) gets the 401 delivered, not a retry with a nonce it cannot use.
    "use_dpop_nonce to a request without a DPoP token": (
        Policy(),
        [
            ("a", START, send()),
            ("a", www('DPoP error="use_dpop_nonce"', 401, nonce="n1"), DELIVER),
            ("b", START, send()),
            ("b", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("b", issued("T1", "read"), retry("Bearer T1")),
            ("b", www('DPoP error="use_dpop_nonce"', 401, nonce="n1"), DELIVER),
        ],
    ),
    # Expiry: a token known to be expired is renewed before sending, not after a 401.
    "expired token renewed before sending": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read", refresh="R1", expires_at=100.0), retry("Bearer T1")),
            ("a", ok(), DELIVER),
            ("b", start_at(50.0), send("Bearer T1")),
            ("c", start_at(100.0), token(Reason.EXPIRED, "read", can_refresh=True)),
            ("d", start_at(100.0), ("WaitForToken", 2)),
            ("c", issued("T2", "read", expires_at=200.0), send("Bearer T2")),
            ("d", RESUME, send("Bearer T2")),
            ("e", start_at(300.0), token(Reason.EXPIRED, "read", can_refresh=False)),
            ("f", start_at(300.0), ("WaitForToken", 3)),
            ("e", TokenFailed(error=ValueError("refused")), give_up(TokenRequestFailedError)),
            ("f", resume_at(300.0), give_up(TokenRequestFailedError)),
        ],
    ),
    # Malformed scope tokens are never sent to the authorization server.
    "invalid scope token in the challenge": (
        Policy(),
        [
            ("a", START, send()),
            (
                "a",
                www('Bearer error="insufficient_scope", scope="ok bad\\"quote"'),
                give_up(MalformedChallengeError),
            ),
        ],
    ),
    "a new nonce every time is still bounded": (
        Policy(max_retries=3),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("D1", "read", token_type="DPoP"), retry("DPoP D1")),
            ("a", www('DPoP error="use_dpop_nonce"', 401, nonce="n1"), retry("DPoP D1", "n1")),
            ("a", www('DPoP error="use_dpop_nonce"', 401, nonce="n2"), retry("DPoP D1", "n2")),
            (
                "a",
                www('DPoP error="use_dpop_nonce"', 401, nonce="n3"),
                give_up(TooManyRetriesError),
            ),
        ],
    ),
    "stale token with a one-shot body": (
        Policy(),
        [
            ("a!", START, send()),
            ("b", START, send()),
            ("b", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("b", issued("T1", "read"), retry("Bearer T1")),
            ("a!", UNAUTHORIZED, give_up(BodyNotReplayableError)),
        ],
    ),
    # A configurable limit on the challenge size, checked before parsing.
    "oversized challenge is not parsed": (
        Policy(max_challenge_size=100),
        [
            ("a", START, send()),
            (
                "a",
                www('Bearer error="insufficient_scope", scope="' + "a " * 60 + '"'),
                give_up(MalformedChallengeError),
            ),
            ("b", START, send()),
            (
                "b",
                www('Bearer error="insufficient_scope", scope="write"'),
                token(Reason.INSUFFICIENT_SCOPE, "write"),
            ),
        ],
    ),
    # Rule 5 with a refusal: waiters for a need the new token does not meet give up
    # with the owner's answer instead of asking one after another.
    "waiters for a refused scope ask nothing more": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("b", START, send("Bearer T1")),
            ("c", START, send("Bearer T1")),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "read write")),
            ("b", scope403("write"), ("WaitForToken", 2)),
            ("c", scope403("write"), ("WaitForToken", 2)),
            ("a", issued("T2", "read"), give_up(ScopeNotGrantedError)),
            ("b", RESUME, give_up(ScopeNotGrantedError)),
            ("c", RESUME, give_up(ScopeNotGrantedError)),
        ],
    ),
    # Rule 4 across requests: a refused scope is not asked for again, whatever else
    # changed since (another token, other RFC 9470 parameters on the challenge).
    "a refused scope is remembered across tokens": (
        Policy(),
        [
            ("a", START, send()),
            ("a", scope403("admin"), token(Reason.INSUFFICIENT_SCOPE, "admin")),
            ("a", issued("T1", "read"), give_up(ScopeNotGrantedError)),
            ("b", START, send("Bearer T1")),
            ("b", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "read write")),
            ("b", issued("T2", "read", "write"), retry("Bearer T2")),
            ("c", START, send("Bearer T2")),
            ("c", scope403("admin", max_age="5"), give_up(ScopeNotGrantedError)),
            ("d", START, send("Bearer T2")),
            ("d", scope403("admin other"), give_up(ScopeNotGrantedError)),
        ],
    ),
    # A declined scope is not asked for again on renewal, so a refresh can serve.
    "renewal after a refusal can refresh": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read", refresh="R1"), retry("Bearer T1")),
            ("a", scope403("admin"), token(Reason.INSUFFICIENT_SCOPE, "admin read")),
            ("a", issued("T2", "read", refresh="R2"), give_up(ScopeNotGrantedError)),
            ("b", START, send("Bearer T2")),
            ("b", UNAUTHORIZED, token(Reason.INVALID_TOKEN, "read", can_refresh=True)),
        ],
    ),
    # RFC 9470: a response to the old token after the new authentication succeeded is
    # retried with the new token, not answered with a second authentication.
    "stale insufficient_user_authentication after a success": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("b", START, send("Bearer T1")),
            (
                "a",
                www('Bearer error="insufficient_user_authentication", acr_values="mfa"', 401),
                token(Reason.INSUFFICIENT_USER_AUTHENTICATION, "read"),
            ),
            ("a", issued("T2", "read"), retry("Bearer T2")),
            ("a", ok(), DELIVER),
            (
                "b",
                www('Bearer error="insufficient_user_authentication", acr_values="mfa"', 401),
                retry("Bearer T2"),
            ),
        ],
    ),
    # A success elsewhere says nothing about an authentication the AS never satisfied.
    "an unrelated success does not re-arm a failed authentication": (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            (
                "a",
                www('Bearer error="insufficient_user_authentication", acr_values="mfa"', 401),
                token(Reason.INSUFFICIENT_USER_AUTHENTICATION, "read"),
            ),
            ("a", issued("T2", "read"), retry("Bearer T2")),
            (
                "a",
                www('Bearer error="insufficient_user_authentication", acr_values="mfa"', 401),
                give_up(StepUpLoopError),
            ),
            ("b", START, send("Bearer T2")),
            ("b", ok(), DELIVER),
            ("c", START, send("Bearer T2")),
            (
                "c",
                www('Bearer error="insufficient_user_authentication", acr_values="mfa"', 401),
                give_up(StepUpLoopError),
            ),
        ],
    ),
    # The ceiling holds for scopes the AS granted unasked, too.
    "granted scopes outside the ceiling are not asked for": (
        Policy(allowed_scopes={"read", "write"}),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read", "admin"), retry("Bearer T1")),
            ("a", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "read write")),
        ],
    ),
    # scope="" names no scope: the scopeless path, not "the token holds them all".
    'scope="" is like no scope': (
        Policy(),
        [
            ("a", START, send()),
            ("a", UNAUTHORIZED, token(Reason.NO_TOKEN, "read")),
            ("a", issued("T1", "read"), retry("Bearer T1")),
            ("a", scope403(""), token(Reason.INSUFFICIENT_SCOPE, "read")),
        ],
    ),
    # Rule 8: replayability is an input; a needed retry of a one-shot body gives up.
    "non-replayable body": (
        Policy(),
        [
            ("a!", START, send()),
            ("a!", scope403("write"), token(Reason.INSUFFICIENT_SCOPE, "write")),
            ("a!", issued("T1"), give_up(BodyNotReplayableError)),
            # the advice holds: sent again by the caller, it carries the new token
            ("b", START, send("Bearer T1")),
            ("b", ok(), DELIVER),
        ],
    ),
}


def run_script(policy: Policy, steps: list[Step]) -> Upscope:
    upscope = Upscope(URL, policy=policy)
    exchanges: dict[str, Any] = {}
    for number, (name, step_input, expected) in enumerate(steps):
        ex = exchanges.get(name)
        if ex is None:
            ex = exchanges[name] = upscope.exchange("POST", URL, replayable=not name.endswith("!"))
        kind, now = step_input if isinstance(step_input, tuple) else (step_input, None)
        handler = TRANSITIONS[ex.state][kind if isinstance(kind, Input) else type(kind)]
        if kind is START:
            action = ex.start(now=now)
        elif kind is RESUME:
            action = ex.resume(now=now)
        else:
            action = ex.receive(step_input)
        assert summary(action) == expected, f"step {number} ({name}): {action!r}"
        assert type(action) in OUTCOMES[handler], (handler, action)
        assert ex.state is NEXT_STATE[type(action)]
    return upscope


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_golden_script(name: str) -> None:
    policy, steps = SCRIPTS[name]
    run_script(policy, steps)


def test_need_checks_return_what_they_declare(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every check of the need pipeline decides in some golden script, and only ever
    with the action (and error class) NEED_CHECKS declares for it, so the generated
    table in docs/state-table.md says what the code does."""
    decided: set[str] = set()

    def watched(step: Any) -> Any:
        @functools.wraps(step.check)
        def check(ex: Any, need: Any, scopes: frozenset[str]) -> Any:
            action = step.check(ex, need, scopes)
            if action is not None:
                decided.add(step.name)
                error = type(action.error) if isinstance(action, GiveUp) else None
                retry_gave_up = step.answers is Retry and error in (
                    BodyNotReplayableError,  # rule 8, checked at every retry
                    TooManyRetriesError,
                )
                assert (type(action), error) == (step.answers, step.error) or retry_gave_up
            return action

        return attrs.evolve(step, check=check)

    monkeypatch.setattr(_state, "NEED_CHECKS", tuple(watched(step) for step in NEED_CHECKS))
    for policy, steps in SCRIPTS.values():
        run_script(policy, steps)
    assert decided == {step.name for step in NEED_CHECKS}


# -- the table itself ----------------------------------------------------------------

#: A script prefix that leaves an exchange in each state.
REACH: dict[State, list[tuple[Any, Any]]] = {
    State.NEW: [],
    State.AWAITING_RESPONSE: [(START, None)],
    State.AWAITING_TOKEN: [(START, None), (UNAUTHORIZED, None)],
    State.DELIVERED: [(START, None), (ok(), None)],
    State.GAVE_UP: [(START, None), (www('Bearer error="insufficient_scope", scope="a\\"b"'), None)],
}
EVENTS: dict[Any, Any] = {
    START: START,
    RESUME: RESUME,
    ResponseReceived: ok(),
    TokenIssued: issued("T"),
    TokenFailed: TokenFailed(error=None),
}


def _drive(ex: Any, step: Any) -> Any:
    if step is START:
        return ex.start()
    if step is RESUME:
        return ex.resume()
    return ex.receive(step)


def _in_state(state: State) -> Any:
    upscope = Upscope(URL)
    if state is State.WAITING_FOR_TOKEN:
        owner = upscope.exchange("GET", URL)
        owner.start()
        owner.receive(UNAUTHORIZED)
        ex = upscope.exchange("GET", URL)
        ex.start()
    elif state is State.ABANDONED:
        ex = upscope.exchange("GET", URL)
        ex.start()
        ex.abandon()
    elif state is State.ERROR:
        ex = upscope.exchange("GET", URL)
        with pytest.raises(LocalProtocolError):
            ex.resume()
    else:
        ex = upscope.exchange("GET", URL)
        for step, _ in REACH[state]:
            _drive(ex, step)
    assert ex.state is state
    return ex


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("kind", list(EVENTS))
def test_every_state_input_pair(state: State, kind: Any) -> None:
    ex = _in_state(state)
    if kind in TRANSITIONS[state]:
        action = _drive(ex, EVENTS[kind])
        assert ex.state is NEXT_STATE[type(action)]
    else:
        with pytest.raises(LocalProtocolError, match=state.name):
            _drive(ex, EVENTS[kind])
        assert ex.state is State.ERROR
        with pytest.raises(LocalProtocolError, match="ERROR"):
            ex.start()


def test_table_covers_every_state_and_action() -> None:
    assert set(TRANSITIONS) == set(State)
    assert set(NEXT_STATE) == {Send, Retry, RequestToken, WaitForToken, Deliver, GiveUp}
    # every error code the table follows is one of the RFCs' words
    assert {error for _, error in CHALLENGES} == {
        None,
        "invalid_token",
        "insufficient_scope",
        "insufficient_user_authentication",
        "use_dpop_nonce",
    }


# -- shared state, origins, secrets -------------------------------------------------


def test_token_only_for_its_origin() -> None:
    upscopes = Upscopes()
    upscope = upscopes.for_url("https://api.example/a")
    assert upscopes.for_url("HTTPS://API.EXAMPLE:443/b") is upscope
    assert upscopes.for_url("http://api.example/a") is not upscope
    assert upscopes.for_url("https://api.example:8443/") is not upscope
    assert len(upscopes) == 3
    with pytest.raises(LocalProtocolError, match="cannot send its token"):
        upscope.exchange("GET", "https://evil.example/a")


def test_resource_for_splits_an_origin_into_protected_resources() -> None:
    def resource_for(url: str) -> str:
        return "https://api.example/mcp" if "/mcp" in url else "https://api.example/api/"

    upscopes = Upscopes(resource_for=resource_for)
    mcp = upscopes.for_url("https://api.example/mcp?session=1")
    api = upscopes.for_url("https://api.example/api/notes/7")
    assert mcp is not api and upscopes.for_url("https://api.example/api/other") is api
    assert len(upscopes) == 2 and api.resource == "https://api.example/api/"
    ex = api.exchange("GET", "https://api.example/api/notes/7")
    ex.start()
    request = ex.receive(UNAUTHORIZED)
    assert isinstance(request, RequestToken) and request.resource == "https://api.example/api/"
    ex.receive(issued("T-api", "read"))
    assert mcp.token is None  # each protected resource holds its own token
    with pytest.raises(LocalProtocolError, match="not on the origin"):
        Upscopes(resource_for=lambda url: "https://elsewhere.example/").for_url(URL)


def test_upscopes_exchange_is_for_url_then_exchange() -> None:
    upscopes = Upscopes()
    ex = upscopes.exchange("POST", "https://api.example/a?x=1", replayable=False)
    assert ex.upscope is upscopes.for_url("https://api.example/b")
    assert (ex.method, ex.url, ex.replayable, ex.state) == (
        "POST",
        "https://api.example/a?x=1",
        False,
        State.NEW,
    )
    assert isinstance(ex.start(), Send)
    with pytest.raises(LocalProtocolError, match="not an absolute http or https URL"):
        upscopes.exchange("GET", "ftp://api.example/")


def test_upscopes_exchange_checks_the_origin_a_resource_for_function_names() -> None:
    # The function files every URL under one resource: a URL of another origin is
    # refused, not sent the first origin's token.
    upscopes = Upscopes(resource_for=lambda url: "https://api.example/")
    assert upscopes.exchange("GET", URL).upscope is upscopes.for_url(URL)
    with pytest.raises(LocalProtocolError, match="cannot send its token"):
        upscopes.exchange("GET", "https://evil.example/a")


def test_an_exchange_reads_the_debug_level_when_made(caplog: pytest.LogCaptureFixture) -> None:
    upscopes = Upscopes()
    with caplog.at_level(logging.INFO, logger="sansio_upscope.machine"):
        quiet = upscopes.exchange("GET", URL)
    with caplog.at_level(logging.DEBUG, logger="sansio_upscope.machine"):
        loud = upscopes.exchange("GET", URL)
        by_hand = Upscope(URL).exchange("GET", URL)
        for ex in (quiet, loud, by_hand):
            ex.start()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2 and all("Send -> AWAITING_RESPONSE" in line for line in lines)


def test_a_token_request_is_logged_by_the_level_read_when_the_exchange_was_made(
    caplog: pytest.LogCaptureFixture,
) -> None:
    challenge = ResponseReceived(status_code=401, headers=[("WWW-Authenticate", "Bearer")])
    with caplog.at_level(logging.INFO, logger="sansio_upscope.machine"):
        quiet = Upscopes().exchange("GET", URL)
    with caplog.at_level(logging.DEBUG, logger="sansio_upscope.machine"):
        loud = Upscopes().exchange("GET", URL)
        for ex in (quiet, loud):
            ex.start()
            assert isinstance(ex.receive(challenge), RequestToken)
    lines = [
        record.getMessage()
        for record in caplog.records
        if "requests a token" in record.getMessage()
    ]
    assert len(lines) == 1 and "reason=no_token" in lines[0], lines


@pytest.mark.parametrize("url", ["ftp://x/", "/relative", "https:///nohost", "http://x:99999/"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(LocalProtocolError):
        Upscope(url)


def test_resource_indicator_drops_query_and_fragment() -> None:
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", "https://API.example/mcp?token=secret#frag")
    ex.start()
    request = ex.receive(UNAUTHORIZED)
    assert isinstance(request, RequestToken)
    assert request.resource == "https://api.example/mcp"
    assert "secret" not in repr(ex)


def test_no_secret_in_reprs_or_messages() -> None:
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", URL)
    ex.start()
    ex.receive(UNAUTHORIZED)
    secret = issued("SECRET-ACCESS", "read", refresh="SECRET-REFRESH")
    retry_action = ex.receive(secret)
    assert isinstance(retry_action, Retry) and retry_action.authorization == "Bearer SECRET-ACCESS"
    given_up = ex.receive(scope403("write"))
    assert isinstance(given_up, RequestToken)
    failed = ex.receive(TokenFailed(error=RuntimeError("boom")))
    assert isinstance(failed, GiveUp)
    texts = [
        repr(upscope),
        repr(ex),
        repr(secret),
        repr(retry_action),
        repr(given_up),
        repr(failed),
        str(failed.error),
        repr(upscope.token),
    ]
    for text in texts:
        assert "SECRET" not in text, text


def test_give_up_errors_explain_and_carry_the_challenge() -> None:
    upscope = Upscope(URL, policy=Policy(allowed_scopes={"read"}))
    ex = upscope.exchange("GET", URL)
    ex.start()
    action = ex.receive(
        www(
            'Bearer error="insufficient_scope", scope="admin", '
            f'resource_metadata="{PRM}", error_description="Admin only"'
        )
    )
    assert isinstance(action, GiveUp)
    error = action.error
    assert ex.error is error
    assert isinstance(error, ScopeNotAllowedError)
    assert error.status_code == 403
    assert error.resource_metadata == PRM
    assert error.error_description == "Admin only"
    text = str(error)
    assert "admin" in text and "'Admin only'" in text and "allowed_scopes" in text
    bare = StepUpError("Something happened", scopes=frozenset(), advice="Do this.")
    assert bare.resource_metadata is None and bare.error_description is None
    assert str(bare) == 'Something happened. Scopes requested: "". Do this.'


def test_scopeless_give_up_quotes_the_server() -> None:
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", URL)
    ex.start()
    ex.receive(UNAUTHORIZED)
    ex.receive(issued("T1", "read"))
    required = www('Bearer error="insufficient_scope", error_description="Required scope: write"')
    ex.receive(required)
    action = ex.receive(issued("T2", "read"))
    assert isinstance(action, GiveUp)
    assert "Required scope: write" in str(action.error)
    assert "initial_scopes" in str(action.error)


def test_abandon_releases_the_token_request() -> None:
    upscope = Upscope(URL)
    owner = upscope.exchange("GET", URL)
    owner.start()
    owner.receive(UNAUTHORIZED)
    assert upscope.token_request_under_way
    wait = upscope.exchange("GET", URL).start()
    assert isinstance(wait, WaitForToken) and not upscope.token_request_ended(wait)
    assert not owner.finished
    owner.abandon()
    assert owner.state is State.ABANDONED and not upscope.token_request_under_way
    assert owner.finished
    assert upscope.token_request_ended(wait)
    owner.abandon()  # a no-op once ended
    done = upscope.exchange("GET", URL)
    done.start()
    done.receive(ok())
    assert done.finished
    done.abandon()
    assert done.state is State.DELIVERED
    idle = upscope.exchange("GET", URL)
    idle.abandon()
    assert idle.state is State.ABANDONED


def test_token_request_ended_answers_for_the_request_waited_for() -> None:
    """A waiter resumes when the request it waits for ends, issued or failed, and not
    before; a later token request does not make an earlier wait pending again."""
    upscope = Upscope(URL)
    owner, waiter = upscope.exchange("GET", URL), upscope.exchange("GET", URL)
    owner.start()
    owner.receive(UNAUTHORIZED)
    first = waiter.start()
    assert first == WaitForToken(token_request=1)
    assert not upscope.token_request_ended(first)
    owner.receive(TokenFailed(error=RuntimeError("AS down")))
    assert upscope.token_request_ended(first)
    second_owner = upscope.exchange("GET", URL)
    second_owner.start()
    second_owner.receive(UNAUTHORIZED)
    second = upscope.exchange("GET", URL).start()
    assert second == WaitForToken(token_request=2)
    assert upscope.token_request_ended(first) and not upscope.token_request_ended(second)
    second_owner.receive(issued("T1", "read"))
    assert upscope.token_request_ended(second)


def test_upscope_state_is_read_only() -> None:
    upscope = Upscope(URL)
    for name in (
        "origin",
        "resource",
        "policy",
        "token",
        "generation",
        "requested_scopes",
        "granted_scopes",
        "refused_scopes",
        "dpop_nonce",
        "token_request_under_way",
    ):
        with pytest.raises(AttributeError):
            setattr(upscope, name, getattr(upscope, name))


def test_a_challenge_for_scopes_the_token_holds_says_so() -> None:
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", URL)
    ex.start()
    ex.receive(UNAUTHORIZED)
    ex.receive(issued("T1", "read"))
    action = ex.receive(scope403("read"))
    assert isinstance(action, GiveUp) and isinstance(action.error, StepUpLoopError)
    assert ex.token_requests == 1
    assert "already holds every scope" in str(action.error)
    assert "audience" in str(action.error)


def test_misuse_by_the_owner_releases_the_token_request() -> None:
    upscope = Upscope(URL)
    owner = upscope.exchange("GET", URL)
    owner.start()
    owner.receive(UNAUTHORIZED)
    with pytest.raises(LocalProtocolError):
        owner.resume()
    assert owner.state is State.ERROR and not upscope.token_request_under_way
    other = upscope.exchange("GET", URL)
    assert isinstance(other.start(), Send)


def test_the_origin_check_holds_for_every_spelling_of_a_url() -> None:
    """Rule 10 with the remembered URL heads: a head once found on the origin admits
    only URLs that share it; other spellings, however many, are checked in full."""
    upscope = Upscope(URL)
    spellings = [f"https://user{i}@API.example:443/mcp?{i}" for i in range(40)]
    for _ in range(2):
        for url in [URL, "https://api.example", "HTTPS://api.EXAMPLE/x", *spellings]:
            assert upscope.exchange("GET", url).url == url
    for url in (
        "https://api.example.evil/mcp",
        "https://api.example:8443/mcp",
        "http://api.example/mcp",
        "https://evil.example/https://api.example/mcp",
        "https://evil.example?https://api.example/",
        "https://evil.example#https://api.example/",
    ):
        with pytest.raises(LocalProtocolError, match="cannot send its token"):
            upscope.exchange("GET", url)
    for url in ("/mcp", "api.example/mcp", "mailto:someone@api.example"):
        with pytest.raises(LocalProtocolError, match="not an absolute http or https URL"):
            upscope.exchange("GET", url)


def test_userinfo_never_shown_or_sent_as_the_resource() -> None:
    url = "https://alice:s3cr3t@api.example/mcp?key=SECRET"
    upscope = Upscope(url)
    ex = upscope.exchange("POST", url, replayable=False)
    assert "s3cr3t" not in repr(ex) and "SECRET" not in repr(ex)
    ex.start()
    request = ex.receive(scope403("write"))
    assert isinstance(request, RequestToken)
    assert request.resource == "https://api.example/mcp"
    action = ex.receive(issued("T1"))
    assert isinstance(action, GiveUp) and "s3cr3t" not in str(action.error)
    with pytest.raises(LocalProtocolError) as caught:
        upscope.exchange("GET", "https://other.example/x?access_token=LEAKED")
    assert "LEAKED" not in str(caught.value)
    with pytest.raises(LocalProtocolError) as caught:
        Upscope("ftp://bob:pw@x/?secret=1")
    assert "pw" not in str(caught.value) and "secret" not in str(caught.value)


def test_a_large_grant_renews_despite_max_scopes() -> None:
    many = [f"s{number}" for number in range(10)]
    upscope = Upscope(URL, policy=Policy(max_scopes=5))
    ex = upscope.exchange("GET", URL)
    ex.start()
    ex.receive(UNAUTHORIZED)
    ex.receive(issued("T1", *many))
    renew = upscope.exchange("GET", URL)
    renew.start()
    action = renew.receive(BARE_401)
    assert isinstance(action, RequestToken) and len(action.scopes) == 10


def test_token_issued_takes_only_a_token() -> None:
    with pytest.raises(TypeError):
        TokenIssued(token="eyJhbGciOi")  # type: ignore[arg-type]


def test_forget_lets_it_ask_again() -> None:
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", URL)
    ex.start()
    ex.receive(scope403("admin"))
    ex.receive(issued("T1", "read"))
    assert upscope.refused_scopes == frozenset({"admin"})
    upscope.forget()
    again = upscope.exchange("GET", URL)
    again.start()
    assert isinstance(again.receive(scope403("admin")), RequestToken)


def test_loop_guard_memory_is_bounded() -> None:
    from sansio_upscope._state import MAX_REMEMBERED_NEEDS

    upscope = Upscope(URL, policy=Policy(max_scopes=10_000))
    for number in range(MAX_REMEMBERED_NEEDS + 10):
        ex = upscope.exchange("GET", URL)
        ex.start()
        ex.receive(scope403(f"s{number}"))
        ex.receive(issued(f"T{number}"))
    assert len(upscope._answered) == MAX_REMEMBERED_NEEDS
    # the oldest needs were forgotten; the granted-scope check still stops a repeat
    ex = upscope.exchange("GET", URL)
    ex.start()
    assert isinstance(ex.receive(scope403("s0")), GiveUp)


def test_policy_and_token_validation() -> None:
    with pytest.raises(ValueError, match="max_scopes"):
        Policy(initial_scopes={"a", "b"}, max_scopes=1)
    with pytest.raises(ValueError, match="outside allowed_scopes"):
        Policy(initial_scopes=frozenset({"a"}), allowed_scopes=frozenset({"b"}))
    with pytest.raises(ValueError, match="at least 1"):
        Policy(max_token_requests=0)
    with pytest.raises(TypeError, match="not one str"):
        Token("t", scopes="read write")
    with pytest.raises(ValueError, match="not RFC 6749 scope tokens: 'a b'"):
        Policy(initial_scopes={"a b"})
    with pytest.raises(ValueError, match="scope tokens"):
        Token("t", scopes={'say "hi"'})
    with pytest.raises(ValueError, match="not supported"):
        Token("t", token_type="mac")
    with pytest.raises(ValueError, match="empty"):
        Token("")
    assert Token("t", token_type="bearer").authorization == "Bearer t"
    assert Token("t", token_type="dpop").authorization == "DPoP t"
    assert not Token("t", expires_at=5).expired(None)
    assert Token("t", expires_at=5).expired(5)
    assert Policy(allowed_scopes=None).outside_ceiling(frozenset({"x"})) == frozenset()


def test_headers_as_bytes_like_h11_gives_them() -> None:
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", URL)
    ex.start()
    action = ex.receive(
        ResponseReceived(
            status_code=403,
            headers=[(b"www-authenticate", b'Bearer error="insufficient_scope", scope="w"')],
        )
    )
    assert isinstance(action, RequestToken) and action.scopes == frozenset({"w"})


def test_needs_headers_names_every_status_whose_headers_or_time_can_change_the_action() -> None:
    challenge = [("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="w"')]
    needed = []
    for status in range(100, 600):
        actions = []
        for headers, now in ((challenge, 2000.0), ([], None)):
            upscope = Upscope(URL)
            first = upscope.exchange("GET", URL)
            first.start(now=1.0)
            first.receive(ResponseReceived(status_code=401))
            first.receive(TokenIssued(token=Token("t0", expires_at=1000.0)))
            ex = upscope.exchange("GET", URL)  # sent with t0, which has expired at `now`
            ex.start(now=1.0)
            event = ResponseReceived(status_code=status, headers=headers, now=now)
            actions.append(ex.receive(event))
        if ex.needs_headers(status):
            needed.append(status)
            assert actions[0] != actions[1], status
        else:
            assert actions[0] == actions[1] == Deliver(), status
    assert needed == [401, 403]


def test_status_only_is_one_shared_event_per_status() -> None:
    shared = ResponseReceived.status_only(200)
    assert shared == ResponseReceived(status_code=200)  # no headers, no time, no URL
    assert ResponseReceived.status_only(200) is shared
    assert ResponseReceived.status_only(204) == ResponseReceived(status_code=204)
    assert ResponseReceived.status_only(204) is not shared


@pytest.mark.parametrize(
    ("reason", "token", "scopes", "can_refresh"),
    [
        (Reason.EXPIRED, Token("t", scopes={"a", "b"}, refresh_token="r"), {"a"}, True),
        (Reason.INVALID_TOKEN, Token("t", scopes={"a"}, refresh_token="r"), {"a"}, True),
        # RFC 6749 §6: a refresh cannot widen scope.
        (Reason.EXPIRED, Token("t", scopes={"a"}, refresh_token="r"), {"a", "b"}, False),
        # Granted scopes unknown: a refresh might not cover them.
        (Reason.EXPIRED, Token("t", refresh_token="r"), {"a"}, False),
        (Reason.EXPIRED, Token("t", scopes={"a"}), {"a"}, False),
        # RFC 9470 §4: a new authentication, never a refresh; a step-up needs a new grant.
        (
            Reason.INSUFFICIENT_USER_AUTHENTICATION,
            Token("t", scopes={"a"}, refresh_token="r"),
            {"a"},
            False,
        ),
        (Reason.INSUFFICIENT_SCOPE, Token("t", scopes={"a"}, refresh_token="r"), {"a"}, False),
    ],
)
def test_a_request_given_a_stores_newer_token_decides_refresh_again(
    reason: Reason, token: Token, scopes: set[str], can_refresh: bool
) -> None:
    request = RequestToken(scopes=frozenset(scopes), resource=URL, reason=reason, can_refresh=True)
    again = request.with_current_token(token)
    assert again.current_token is token
    assert again.can_refresh is can_refresh
    assert (again.scopes, again.resource, again.reason) == (request.scopes, URL, reason)


NOW = 1000.0
HELD = Token("held", scopes={"a"}, expires_at=NOW + 60)


@pytest.mark.parametrize(
    ("token", "request_", "kwargs", "answers"),
    [
        (HELD, {}, {}, True),
        (Token("t", scopes={"a", "b"}, expires_at=NOW + 1), {}, {}, True),
        (Token("t", scopes={"a"}), {}, {}, True),  # no expiry known
        (Token("t", scopes={"a"}, expires_at=NOW), {}, {}, False),  # expired
        (Token("t"), {}, {}, False),  # granted scopes unknown
        (Token("t", scopes={"b"}), {}, {}, False),  # a scope missing
        (HELD, {"current_token": Token("held")}, {}, False),  # the very token refused
        (HELD, {"current_token": Token("other")}, {}, True),
        # RFC 9470: only a token obtained for the same acr_values, within max_age.
        (HELD, {"acr_values": ("mfa",)}, {}, False),
        (HELD, {"acr_values": ("mfa",)}, {"acr_values": ("mfa",)}, True),
        (HELD, {"max_age": 60}, {}, False),
        (HELD, {"max_age": 60}, {"obtained_at": NOW - 30}, True),
        (HELD, {"max_age": 60}, {"obtained_at": NOW - 90}, False),
    ],
)
def test_when_a_token_obtained_before_answers_a_token_request(
    token: Token, request_: dict[str, Any], kwargs: dict[str, Any], answers: bool
) -> None:
    request = RequestToken(
        scopes=frozenset({"a"}), resource=URL, reason=Reason.INSUFFICIENT_SCOPE, **request_
    )
    assert request.answered_by(token, now=NOW, **kwargs) is answers


def test_a_token_naming_no_scope_grants_what_was_asked() -> None:
    # RFC 6749 §5.1: scope is omitted from the response when it equals the request's.
    request = RequestToken(scopes=frozenset({"a"}), resource=URL, reason=Reason.NO_TOKEN)
    assert request.granted_by(Token("t")) == {"a"}
    assert request.granted_by(Token("t", scopes={"b"})) == {"b"}


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://other.example/mcp",  # another host
        "https://api.example:8443/mcp",  # another port
        "http://api.example/mcp",  # another scheme
        "ftp://api.example/mcp",  # not http(s): never raises, never ours
    ],
)
def test_a_response_from_another_origin_is_delivered_as_it_is(elsewhere: str) -> None:
    # The foreign-response rule: a redirect took the request off the exchange's origin;
    # that origin's challenge is not this resource's to answer (rule 10).
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", URL)
    ex.start()
    foreign = attrs.evolve(scope403("admin"), url=elsewhere)
    assert ex.receive(foreign) == Deliver()
    assert not upscope.token_request_under_way and upscope.generation == 0


def test_a_response_from_the_same_origin_after_a_redirect_is_stepped_up_on() -> None:
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", URL)
    ex.start()
    moved = attrs.evolve(scope403("admin"), url="HTTPS://API.example:443/other?x=1")
    assert summary(ex.receive(moved)) == token(Reason.INSUFFICIENT_SCOPE, "admin")


def test_a_success_from_another_origin_does_not_clear_the_loop_guard() -> None:
    # A 2xx elsewhere says nothing about the token sent here: the same 401 after it is
    # still the same challenge answered before (rule 4).
    upscope = Upscope(URL)
    first = upscope.exchange("GET", URL)
    assert summary(first.start()) == send()
    first.receive(UNAUTHORIZED)
    first.receive(issued("T1", "read"))
    assert first.receive(attrs.evolve(ok(), url="https://other.example/")) == Deliver()
    again = upscope.exchange("GET", URL)
    assert summary(again.start()) == send("Bearer T1")
    assert summary(again.receive(UNAUTHORIZED)) == give_up(StepUpLoopError)
