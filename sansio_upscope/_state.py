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

Three tables decide everything:

* ``TRANSITIONS``: which input each state accepts and which handler reads it. Any
  other input is API misuse: ``LocalProtocolError``, and the exchange stays in
  ``State.ERROR``. The state that follows is a function of the action returned
  (``NEXT_STATE``): Send/Retry wait for a response, RequestToken waits for the token,
  WaitForToken waits for ``resume()``, Deliver and GiveUp end the exchange.
* ``CHALLENGES``: which (status, error code) means which ``Reason`` to need a token.
  Anything not in it is delivered as it is (rules 1 and 2).

A *need* (reason + the challenge's scopes, ``acr_values`` and ``max_age``) then goes
through the third table, ``NEED_CHECKS``: small named checks in a fixed order, the
first that returns an action decides. Is the token we hold now already newer than the
one the request carried (then retry, no token request)? may we ask for these scopes at
all (rule 6)? did we already answer this very challenge with the token we hold (rule
4)? are the budgets left? is someone else already asking (rule 5)? Only then
``RequestToken``. Every ``GiveUp`` carries an error that builds its own message from
the facts the check hands it (``_errors.py``).

The machine reads no clock: ``now`` arrives with the inputs and is compared with
``Token.expires_at``. It performs no I/O and never raises for anything a server says:
a challenge it will not follow becomes ``GiveUp(error=...)``.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable
from typing import Any, Concatenate, NamedTuple, ParamSpec

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
from ._urls import covers, display_url, origin, resource_of

__all__ = [
    "CHALLENGES",
    "NEED_CHECKS",
    "NEXT_STATE",
    "OUTCOMES",
    "TRANSITIONS",
    "Exchange",
    "State",
    "Upscope",
    "Upscopes",
]

log = logging.getLogger("sansio_upscope.machine")
DEBUG = logging.DEBUG
P = ParamSpec("P")


class State(enum.Enum):
    # Speed: the tables below are looked up by state and input on every call, and
    # Enum's own __hash__ is Python code; members are singletons, so identity will do.
    __hash__ = object.__hash__

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

    __hash__ = object.__hash__  # as for State

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

#: The states an exchange ends in.
FINISHED = frozenset({State.DELIVERED, State.GAVE_UP, State.ABANDONED, State.ERROR})

#: ``Deliver`` has no fields: one instance serves every exchange.
DELIVER = Deliver()

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

#: A URL's head: scheme "://" authority and the "/", "?" or "#" that ends the authority,
#: where ``urlsplit`` cuts it. Every URL that starts with the same head has the same
#: scheme and authority, so the same origin.
URL_HEAD = re.compile(r"[^:/?#]*://[^/?#]*[/?#]")

#: How many URL heads one Upscope remembers as its own (spellings of one origin).
MAX_REMEMBERED_HEADS = 16

#: How many protected resources ``Upscopes`` learns from tokens (oldest forgotten first:
#: its token is dropped, and a request there learns it again). Each needs a token request
#: a server answered, but a server naming a new resource per URL must not grow memory.
MAX_LEARNED_RESOURCES = 256

#: Schemes whose challenges use the RFC 6750 parameters (RFC 9449 §7.1 for DPoP).
OUR_SCHEMES = ("bearer", "dpop")


class Need(NamedTuple):
    """What a challenge asks for, and for which resource: the loop guard's key (rule 4:
    "remembered per resource and needed scope set"). A tuple, not an attrs class: the
    loop guard hashes it on every challenge, and a tuple hashes in C (speed)."""

    reason: Reason
    resource: str
    scopes: frozenset[str] | None = None
    acr_values: tuple[str, ...] = ()
    max_age: int | None = None

    @property
    def guard_key(self) -> Need:
        """A 401 to no token and a 401 to a token ask for the same thing: a token."""
        if self.reason is Reason.NO_TOKEN:
            return self._replace(reason=Reason.INVALID_TOKEN)
        return self


def pick_challenge(challenges: list[Challenge], token_type: str | None) -> BearerChallenge | None:
    """The challenge to act on: ours (Bearer or DPoP), the sent token's scheme first,
    then one that carries an error (RFC 9449 §7.2: the error goes on the scheme tried)."""
    ours = [c for c in challenges if c.scheme in OUR_SCHEMES]
    if len(ours) <= 1:
        return BearerChallenge.from_challenge(ours[0]) if ours else None
    preferred = (token_type or "bearer").lower()
    best = min(ours, key=lambda c: (c.scheme != preferred, "error" not in c.params))
    return BearerChallenge.from_challenge(best)


@attrs.define
class _Failure:
    """The outcome of the last token request that ended without a token."""

    finished_index: int
    error: BaseException | None
    cancelled: bool


class Upscope:
    """Shared step-up state for one protected resource (an origin, until a token names a
    narrower resource: see ``Upscopes``).

    Its state is read-only from outside (properties); only exchanges change it, by the
    rules above. Not thread-safe: adapters that run exchanges from several threads
    bring a lock. Tokens held here are sent only to this origin (rule 10).
    """

    def __init__(
        self, resource_url: str, *, policy: Policy | None = None, resource: str | None = None
    ) -> None:
        self._origin = origin(resource_url)
        if resource is not None and origin(resource) != self._origin:
            raise LocalProtocolError(
                f"resource {resource!r} is not on the origin of {resource_url!r}"
            )
        self._resource = resource
        self._policy = policy if policy is not None else Policy()
        self._token: Token | None = None
        self._generation = 0
        self._requested_scopes: frozenset[str] = frozenset()
        self._granted_scopes: frozenset[str] = frozenset()
        self._refused_scopes: frozenset[str] = frozenset()
        self._dpop_nonce: str | None = None
        # Grows by one each time a token request ends (issued, failed or abandoned):
        # token request number n has ended once it reaches n.
        self._token_requests_finished = 0
        self._owner: Exchange | None = None
        self._answered: dict[Need, int] = {}
        self._last_failure: _Failure | None = None
        self._own_heads: tuple[str, ...] = ()
        #: The last ``Send`` or ``Retry`` built, and what it was built from.
        self._last_action: Send | Retry = Send(authorization=None)
        self._last_fields: tuple[object, ...] = (Send, None, None)

    def __repr__(self) -> str:
        scheme, host, port = self._origin
        return (
            f"<Upscope {scheme}://{host}:{port} generation={self._generation} "
            f"granted={sorted(self._granted_scopes)} "
            f"token_request_under_way={self.token_request_under_way}>"
        )

    # -- what a driver may read -----------------------------------------------------

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port): the only origin this resource's token is sent to."""
        return self._origin

    @property
    def resource(self) -> str | None:
        """The RFC 8707 resource indicator every token request names, or None: then
        each names the URL of the request that needed it (no query, no fragment)."""
        return self._resource

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def token(self) -> Token | None:
        """The token held now, or None."""
        return self._token

    @property
    def generation(self) -> int:
        """0 while no token is held; +1 each time a token is installed."""
        return self._generation

    @property
    def requested_scopes(self) -> frozenset[str]:
        """The scopes the last token request asked for."""
        return self._requested_scopes

    @property
    def granted_scopes(self) -> frozenset[str]:
        """The scopes of the token held now (RFC 6749 §5.1: those requested when the
        response names none)."""
        return self._granted_scopes

    @property
    def refused_scopes(self) -> frozenset[str]:
        """Scopes the authorization server was asked for and did not grant (RFC 6749
        §3.3). Never asked for again; a challenge that needs one gives up at once.
        ``forget()`` clears them, e.g. once an administrator has granted them."""
        return self._refused_scopes

    @property
    def dpop_nonce(self) -> str | None:
        """The newest nonce the resource server gave for DPoP proofs (RFC 9449 §9)."""
        return self._dpop_nonce

    @property
    def token_request_under_way(self) -> bool:
        """Is an exchange obtaining a token for this resource now (rule 5)?"""
        return self._owner is not None

    def token_request_ended(self, wait: WaitForToken) -> bool:
        """Has the token request ``wait`` waits for ended (a token issued, a failure,
        or its exchange abandoned)? Then call ``resume()`` on the waiting exchange.

        ``wait`` must come from an exchange of this ``Upscope``.
        """
        return self._token_requests_finished >= wait.token_request

    # -- what a driver may do -------------------------------------------------------

    def exchange(self, method: str, url: str, *, replayable: bool = True) -> Exchange:
        """A new ``Exchange`` for one request to this resource."""
        return Exchange(self, method=method, url=url, replayable=replayable)

    def forget(self) -> None:
        """Forget the loop guard's memory: the challenges answered and the scopes the
        authorization server refused. For when the application knows that asking again
        can succeed (an administrator granted a scope, the user changed their mind)."""
        self._answered.clear()
        self._refused_scopes = frozenset()

    # -- what the exchanges ask of the shared state --------------------------------

    def _on_origin(self, url: str) -> bool:
        """Is ``url`` on this resource's origin (rule 10)? Splitting the URL is most of
        the cost of a request that needs no token, so the head of a URL found on the
        origin is remembered (``URL_HEAD``): the URLs that start with it need no split."""
        if url.startswith(self._own_heads):
            return True
        on_origin = origin(url) == self._origin
        if on_origin and len(self._own_heads) < MAX_REMEMBERED_HEADS:
            head = URL_HEAD.match(url)
            if head is not None:  # None: no path, query or fragment ends the authority
                self._own_heads += (head[0],)
        return on_origin

    def _scopes_for(self, need: Need) -> frozenset[str]:
        # MCP 2026-07-28 (SEP-2350): the union of requested, granted and challenged,
        # less what the authorization server refused, within the ceiling (rule 6).
        wanted = (self._requested_scopes | self._policy.initial_scopes) - self._refused_scopes
        scopes = wanted | self._granted_scopes | (need.scopes or frozenset())
        if self._policy.allowed_scopes is not None:
            scopes &= self._policy.allowed_scopes
        return scopes

    def _satisfied(self, need: Need, sent_generation: int) -> bool:
        """Does the token held now answer ``need`` better than the one the request had?"""
        if self._token is None or self._generation <= sent_generation:
            return False
        if not self._token.covers(need.resource):
            return False  # issued for another protected resource (rule 11)
        if need.reason is Reason.INSUFFICIENT_SCOPE and need.scopes is not None:
            return need.scopes <= self._granted_scopes
        return True  # a newer token: worth one retry (a renewal, a new authentication)

    def _install(self, token: Token, request: RequestToken, need: Need) -> frozenset[str]:
        previous = self._granted_scopes
        self._token = token
        self._generation += 1
        self._requested_scopes = request.scopes
        # RFC 6749 §5.1: no ``scope`` in the response means the scope requested.
        self._granted_scopes = request.granted_by(token)
        self._refused_scopes = (
            self._refused_scopes | (request.scopes - self._granted_scopes)
        ) - self._granted_scopes
        self._answered[need.guard_key] = self._generation
        if len(self._answered) > MAX_REMEMBERED_NEEDS:
            # Oldest first (dicts keep insertion order): memory stays bounded whatever
            # a server sends, and scope needs are still caught by the granted-scope check.
            del self._answered[next(iter(self._answered))]
        self._finish()
        return previous

    def _fail(self, error: BaseException | None, cancelled: bool) -> None:
        self._finish()
        self._last_failure = _Failure(self._token_requests_finished, error, cancelled)

    def _finish(self) -> None:
        self._owner = None
        self._token_requests_finished += 1

    def _note_success(self, need: Need, sent_generation: int) -> None:
        """A 2xx to a request that carried the token obtained for ``need``: that token
        did answer it, so the same challenge later (a revoked token, an authentication
        older than max_age) is news, not a loop (rule 1). Scope needs do not change
        with time and stay remembered."""
        if need.reason not in CLEARED_BY_SUCCESS:
            return
        key = need.guard_key
        if sent_generation and self._answered.get(key) == sent_generation:
            del self._answered[key]


