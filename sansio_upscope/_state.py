"""Everything that affects the step-up state machine lives here.

Theory of operation
===================

Two objects share the work:

* ``Upscope`` holds what one protected resource (one origin) has taught us: the current
  token and its *generation* (0 = none yet, +1 per token installed), the scopes
  requested and granted, which exchange owns the token request under way (at most
  one: rule 5), and the loop guard: for each challenge answered with a token, the
  generation of that token (rule 4).
* ``Exchange`` is one user request through its life. It takes one input at a time
  (``start()``, ``receive(event)``, ``resume()``) and returns one action.

Two tables decide everything:

* ``TRANSITIONS``: which input each state accepts and which handler reads it. Any
  other input is API misuse: ``LocalProtocolError``, and the exchange stays in
  ``State.ERROR``. The state that follows is a function of the action returned
  (``NEXT_STATE``): Send/Retry wait for a response, RequestToken waits for the token,
  WaitForToken waits for ``resume()``, Deliver and GiveUp end the exchange.
* ``CHALLENGES``: which (status, error code) means which ``Reason`` to need a token.
  Anything not in it is delivered as it is (rules 1 and 2).

A *need* (reason + the challenge's scopes, ``acr_values`` and ``max_age``) then goes
through the same checks in a fixed order (``_answer_need``): is the token we hold now
already newer than the one the request carried (then retry, no token request)? may we
ask for these scopes at all (rule 6)? did we already answer this very challenge with
the token we hold (rule 4)? can the body be sent again (rule 8)? are the budgets left?
is someone else already asking (rule 5)? Only then ``RequestToken``.

The machine reads no clock: ``now`` arrives with the inputs and is compared with
``Token.expires_at``. It performs no I/O and never raises for anything a server says:
a challenge it will not follow becomes ``GiveUp(error=...)``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._actions import (
    REFRESHABLE,
    Action,
    Deliver,
    GiveUp,
    Reason,
    RequestToken,
    Retry,
    Send,
    WaitForToken,
)
from ._challenges import BearerChallenge, Challenge, dpop_nonce
from ._errors import (
    BodyNotReplayableError,
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
from ._events import ResponseReceived, TokenFailed, TokenIssued
from ._headers import parse_www_authenticate, www_authenticate_values
from ._token import Policy, Token

__all__ = [
    "CHALLENGES",
    "NEXT_STATE",
    "OUTCOMES",
    "TRANSITIONS",
    "Exchange",
    "State",
    "Upscope",
    "Upscopes",
]

log = logging.getLogger("sansio_upscope.machine")


class State(enum.Enum):
    NEW = "new"
    AWAITING_RESPONSE = "awaiting_response"
    AWAITING_TOKEN = "awaiting_token"
    WAITING_FOR_TOKEN = "waiting_for_token"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
    ABANDONED = "abandoned"
    ERROR = "error"


class Input(enum.Enum):
    """The two inputs that are calls rather than events."""

    START = "start()"
    RESUME = "resume()"


InputKind = Input | type[ResponseReceived] | type[TokenIssued] | type[TokenFailed]

#: state -> {input: handler name}. Inputs not listed are misuse.
TRANSITIONS: dict[State, dict[InputKind, str]] = {
    State.NEW: {Input.START: "_on_start"},
    State.AWAITING_RESPONSE: {ResponseReceived: "_on_response"},
    State.AWAITING_TOKEN: {TokenIssued: "_on_token_issued", TokenFailed: "_on_token_failed"},
    State.WAITING_FOR_TOKEN: {Input.RESUME: "_on_resume"},
    State.DELIVERED: {},
    State.GAVE_UP: {},
    State.ABANDONED: {},
    State.ERROR: {},
}

#: action type -> the state the exchange is in after returning it.
NEXT_STATE: dict[type[Action], State] = {
    Send: State.AWAITING_RESPONSE,
    Retry: State.AWAITING_RESPONSE,
    RequestToken: State.AWAITING_TOKEN,
    WaitForToken: State.WAITING_FOR_TOKEN,
    Deliver: State.DELIVERED,
    GiveUp: State.GAVE_UP,
}

_ANY_AFTER_NEED = (Retry, RequestToken, WaitForToken, GiveUp)

#: handler -> the actions it may return. Declared for the docs' state diagram, and
#: checked against every action the tests see (tests/test_machine*.py).
OUTCOMES: dict[str, tuple[type[Action], ...]] = {
    "_on_start": (Send, RequestToken, WaitForToken),
    "_on_response": (Deliver, *_ANY_AFTER_NEED),
    "_on_token_issued": (Send, Retry, GiveUp),
    "_on_token_failed": (GiveUp,),
    "_on_resume": (Send, *_ANY_AFTER_NEED),
}

#: Nonce retry: RFC 9449 §9 (resource server nonce), no token request.
USE_DPOP_NONCE = "use_dpop_nonce"

#: (status, error code) -> why a token is needed. None = no ``error`` parameter.
#: RFC 6750 §3.1 puts insufficient_scope on 403 and invalid_token on 401; RFC 9470 §3
#: uses 401 for insufficient_user_authentication. We branch on the error code and accept
#: either status for the two step-up codes, since servers differ (rfc-notes, RFC 9470).
CHALLENGES: dict[tuple[int, str | None], Reason | str] = {
    (401, None): Reason.INVALID_TOKEN,
    (401, "invalid_token"): Reason.INVALID_TOKEN,
    (401, "insufficient_scope"): Reason.INSUFFICIENT_SCOPE,
    (403, "insufficient_scope"): Reason.INSUFFICIENT_SCOPE,
    (401, "insufficient_user_authentication"): Reason.INSUFFICIENT_USER_AUTHENTICATION,
    (403, "insufficient_user_authentication"): Reason.INSUFFICIENT_USER_AUTHENTICATION,
    (401, USE_DPOP_NONCE): USE_DPOP_NONCE,
}

#: The statuses that can carry a challenge we follow; others are never parsed (rule 1).
CHALLENGE_STATUSES = frozenset(status for status, _ in CHALLENGES)

#: Reasons whose answer can go stale with time (a revoked token, an authentication older
#: than max_age): a success with the token obtained for one clears its loop-guard entry
#: (rule 1). Scope needs do not change with time, so their entries stay.
CLEARED_BY_SUCCESS = frozenset(
    {Reason.NO_TOKEN, Reason.INVALID_TOKEN, Reason.INSUFFICIENT_USER_AUTHENTICATION}
)

#: How many answered needs one Upscope remembers for the loop guard.
MAX_REMEMBERED_NEEDS = 256

#: Schemes whose challenges use the RFC 6750 parameters (RFC 9449 §7.1 for DPoP).
OUR_SCHEMES = ("bearer", "dpop")


@attrs.frozen
class Need:
    """What a challenge asks for, and for which resource: the loop guard's key (rule 4:
    "remembered per resource and needed scope set")."""

    reason: Reason
    resource: str
    scopes: frozenset[str] | None = None
    acr_values: tuple[str, ...] = ()
    max_age: int | None = None

    @property
    def guard_key(self) -> Need:
        """A 401 to no token and a 401 to a token ask for the same thing: a token."""
        if self.reason is Reason.NO_TOKEN:
            return attrs.evolve(self, reason=Reason.INVALID_TOKEN)
        return self


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, lower-cased, default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise LocalProtocolError(f"{resource_of(url)!r} is not an absolute http or https URL")
    try:
        port = parts.port
    except ValueError:
        raise LocalProtocolError(f"{resource_of(url)!r} has an invalid port") from None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def resource_of(url: str) -> str:
    """The RFC 8707 resource indicator for a request URL: no query, no fragment (§2),
    and no userinfo. Also how the machine shows a URL anywhere: a query or userinfo may
    carry secrets (rule 9)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2].lower()
    return f"{parts.scheme.lower()}://{host}{parts.path}"


def pick_challenge(challenges: list[Challenge], token_type: str | None) -> BearerChallenge | None:
    """The challenge to act on: ours (Bearer or DPoP), the sent token's scheme first,
    then one that carries an error (RFC 9449 §7.2: the error goes on the scheme tried)."""
    preferred = (token_type or "bearer").lower()
    ours = [c for c in challenges if c.scheme in OUR_SCHEMES]
    if not ours:
        return None
    best = min(ours, key=lambda c: (c.scheme != preferred, "error" not in c.params))
    return BearerChallenge.from_challenge(best)


class Loop(enum.Enum):
    """Why the loop guard refuses to ask again (rule 4)."""

    #: The authorization server already refused a scope the challenge names.
    REFUSED = "refused"
    #: A token was obtained to answer this very challenge, and it came back.
    ANSWERED = "answered"
    #: The token already holds every scope the challenge names.
    HELD = "held"


@attrs.define
class _Failure:
    """The outcome of the last token request that ended without a token."""

    finished_index: int
    error: BaseException | None
    cancelled: bool


class Upscope:
    """Shared step-up state for one protected resource, keyed by its origin.

    Not thread-safe: adapters that run exchanges from several threads bring a lock.
    Tokens held here are sent only to this origin (rule 10).
    """

    def __init__(
        self, resource_url: str, *, policy: Policy | None = None, resource: str | None = None
    ) -> None:
        self.origin = origin_of(resource_url)
        if resource is not None and origin_of(resource) != self.origin:
            raise LocalProtocolError(
                f"resource {resource!r} is not on the origin of {resource_url!r}"
            )
        #: The RFC 8707 resource indicator every token request names, or None: then
        #: each names the URL of the request that needed it (no query, no fragment).
        self.resource = resource
        self.policy = policy if policy is not None else Policy()
        self.token: Token | None = None
        #: 0 while no token is held; +1 each time a token is installed.
        self.generation = 0
        self.requested_scopes: frozenset[str] = frozenset()
        self.granted_scopes: frozenset[str] = frozenset()
        #: Scopes the authorization server was asked for and did not grant (RFC 6749
        #: §3.3). Never asked for again; a challenge that needs one gives up at once.
        #: ``forget()`` clears it, e.g. once an administrator has granted them.
        self.refused_scopes: frozenset[str] = frozenset()
        #: Grows by one each time a token request ends (issued, failed or abandoned).
        self.token_requests_finished = 0
        self.dpop_nonce: str | None = None
        self._owner: Exchange | None = None
        self._answered: dict[Need, int] = {}
        self._last_failure: _Failure | None = None

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        return (
            f"<Upscope {scheme}://{host}:{port} generation={self.generation} "
            f"granted={sorted(self.granted_scopes)} "
            f"token_request_under_way={self.token_request_under_way}>"
        )

    @property
    def token_request_under_way(self) -> bool:
        return self._owner is not None

    def exchange(self, method: str, url: str, *, replayable: bool = True) -> Exchange:
        """A new ``Exchange`` for one request to this resource."""
        return Exchange(self, method=method, url=url, replayable=replayable)

    def forget(self) -> None:
        """Forget the loop guard's memory: the challenges answered and the scopes the
        authorization server refused. For when the application knows that asking again
        can succeed (an administrator granted a scope, the user changed their mind)."""
        self._answered.clear()
        self.refused_scopes = frozenset()

    # -- what the exchanges ask of the shared state --------------------------------

    def _scopes_for(self, need: Need) -> frozenset[str]:
        # MCP 2026-07-28 (SEP-2350): the union of requested, granted and challenged,
        # less what the authorization server refused, within the ceiling (rule 6).
        wanted = (self.requested_scopes | self.policy.initial_scopes) - self.refused_scopes
        scopes = wanted | self.granted_scopes | (need.scopes or frozenset())
        if self.policy.allowed_scopes is not None:
            scopes &= self.policy.allowed_scopes
        return scopes

    def _satisfied(self, need: Need, sent_generation: int) -> bool:
        """Does the token held now answer ``need`` better than the one the request had?"""
        if self.token is None or self.generation <= sent_generation:
            return False
        if need.reason is Reason.INSUFFICIENT_SCOPE and need.scopes is not None:
            return need.scopes <= self.granted_scopes
        return True  # a newer token: worth one retry (a renewal, a new authentication)

    def _loop_guard(self, need: Need, sent_generation: int) -> Loop | None:
        """Rule 4: why asking again for ``need`` cannot help, or None.

        Called when no token newer than the one the request carried answers the need.
        """
        if need.scopes and need.scopes & self.refused_scopes:
            return Loop.REFUSED
        answered = self._answered.get(need.guard_key)
        if answered is not None and answered >= sent_generation:
            return Loop.ANSWERED  # a token was obtained for this very need, in vain
        if (
            need.reason is Reason.INSUFFICIENT_SCOPE
            and need.scopes is not None
            and sent_generation
            and sent_generation == self.generation
            and need.scopes <= self.granted_scopes
        ):
            return Loop.HELD
        return None

    def _install(self, token: Token, request: RequestToken, need: Need) -> frozenset[str]:
        previous = self.granted_scopes
        self.token = token
        self.generation += 1
        self.requested_scopes = request.scopes
        # RFC 6749 §5.1: no ``scope`` in the response means the scope requested.
        self.granted_scopes = request.granted_by(token)
        self.refused_scopes = (
            self.refused_scopes | (request.scopes - self.granted_scopes)
        ) - self.granted_scopes
        self._answered[need.guard_key] = self.generation
        if len(self._answered) > MAX_REMEMBERED_NEEDS:
            # Oldest first (dicts keep insertion order): memory stays bounded whatever
            # a server sends, and scope needs are still caught by the granted-scope check.
            del self._answered[next(iter(self._answered))]
        self._finish()
        return previous

    def _fail(self, error: BaseException | None, cancelled: bool) -> None:
        self._finish()
        self._last_failure = _Failure(self.token_requests_finished, error, cancelled)

    def _finish(self) -> None:
        self._owner = None
        self.token_requests_finished += 1

    def _note_success(self, need: Need | None, sent_generation: int) -> None:
        """A 2xx to a request that carried the token obtained for ``need``: that token
        did answer it, so the same challenge later (a revoked token, an authentication
        older than max_age) is news, not a loop (rule 1). Scope needs do not change
        with time and stay remembered."""
        if need is None or need.reason not in CLEARED_BY_SUCCESS:
            return
        key = need.guard_key
        if sent_generation and self._answered.get(key) == sent_generation:
            del self._answered[key]