class Upscopes:
    """One ``Upscope`` per protected resource, made on first use with a shared ``Policy``.

    A protected resource is what its RFC 9728 metadata names (rule 11). Until a token
    says otherwise, every URL of an origin shares one ``Upscope``. A token that the
    OAuth flow obtained carries the ``resource`` its metadata named (``Token.resource``);
    from then on that ``Upscope`` serves the URLs the resource covers (same origin, path
    prefix on a segment boundary), and other URLs of the origin get a new one. So
    ``/mcp`` and ``/api``, each with its own metadata, get one token each, and
    ``/api/files/1`` and ``/api/files/2`` share one. ``for_url`` picks the longest
    learned resource that covers the URL.

    ``resource_for(url) -> str`` overrides this: it names the protected resource of each
    URL, used as the RFC 8707 ``resource`` of its token requests. It must return a URL on
    the origin of ``url`` (``LocalProtocolError`` otherwise): a token never leaves its
    origin.
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
        #: Upscopes whose token named its protected resource, by that resource.
        self._learned: dict[str, Upscope] = {}

    def for_url(self, url: str) -> Upscope:
        """The ``Upscope`` whose token may be sent to ``url``, made on first use.
        Raises ``LocalProtocolError`` for a URL that is not http(s)."""
        if self._resource_for is not None:
            key: object = self._resource_for(url)
            resource: str | None = str(key)
        else:
            learned = self._learned_for(url) if self._learned else None
            if learned is not None:
                return learned
            key, resource = origin(url), None
        upscope = self._by_resource.get(key)
        if upscope is None:
            upscope = self._by_resource[key] = Upscope(url, policy=self.policy, resource=resource)
        elif resource is None and (token := upscope._token) is not None and token.resource:
            # Its token named the protected resource: the Upscope is that resource's from
            # now on, and the rest of the origin starts afresh.
            self._learned[token.resource] = upscope
            del self._by_resource[key]
            if len(self._learned) > MAX_LEARNED_RESOURCES:
                del self._learned[next(iter(self._learned))]
            if not token.covers(url):
                return self.for_url(url)
        return upscope

    def exchange(self, method: str, url: str, *, replayable: bool = True) -> Exchange:
        """A new ``Exchange`` for one request to ``url``, on the ``Upscope`` that
        ``for_url(url)`` picks: ``for_url(url).exchange(method, url, ...)`` in one call."""
        upscope = self.for_url(url)
        if self._resource_for is not None:
            # The caller's function may file a URL of another origin under this
            # resource: the exchange checks the URL against the Upscope's origin.
            return upscope.exchange(method, url, replayable=replayable)
        # for_url picked the Upscope by this URL's origin (or a resource covering the
        # URL, on the same origin), so the exchange need not check it again (speed).
        exchange = object.__new__(Exchange)
        exchange._begin(upscope, method, url, replayable)
        return exchange

    def _learned_for(self, url: str) -> Upscope | None:
        best: tuple[int, Upscope] | None = None
        for resource, upscope in list(self._learned.items()):
            held = upscope.token.resource if upscope.token is not None else resource
            if held is not None and held != resource:
                # A token for another resource replaced it (requests under way when the
                # resource was learned): file the Upscope under the resource it now holds.
                del self._learned[resource]
                self._learned[held] = upscope
                resource = held
            if covers(resource, url) and (best is None or len(resource) > best[0]):
                best = (len(resource), upscope)
        return best[1] if best is not None else None

    def __len__(self) -> int:
        return len(self._by_resource) + len(self._learned)


class Exchange:
    """One request through its life: one input in, one action out.

    ``start(now=)`` begins; ``receive(event)`` takes ``ResponseReceived``,
    ``TokenIssued`` or ``TokenFailed``; ``resume(now=)`` continues after
    ``WaitForToken``. Any input the current state does not accept raises
    ``LocalProtocolError`` and leaves the exchange in ``State.ERROR``.
    """

    # What every exchange starts with. The defaults live on the class, so that a
    # request that needs no token request sets few attributes of its own (speed).
    state = State.NEW
    #: Token requests this exchange made, and retries it returned (Policy bounds both).
    token_requests = 0
    retries = 0
    #: The error of the ``GiveUp`` it ended with, or None.
    error: StepUpError | None = None
    _sent = False
    _sent_generation = 0
    _sent_token_type: str | None = None
    _sent_nonce: str | None = None
    _need: Need | None = None
    _challenge: BearerChallenge | None = None
    _status: int | None = None
    _request: RequestToken | None = None
    _waited_since = 0
    _now: float | None = None
    #: Whether to log each step (read once, when the exchange is made: speed).
    _logging = False

    def __init__(self, upscope: Upscope, *, method: str, url: str, replayable: bool = True):
        if not upscope._on_origin(url):
            raise LocalProtocolError(
                f"an Upscope for {upscope.origin[1]!r} cannot send its token to "
                f"{display_url(url)!r}: "
                "use Upscopes.for_url(url) to get the one for that origin"
            )
        self._begin(upscope, method, url, replayable)

    def _begin(self, upscope: Upscope, method: str, url: str, replayable: bool) -> None:
        """Set up a new exchange whose URL is on ``upscope``'s origin."""
        self.upscope = upscope
        self.method = method
        self.url = url
        self.replayable = replayable
        if log.isEnabledFor(DEBUG):
            self._logging = True

    @property
    def _resource(self) -> str:
        """The RFC 8707 resource this request's token requests name."""
        return self.upscope._resource or resource_of(self.url)

    def __repr__(self) -> str:
        # The query is left out: it may carry secrets (rule 9).
        return f"<Exchange {self.method} {display_url(self.url)} state={self.state.name}>"

    # -- the three inputs -----------------------------------------------------------

    def start(self, *, now: float | None = None) -> Action:
        """Begin. Returns ``Send``, ``RequestToken`` (token expired) or ``WaitForToken``."""
        return self._input(Input.START, now, None)

    def receive(self, event: ResponseReceived | TokenIssued | TokenFailed) -> Action:
        """Feed an event; see ``TRANSITIONS`` for which state accepts which event."""
        now = event.now if isinstance(event, ResponseReceived) else self._now
        return self._input(type(event), now, event)

    def resume(self, *, now: float | None = None) -> Action:
        """Continue after ``WaitForToken``, once ``Upscope.token_request_ended(wait)``."""
        return self._input(Input.RESUME, now, None)

    def needs_headers(self, status_code: int) -> bool:
        """Does ``receive(ResponseReceived(...))`` read the headers of a response with
        this status? When it does not, it reads neither the headers nor ``now``: the
        action is the same without them, so an adapter whose headers cost time to collect
        may leave them out, and may reuse one ``ResponseReceived(status_code=...)`` (events
        are immutable) for every response with that status and the same ``url`` (None
        for a response no redirect took elsewhere)."""
        return status_code in CHALLENGE_STATUSES  # only a challenge is parsed (rule 1)

    def receives_alone(self, status_code: int) -> bool:
        """Does ``receive(ResponseReceived(status_code=...))`` for a response from this
        exchange's own URL (``url=None``) read and change nothing but this exchange? So
        for a status whose headers the core does not read (``needs_headers``), once the
        exchange has no step-up of its own to settle. An adapter that runs exchanges
        from several threads under a lock (the core is not thread-safe) may feed such a
        response without it: nothing shared is touched, and the action is ``Deliver``."""
        return self._need is None and not self.needs_headers(status_code)

    @property
    def finished(self) -> bool:
        """Delivered, gave up, abandoned or failed: no input is accepted any more."""
        return self.state in FINISHED

    def abandon(self) -> None:
        """The caller stops driving this exchange (cancelled, or an I/O error).

        A no-op once finished. Otherwise the exchange ends in ``State.ABANDONED``; if
        it owned the token request under way, that request counts as cancelled, so the
        exchanges waiting for it ask for a token themselves when resumed.
        """
        if self.state in FINISHED:
            return
        if self.upscope._owner is self:
            self.upscope._fail(None, True)
        self.state = State.ABANDONED

    # -- dispatch through the table -------------------------------------------------

    def _input(self, kind: InputKind, now: float | None, event: Any) -> Action:
        handler = HANDLERS[self.state].get(kind)
        if handler is None:
            name = kind.value if isinstance(kind, Input) else kind.__name__
            state = self.state
            self.abandon()  # a token request this exchange owned must not wedge the others
            self.state = State.ERROR
            raise LocalProtocolError(f"{name} is not accepted in state {state.name}")
        if now is not None:
            self._now = now
        action = handler(self, event)
        self.state = state = NEXT_STATE[type(action)]
        if self._logging:
            log.debug("%s %s -> %s", self, type(action).__name__, state.name)
        return action

    # -- handlers ---------------------------------------------------------------------

    def _on_start(self, _: None) -> Action:
        up = self.upscope
        token = up._token
        if token is not None and not token.expired(self._now):
            return self._send(Send)
        if up._owner is not None:
            return self._wait()
        if token is not None:
            need = Need(Reason.EXPIRED, self._resource)
            return self._request_token(need, up._scopes_for(need))
        return self._send(Send)

    def _on_response(self, event: ResponseReceived) -> Action:
        if event.url is not None and self._from_another_origin(event.url):
            return DELIVER  # the foreign-response rule (rule 10): not ours to step up on
        if self._need is not None and 200 <= event.status_code < 300:
            self.upscope._note_success(self._need, self._sent_generation)
        if event.status_code not in CHALLENGE_STATUSES:
            return DELIVER
        values = www_authenticate_values(event.headers)
        size = sum(map(len, values))
        limit = self.upscope._policy.max_challenge_size
        if size > limit:
            self._status = event.status_code
            return self._give_up(MalformedChallengeError.too_large, size=size, limit=limit)
        challenges = parse_www_authenticate(values)
        challenge = pick_challenge(challenges, self._sent_token_type)
        if challenge is None and (challenges or event.status_code != 401):
            return DELIVER  # another scheme's challenge (Basic, ...) or a plain 403
        error = challenge.error if challenge is not None else None
        meaning = CHALLENGES.get((event.status_code, error))
        if meaning is None:
            return DELIVER  # rule 2: any other 403 (or 401 error) is final
        self._challenge, self._status = challenge, event.status_code
        if meaning == USE_DPOP_NONCE:
            if self._sent_token_type != "DPoP":
                return DELIVER  # a nonce is for DPoP proofs; this request sent none
            return self._on_dpop_nonce(dpop_nonce(event.headers))
        assert isinstance(meaning, Reason)
        if meaning is Reason.INVALID_TOKEN and not self._sent_generation:
            meaning = Reason.NO_TOKEN  # RFC 6750 §3.1: no token was sent, none rejected
        return self._answer_need(self._need_from(meaning, challenge))

    def _from_another_origin(self, url: str) -> bool:
        """The foreign-response rule: a redirect took the request to ``url``, off this
        exchange's origin. That origin's answer, challenge or not, is not this
        resource's to step up on (its token never goes there: rule 10), and says
        nothing about the token sent here. A URL that is not http(s) counts as another
        origin: what a server redirects to never raises here."""
        try:
            return not self.upscope._on_origin(url)
        except LocalProtocolError:
            return True

    def _on_token_issued(self, event: TokenIssued) -> Action:
        up, need, request = self.upscope, self._need, self._request
        assert need is not None and request is not None
        previous = up._install(event.token, request, need)
        granted = up._granted_scopes
        if need.reason is Reason.INSUFFICIENT_SCOPE:
            if need.scopes is not None and not need.scopes <= granted:
                return self._give_up(
                    ScopeNotGrantedError.not_granted,
                    missing=need.scopes - granted,
                    scopes=request.scopes,
                    granted=granted,
                )
            if need.scopes is None and self._sent_generation and granted <= previous:
                return self._give_up(
                    StepUpLoopError.nothing_new, scopes=request.scopes, granted=granted
                )
        return self._send_with_token()

    def _on_token_failed(self, event: TokenFailed) -> Action:
        self.upscope._fail(event.error, event.cancelled)
        return self._give_up(
            TokenRequestFailedError.failed, cause=event.error, cancelled=event.cancelled
        )

    def _on_resume(self, _: None) -> Action:
        up = self.upscope
        if up._owner is not None:
            return self._wait()
        if self._need is None:  # waited before the first send: start over
            if up._token is not None and not up._token.expired(self._now):
                return self._send(Send)
            return self._shared_failure() or self._on_start(None)
        if up._satisfied(self._need, self._sent_generation):
            return self._send_with_token()
        return self._shared_failure() or self._answer_need(self._need)

    # -- the need pipeline: NEED_CHECKS, below the class ---------------------------------

    def _need_from(self, reason: Reason, challenge: BearerChallenge | None) -> Need:
        if challenge is None:
            return Need(reason, self._resource)
        scopes = challenge.scope or None  # scope="" names nothing, like no scope at all
        if reason is Reason.INSUFFICIENT_SCOPE:
            # acr_values and max_age are RFC 9470's, not part of a scope need
            return Need(reason, self._resource, scopes)
        return Need(reason, self._resource, scopes, challenge.acr_values, challenge.max_age)

    def _answer_need(self, need: Need) -> Action:
        """The first check in ``NEED_CHECKS`` that answers ``need`` decides."""
        self._need = need
        scopes = self.upscope._scopes_for(need)
        for step in NEED_CHECKS:
            action = step.check(self, need, scopes)
            if action is not None:
                return action
        raise AssertionError("request_token, the last check, always answers")  # pragma: no cover

    def _on_dpop_nonce(self, nonce: str | None) -> Action:
        # RFC 9449 §8.2, §9: use the newest nonce; one retry per new nonce.
        if nonce is None or nonce == self._sent_nonce:
            return self._give_up(StepUpLoopError.dpop_nonce, repeated=nonce is not None)
        self.upscope._dpop_nonce = nonce
        return self._retry()

    def _shared_failure(self) -> Action | None:
        """The token request this exchange waited for failed: fail with it, clearly."""
        failure = self.upscope._last_failure
        if failure is None or failure.cancelled or failure.finished_index <= self._waited_since:
            return None
        return self._give_up(TokenRequestFailedError.shared, cause=failure.error)

    # -- building actions ---------------------------------------------------------------

    def _request_token(self, need: Need, scopes: frozenset[str]) -> Action:
        up = self.upscope
        self._need = need
        self.token_requests += 1
        up._owner = self
        token = up._token
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
                and scopes <= up._granted_scopes
            ),
            current_token=token,
        )
        if self._logging:
            reason = need.reason.value
            log.debug("%s requests a token: reason=%s scopes=%s", self, reason, sorted(scopes))
        return self._request

    def _wait(self) -> WaitForToken:
        finished = self._waited_since = self.upscope._token_requests_finished
        return WaitForToken(token_request=finished + 1)  # the one under way

    def _send_with_token(self) -> Action:
        return self._retry() if self._sent else self._send(Send)

    def _retry(self) -> Action:
        if not self.replayable:
            # Rule 8. Checked here, after any token request, so the advice holds: the
            # caller's next request goes out with the token this one obtained.
            return self._give_up(
                BodyNotReplayableError.for_request, method=self.method, url=display_url(self.url)
            )
        if self.retries >= self.upscope._policy.max_retries:
            return self._too_many_retries()
        self.retries += 1
        return self._send(Retry)

    def _too_many_retries(self) -> GiveUp:
        return self._give_up(TooManyRetriesError.after, sends=self.retries + 1)

    def _send(self, kind: type[Send] | type[Retry]) -> Action:
        up = self.upscope
        token = up._token
        self._sent = True
        self._sent_nonce = nonce = up._dpop_nonce
        # Rule 11: a token issued for another protected resource is not sent here.
        if token is not None and not token.covers(self.url):
            token = None
        if token is None:
            self._sent_generation = 0
            self._sent_token_type = None
        else:
            self._sent_generation = up._generation
            self._sent_token_type = token.token_type
        # Actions are frozen: the Upscope's last one is handed out again while it is of
        # this kind, for this token and nonce (speed: building one costs more than the
        # rest of a send). Tokens are frozen too, and hide their value in a repr.
        fields = (kind, token, nonce)
        if fields != up._last_fields:
            up._last_fields = fields
            up._last_action = (
                kind(authorization=None, dpop_nonce=nonce)
                if token is None
                else kind(
                    authorization=token.authorization, dpop_nonce=nonce, dpop_key=token.dpop_key
                )
            )
        return up._last_action

    def _give_up(
        self,
        build: Callable[Concatenate[BearerChallenge | None, int | None, P], StepUpError],
        /,
        *args: P.args,
        **facts: P.kwargs,
    ) -> GiveUp:
        """Give up with the error ``build`` makes from what the server said (the
        challenge and status this exchange holds) and the facts of the case."""
        self.error = build(self._challenge, self._status, *args, **facts)
        return GiveUp(error=self.error)