class Upscopes:
    """One ``Upscope`` per protected resource, made on first use with a shared ``Policy``.

    By default a protected resource is an origin: one token serves every URL of it.
    ``resource_for(url) -> str`` splits an origin into several protected resources
    (RFC 9728: an MCP server at ``/mcp`` beside a REST API at ``/api/``), each with
    its own token, named as the RFC 8707 ``resource`` of its token requests. It must
    return a URL on the origin of ``url`` (``LocalProtocolError`` otherwise): a token
    never leaves its origin.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        resource_for: Callable[[str], str] | None = None,
    ) -> None:
        self.policy = policy if policy is not None else Policy()
        self._resource_for = resource_for
        self._by_resource: dict[object, Upscope] = {}

    def for_url(self, url: str) -> Upscope:
        if self._resource_for is None:
            key: object = origin_of(url)
            resource = None
        else:
            key = resource = self._resource_for(url)
        upscope = self._by_resource.get(key)
        if upscope is None:
            upscope = Upscope(url, policy=self.policy, resource=resource)
            self._by_resource[key] = upscope
        return upscope

    def __len__(self) -> int:
        return len(self._by_resource)


class Exchange:
    """One request through its life: one input in, one action out.

    ``start(now=)`` begins; ``receive(event)`` takes ``ResponseReceived``,
    ``TokenIssued`` or ``TokenFailed``; ``resume(now=)`` continues after
    ``WaitForToken``. Any input the current state does not accept raises
    ``LocalProtocolError`` and leaves the exchange in ``State.ERROR``.
    """

    def __init__(self, upscope: Upscope, *, method: str, url: str, replayable: bool = True):
        if origin_of(url) != upscope.origin:
            raise LocalProtocolError(
                f"an Upscope for {upscope.origin[1]!r} cannot send its token to "
                f"{resource_of(url)!r}: "
                "use Upscopes.for_url(url) to get the one for that origin"
            )
        self.upscope = upscope
        self.method = method
        self.url = url
        self.replayable = replayable
        self.state = State.NEW
        self.token_requests = 0
        self.retries = 0
        self.error: StepUpError | None = None
        self._sent = False
        self._sent_generation = 0
        self._sent_token_type: str | None = None
        self._sent_nonce: str | None = None
        self._need: Need | None = None
        self._challenge: BearerChallenge | None = None
        self._status: int | None = None
        self._request: RequestToken | None = None
        self._waited_since = 0
        self._now: float | None = None

    @property
    def _resource(self) -> str:
        """The RFC 8707 resource this request's token requests name."""
        return self.upscope.resource or resource_of(self.url)

    def __repr__(self) -> str:
        # The query is left out: it may carry secrets (rule 9).
        return f"<Exchange {self.method} {resource_of(self.url)} state={self.state.name}>"

    # -- the three inputs -----------------------------------------------------------

    def start(self, *, now: float | None = None) -> Action:
        """Begin. Returns ``Send``, ``RequestToken`` (token expired) or ``WaitForToken``."""
        return self._input(Input.START, now, None)

    def receive(self, event: ResponseReceived | TokenIssued | TokenFailed) -> Action:
        """Feed an event; see ``TRANSITIONS`` for which state accepts which event."""
        now = event.now if isinstance(event, ResponseReceived) else self._now
        return self._input(type(event), now, event)

    def resume(self, *, now: float | None = None) -> Action:
        """Continue after ``WaitForToken``, once the token request under way has ended."""
        return self._input(Input.RESUME, now, None)

    def abandon(self) -> None:
        """The caller stops driving this exchange (cancelled, or an I/O error).

        A no-op once finished. Otherwise the exchange ends in ``State.ABANDONED``; if
        it owned the token request under way, that request counts as cancelled, so the
        exchanges waiting for it ask for a token themselves when resumed.
        """
        if self.state in (State.DELIVERED, State.GAVE_UP, State.ABANDONED, State.ERROR):
            return
        if self.upscope._owner is self:
            self.upscope._fail(None, True)
        self.state = State.ABANDONED

    # -- dispatch through the table -------------------------------------------------

    def _input(self, kind: InputKind, now: float | None, event: Any) -> Action:
        handler_name = TRANSITIONS[self.state].get(kind)
        if handler_name is None:
            name = kind.value if isinstance(kind, Input) else kind.__name__
            state = self.state
            self.abandon()  # a token request this exchange owned must not wedge the others
            self.state = State.ERROR
            raise LocalProtocolError(f"{name} is not accepted in state {state.name}")
        if now is not None:
            self._now = now
        handler: Callable[[Any], Action] = getattr(self, handler_name)
        action = handler(event)
        assert type(action) in OUTCOMES[handler_name], (handler_name, action)
        log.debug("%s %s -> %s", self, type(action).__name__, NEXT_STATE[type(action)].name)
        self.state = NEXT_STATE[type(action)]
        if isinstance(action, GiveUp):
            self.error = action.error
        return action

    # -- handlers ---------------------------------------------------------------------

    def _on_start(self, _: None) -> Action:
        up = self.upscope
        token = up.token
        if token is not None and not token.expired(self._now):
            return self._send(Send)
        if up.token_request_under_way:
            return self._wait()
        if token is not None:
            need = Need(Reason.EXPIRED, self._resource)
            return self._request_token(need, up._scopes_for(need))
        return self._send(Send)

    def _on_response(self, event: ResponseReceived) -> Action:
        if 200 <= event.status_code < 300:
            self.upscope._note_success(self._need, self._sent_generation)
        if event.status_code not in CHALLENGE_STATUSES:
            return Deliver()
        values = www_authenticate_values(event.headers)
        size = sum(len(value) for value in values)
        if size > self.upscope.policy.max_challenge_size:
            self._status = event.status_code
            return self._give_up(
                MalformedChallengeError,
                f"The {event.status_code} response carries {size} bytes of "
                f"WWW-Authenticate, more than Policy.max_challenge_size "
                f"({self.upscope.policy.max_challenge_size}); it was not parsed",
            )
        challenges = parse_www_authenticate(values)
        challenge = pick_challenge(challenges, self._sent_token_type)
        if challenge is None and (challenges or event.status_code != 401):
            return Deliver()  # another scheme's challenge (Basic, ...) or a plain 403
        error = challenge.error if challenge is not None else None
        meaning = CHALLENGES.get((event.status_code, error))
        if meaning is None:
            return Deliver()  # rule 2: any other 403 (or 401 error) is final
        self._challenge, self._status = challenge, event.status_code
        if meaning == USE_DPOP_NONCE:
            if self._sent_token_type != "DPoP":
                return Deliver()  # a nonce is for DPoP proofs; this request sent none
            return self._on_dpop_nonce(dpop_nonce(event.headers))
        assert isinstance(meaning, Reason)
        if meaning is Reason.INVALID_TOKEN and not self._sent_generation:
            meaning = Reason.NO_TOKEN  # RFC 6750 §3.1: no token was sent, none rejected
        return self._answer_need(self._need_from(meaning, challenge))

    def _on_token_issued(self, event: TokenIssued) -> Action:
        up, need, request = self.upscope, self._need, self._request
        assert need is not None and request is not None
        previous = up._install(event.token, request, need)
        if need.reason is Reason.INSUFFICIENT_SCOPE:
            if need.scopes is not None and not need.scopes <= up.granted_scopes:
                return self._give_up(
                    ScopeNotGrantedError,
                    f"The authorization server did not grant "
                    f"{' '.join(sorted(need.scopes - up.granted_scopes))}, which the "
                    "resource server needs",
                    scopes=request.scopes,
                    granted=up.granted_scopes,
                )
            if need.scopes is None and self._sent_generation and up.granted_scopes <= previous:
                return self._give_up(
                    StepUpLoopError,
                    "The resource server answered insufficient_scope without naming a "
                    "scope, and the new token holds no scope the old one lacked",
                    scopes=request.scopes,
                    granted=up.granted_scopes,
                )
        return self._send_with_token()

    def _on_token_failed(self, event: TokenFailed) -> Action:
        self.upscope._fail(event.error, event.cancelled)
        return self._give_up(
            TokenRequestFailedError,
            "The token request failed"
            + (" (cancelled)" if event.cancelled else f": {_describe(event.error)}"),
            cause=event.error,
        )

    def _on_resume(self, _: None) -> Action:
        up = self.upscope
        if up.token_request_under_way:
            return self._wait()
        if self._need is None:  # waited before the first send: start over
            if up.token is not None and not up.token.expired(self._now):
                return self._send(Send)
            return self._shared_failure() or self._on_start(None)
        if up._satisfied(self._need, self._sent_generation):
            return self._send_with_token()
        return self._shared_failure() or self._answer_need(self._need)

    # -- the need pipeline (see the module docstring) -----------------------------------

    def _need_from(self, reason: Reason, challenge: BearerChallenge | None) -> Need:
        if challenge is None:
            return Need(reason, self._resource)
        scopes = challenge.scope or None  # scope="" names nothing, like no scope at all
        if reason is Reason.INSUFFICIENT_SCOPE:
            # acr_values and max_age are RFC 9470's, not part of a scope need
            return Need(reason, self._resource, scopes)
        return Need(reason, self._resource, scopes, challenge.acr_values, challenge.max_age)

    def _answer_need(self, need: Need) -> Action:
        up = self.upscope
        self._need = need
        challenge = self._challenge
        if up._satisfied(need, self._sent_generation):
            return self._retry()  # rule 5: a newer token already answers it
        if challenge is not None and challenge.invalid_scopes:
            return self._give_up(
                MalformedChallengeError,
                "The challenge names scopes that break the RFC 6749 §3.3 scope syntax ("
                + ", ".join(repr(s) for s in challenge.invalid_scopes)
                + "); they were not sent to the authorization server",
            )
        scopes = up._scopes_for(need)
        outside = up.policy.outside_ceiling(need.scopes or frozenset())
        if outside:
            return self._give_up(
                ScopeNotAllowedError,
                f"The resource server asks for {' '.join(sorted(outside))}, outside "
                "Policy.allowed_scopes",
                scopes=scopes,
            )
        if len(scopes) > up.policy.max_scopes and not scopes <= up.granted_scopes:
            return self._give_up(
                ScopeNotAllowedError,
                f"Answering would ask for {len(scopes)} scopes, more than "
                f"Policy.max_scopes ({up.policy.max_scopes})",
                advice="A server that names new scopes without end is refused here; raise "
                "Policy(max_scopes=...) if this resource really needs that many.",
            )
        loop = up._loop_guard(need, self._sent_generation)
        if loop is not None:
            return self._loop_give_up(loop, need)
        if self.retries >= up.policy.max_retries:
            return self._too_many_retries()
        if up.token_request_under_way:
            return self._wait()
        if self.token_requests >= up.policy.max_token_requests:
            return self._give_up(
                TooManyTokenRequestsError,
                f"This request already made {self.token_requests} token request(s), "
                f"the most Policy.max_token_requests allows",
                scopes=scopes,
                granted=up.granted_scopes,
            )
        return self._request_token(need, scopes)

    def _loop_give_up(self, loop: Loop, need: Need) -> GiveUp:
        up = self.upscope
        if loop is Loop.REFUSED:
            refused = " ".join(sorted((need.scopes or frozenset()) & up.refused_scopes))
            return self._give_up(
                ScopeNotGrantedError,
                f"The authorization server already refused {refused}, which the resource "
                "server needs; it was not asked again (Upscope.forget() allows that)",
                scopes=up.requested_scopes,
                granted=up.granted_scopes,
            )
        if loop is Loop.HELD:
            return self._give_up(
                StepUpLoopError,
                "The resource server refuses a token that already holds every scope it names",
                granted=up.granted_scopes,
                advice="A new token would hold the same scopes. Check what else the server "
                "checks: the token's audience (the RFC 8707 resource it was issued for) "
                "or the server's own scope configuration.",
            )
        return self._give_up(
            StepUpLoopError,
            "The resource server sent the same challenge again for a token obtained to answer it",
            scopes=up.requested_scopes,
            granted=up.granted_scopes,
        )

    def _on_dpop_nonce(self, nonce: str | None) -> Action:
        # RFC 9449 §8.2, §9: use the newest nonce; one retry per new nonce.
        if nonce is None or nonce == self._sent_nonce:
            return self._give_up(
                StepUpLoopError,
                "The resource server asked for a DPoP nonce but sent "
                + (
                    "none (exactly one DPoP-Nonce header is required)"
                    if nonce is None
                    else "the same nonce this request already carried"
                ),
            )
        self.upscope.dpop_nonce = nonce
        return self._retry()

    def _shared_failure(self) -> Action | None:
        """The token request this exchange waited for failed: fail with it, clearly."""
        failure = self.upscope._last_failure
        if failure is None or failure.cancelled or failure.finished_index <= self._waited_since:
            return None
        return self._give_up(
            TokenRequestFailedError,
            "The token request this request was waiting for failed: " + _describe(failure.error),
            cause=failure.error,
        )

    # -- building actions ---------------------------------------------------------------

    def _request_token(self, need: Need, scopes: frozenset[str]) -> Action:
        up = self.upscope
        self._need = need
        self.token_requests += 1
        up._owner = self
        token = up.token
        challenge = self._challenge
        # RFC 6749 §6: a refresh cannot widen scope; RFC 9470 §4 needs a new authentication.
        refreshable = need.reason in REFRESHABLE
        self._request = RequestToken(
            scopes=scopes,
            resource=need.resource,
            reason=need.reason,
            resource_metadata=challenge.resource_metadata if challenge is not None else None,
            acr_values=need.acr_values,
            max_age=need.max_age,
            challenge=challenge,
            can_refresh=(
                refreshable
                and token is not None
                and token.refresh_token is not None
                and scopes <= up.granted_scopes
            ),
            current_token=token,
        )
        log.debug(
            "%s requests a token: reason=%s scopes=%s", self, need.reason.value, sorted(scopes)
        )
        return self._request

    def _wait(self) -> WaitForToken:
        self._waited_since = self.upscope.token_requests_finished
        return WaitForToken(generation=self.upscope.generation)

    def _send_with_token(self) -> Action:
        return self._retry() if self._sent else self._send(Send)

    def _retry(self) -> Action:
        if not self.replayable:
            # Rule 8. Checked here, after any token request, so the advice holds: the
            # caller's next request goes out with the token this one obtained.
            return self._give_up(
                BodyNotReplayableError,
                f"{self.method} {resource_of(self.url)} must be sent again, "
                "but its body cannot be replayed",
            )
        if self.retries >= self.upscope.policy.max_retries:
            return self._too_many_retries()
        self.retries += 1
        return self._send(Retry)

    def _too_many_retries(self) -> GiveUp:
        return self._give_up(
            TooManyRetriesError,
            f"This request was already sent {self.retries + 1} times, the most "
            "Policy.max_retries allows",
        )

    def _send(self, kind: type[Send] | type[Retry]) -> Action:
        up = self.upscope
        self._sent = True
        self._sent_generation = up.generation
        self._sent_nonce = up.dpop_nonce
        self._sent_token_type = up.token.token_type if up.token is not None else None
        authorization = up.token.authorization if up.token is not None else None
        return kind(authorization=authorization, dpop_nonce=up.dpop_nonce)

    def _give_up(self, kind: type[StepUpError], what: str, **details: Any) -> GiveUp:
        return GiveUp(
            error=kind(what, challenge=self._challenge, status_code=self._status, **details)
        )


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "no reason given"
    return f"{type(error).__name__}: {error}"