#: ``TRANSITIONS`` with the handlers themselves in place of their names, as ``_input``
#: calls them.
HANDLERS: dict[State, dict[InputKind, Callable[[Exchange, Any], Action]]] = {
    state: {kind: getattr(Exchange, name) for kind, name in inputs.items()}
    for state, inputs in TRANSITIONS.items()
}


# -- the need pipeline ------------------------------------------------------------------
#
# A need goes through NEED_CHECKS in order; the first check that returns an action
# decides. Each check takes the exchange, the need and the scopes a token request would
# ask for (``Upscope._scopes_for``), and returns an action or None. The first paragraph
# of its docstring says when it applies: docs/state-table.md is generated from it.

NeedCheckFn = Callable[[Exchange, Need, frozenset[str]], Action | None]


def newer_token_answers(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """The token held now is newer than the one the request carried, and answers the
    need: retry with it, no token request."""
    return ex._retry() if ex.upscope._satisfied(need, ex._sent_generation) else None


def scope_syntax_broken(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """The challenge's `scope` has tokens that break RFC 6749 §3.3."""
    challenge = ex._challenge
    if challenge is None or not challenge.invalid_scopes:
        return None
    return ex._give_up(MalformedChallengeError.invalid_scopes, invalid=challenge.invalid_scopes)


def scope_outside_ceiling(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """A challenged scope is outside `Policy.allowed_scopes`."""
    outside = ex.upscope._policy.outside_ceiling(need.scopes or frozenset())
    if not outside:
        return None
    return ex._give_up(ScopeNotAllowedError.outside_ceiling, outside=outside, scopes=scopes)


def too_many_scopes(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """The scopes to ask for would grow past `Policy.max_scopes`."""
    up = ex.upscope
    limit = up._policy.max_scopes
    if len(scopes) <= limit or scopes <= up._granted_scopes:
        return None
    return ex._give_up(ScopeNotAllowedError.too_many, count=len(scopes), limit=limit)


def scope_refused_before(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """The authorization server already refused a challenged scope."""
    up = ex.upscope
    refused = (need.scopes or frozenset()) & up._refused_scopes
    if not refused:
        return None
    return ex._give_up(
        ScopeNotGrantedError.refused_before,
        refused=refused,
        scopes=up._requested_scopes,
        granted=up._granted_scopes,
    )


def need_answered_before(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """A token was obtained for this very need at or after the one the request carried
    (the same challenge came back, or another request's token request for it did not
    help)."""
    up = ex.upscope
    answered = up._answered.get(need.guard_key)
    if answered is None or answered < ex._sent_generation:
        return None
    return ex._give_up(
        StepUpLoopError.same_challenge, scopes=up._requested_scopes, granted=up._granted_scopes
    )


def scopes_already_held(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """The token the request carried already holds every challenged scope: the error
    points at its audience or the server's configuration."""
    up, sent = ex.upscope, ex._sent_generation
    if (
        need.reason is not Reason.INSUFFICIENT_SCOPE
        or need.scopes is None
        or not sent
        or sent != up._generation
        or not need.scopes <= up._granted_scopes
    ):
        return None
    return ex._give_up(StepUpLoopError.scopes_held, granted=up._granted_scopes)


def retries_spent(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """`Policy.max_retries` is spent."""
    return ex._too_many_retries() if ex.retries >= ex.upscope._policy.max_retries else None


def token_request_under_way(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """Another exchange's token request is under way: wait for it."""
    return ex._wait() if ex.upscope._owner is not None else None


def token_requests_spent(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """`Policy.max_token_requests` is spent."""
    up = ex.upscope
    if ex.token_requests < up._policy.max_token_requests:
        return None
    return ex._give_up(
        TooManyTokenRequestsError.after,
        token_requests=ex.token_requests,
        scopes=scopes,
        granted=up._granted_scopes,
    )


def request_token(ex: Exchange, need: Need, scopes: frozenset[str]) -> Action | None:
    """Otherwise: this exchange asks for a token, and owns the token request."""
    return ex._request_token(need, scopes)


@attrs.frozen
class NeedCheck:
    """One step of the need pipeline: ``check`` returns an ``answers`` action (with an
    ``error`` of that class, for ``GiveUp``) or None; ``rules`` names the rules of
    DESIGN.md it keeps."""

    check: NeedCheckFn
    answers: type[Action]
    error: type[StepUpError] | None = None
    rules: str = "—"

    @property
    def name(self) -> str:
        return self.check.__name__

    @property
    def when(self) -> str:
        """The first paragraph of the check's docstring, on one line."""
        return " ".join((self.check.__doc__ or "").split("\n\n")[0].split())


#: The need pipeline, in order: the first check that returns an action decides.
NEED_CHECKS: tuple[NeedCheck, ...] = (
    NeedCheck(newer_token_answers, Retry, rules="5"),
    NeedCheck(scope_syntax_broken, GiveUp, MalformedChallengeError),
    NeedCheck(scope_outside_ceiling, GiveUp, ScopeNotAllowedError, rules="6"),
    NeedCheck(too_many_scopes, GiveUp, ScopeNotAllowedError, rules="6"),
    NeedCheck(scope_refused_before, GiveUp, ScopeNotGrantedError, rules="4"),
    NeedCheck(need_answered_before, GiveUp, StepUpLoopError, rules="4, 5"),
    NeedCheck(scopes_already_held, GiveUp, StepUpLoopError, rules="4"),
    NeedCheck(retries_spent, GiveUp, TooManyRetriesError, rules="4"),
    NeedCheck(token_request_under_way, WaitForToken, rules="5"),
    NeedCheck(token_requests_spent, GiveUp, TooManyTokenRequestsError, rules="4"),
    NeedCheck(request_token, RequestToken, rules="2, 7"),
)
