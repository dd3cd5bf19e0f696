"""Hypothesis: many exchanges, an adversarial server, an adversarial token source.

Whatever the server answers, in whatever order the exchanges are driven:

* nothing but the documented outcomes happens (no exception escapes the machine);
* at most one token request is under way per resource (rule 5);
* no exchange makes more than ``max_token_requests`` token requests or sends its
  request more than ``max_retries + 1`` times (rule 4);
* every exchange ends, in a bounded number of steps, once the token requests under
  way end (termination);
* no secret appears in any repr or message (rule 9).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from sansio_upscope import (
    Exchange,
    GiveUp,
    Policy,
    ResponseReceived,
    Retry,
    Send,
    State,
    Token,
    TokenFailed,
    TokenIssued,
    Upscope,
    WaitForToken,
)
from sansio_upscope._state import NEXT_STATE, OUTCOMES, TRANSITIONS, Input

URL = "https://rs.example/mcp"
SECRET = "SECRET-"
SCOPES = ["read", "write", "admin", "files:write"]

scope_sets = st.frozensets(st.sampled_from(SCOPES), max_size=3)
errors = st.sampled_from(
    [
        None,
        "insufficient_scope",
        "invalid_token",
        "insufficient_user_authentication",
        "use_dpop_nonce",
        "invalid_request",
    ]
)


@st.composite
def challenge_values(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["Bearer", "DPoP", "Basic"]))
    params = []
    error = draw(errors)
    if error is not None:
        params.append(f'error="{error}"')
    if draw(st.booleans()):
        params.append('scope="' + " ".join(sorted(draw(scope_sets))) + '"')
    if draw(st.booleans()):
        params.append(f'acr_values="{draw(st.sampled_from(["a", "b"]))}"')
    if draw(st.booleans()):
        params.append(f'max_age="{draw(st.integers(0, 9))}"')
    return scheme + (" " + ", ".join(params) if params else "")


@st.composite
def responses(draw: st.DrawFn) -> ResponseReceived:
    status = draw(st.sampled_from([200, 201, 302, 400, 401, 401, 403, 403, 500]))
    headers: list[tuple[str, str]] = [
        ("WWW-Authenticate", draw(challenge_values())) for _ in range(draw(st.integers(0, 2)))
    ]
    if draw(st.booleans()):
        headers.append(("DPoP-Nonce", draw(st.sampled_from(["n1", "n2", "n3"]))))
    # Where a followed redirect took it: None (the exchange's URL), the same origin, another.
    url = draw(st.sampled_from([None, None, None, URL + "/moved", "https://elsewhere.example/"]))
    return ResponseReceived(
        status_code=status, headers=headers, now=draw(st.floats(0, 100)), url=url
    )


@st.composite
def tokens(draw: st.DrawFn) -> Token:
    granted = draw(st.none() | scope_sets)
    return Token(
        SECRET + "access",
        token_type=draw(st.sampled_from(["Bearer", "DPoP"])),
        scopes=granted,
        expires_at=draw(st.none() | st.floats(0, 100)),
        refresh_token=draw(st.none() | st.just(SECRET + "refresh")),
    )


def _shared_state(upscope: Upscope | None) -> dict[str, Any]:
    """What an Upscope holds, its dicts copied (everything else in it is immutable)."""
    return {
        name: value.copy() if isinstance(value, dict) else value
        for name, value in vars(upscope).items()
    }


class StepUpMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.upscope: Upscope | None = None
        self.exchanges: list[Exchange] = []
        self.sends: dict[int, int] = {}

    @rule(
        initial=scope_sets,
        allowed=st.none() | st.just(frozenset(SCOPES[:3])),
        max_token_requests=st.integers(1, 3),
        max_retries=st.integers(1, 4),
    )
    @precondition(lambda self: self.upscope is None)
    def make_upscope(
        self,
        initial: frozenset[str],
        allowed: frozenset[str] | None,
        max_token_requests: int,
        max_retries: int,
    ) -> None:
        if allowed is not None:
            initial = initial & allowed
        policy = Policy(
            initial_scopes=initial,
            allowed_scopes=allowed,
            max_token_requests=max_token_requests,
            max_retries=max_retries,
        )
        self.upscope = Upscope(URL, policy=policy)

    def _step(self, ex: Exchange, kind: Any, call: Callable[[], Any]) -> None:
        """Feed one input through ``call``; the action must be one the handler for
        (state, input) declares in OUTCOMES, and the state the one NEXT_STATE names."""
        handler = TRANSITIONS[ex.state][kind]
        action = call()
        assert type(action) in OUTCOMES[handler], (handler, action)
        assert ex.state is NEXT_STATE[type(action)]
        self._check(ex, action)

    def _check(self, ex: Exchange, action: Any) -> None:
        for text in (repr(action), repr(ex), repr(self.upscope)):
            assert SECRET not in text
        if isinstance(action, GiveUp):
            assert SECRET not in str(action.error)
        if isinstance(action, (Send, Retry)):
            self.sends[id(ex)] = self.sends.get(id(ex), 0) + 1
        if isinstance(action, WaitForToken):
            assert self.upscope is not None and self.upscope.token_request_under_way

    @rule(now=st.none() | st.floats(0, 100), replayable=st.booleans())
    @precondition(lambda self: self.upscope is not None and len(self._live()) < 8)
    def start(self, now: float | None, replayable: bool) -> None:
        assert self.upscope is not None
        ex = self.upscope.exchange("POST", URL, replayable=replayable)
        self.exchanges.append(ex)
        self._step(ex, Input.START, lambda: ex.start(now=now))

    def _live(self) -> list[Exchange]:
        ended = (State.DELIVERED, State.GAVE_UP, State.ABANDONED)
        return [ex for ex in self.exchanges if ex.state not in ended]

    def _in(self, state: State) -> list[Exchange]:
        return [ex for ex in self.exchanges if ex.state is state]

    @rule(data=st.data(), response=responses())
    @precondition(lambda self: any(e.state is State.AWAITING_RESPONSE for e in self.exchanges))
    def respond(self, data: st.DataObject, response: ResponseReceived) -> None:
        ex = data.draw(st.sampled_from(self._in(State.AWAITING_RESPONSE)))
        alone = response.url is None and ex.receives_alone(response.status_code)
        before = _shared_state(self.upscope)
        self._step(ex, ResponseReceived, lambda: ex.receive(response))
        if alone:  # the promise adapters rely on to skip their lock
            assert ex.state is State.DELIVERED
            assert _shared_state(self.upscope) == before

    @rule(data=st.data(), token=tokens(), fail=st.booleans(), cancelled=st.booleans())
    @precondition(lambda self: any(e.state is State.AWAITING_TOKEN for e in self.exchanges))
    def finish_token_request(
        self, data: st.DataObject, token: Token, fail: bool, cancelled: bool
    ) -> None:
        ex = data.draw(st.sampled_from(self._in(State.AWAITING_TOKEN)))
        event: Any = (
            TokenFailed(error=RuntimeError("token endpoint said no"), cancelled=cancelled)
            if fail
            else TokenIssued(token=token)
        )
        self._step(ex, type(event), lambda: ex.receive(event))

    @rule(data=st.data(), now=st.none() | st.floats(0, 100))
    @precondition(lambda self: any(e.state is State.WAITING_FOR_TOKEN for e in self.exchanges))
    def resume(self, data: st.DataObject, now: float | None) -> None:
        ex = data.draw(st.sampled_from(self._in(State.WAITING_FOR_TOKEN)))
        self._step(ex, Input.RESUME, lambda: ex.resume(now=now))

    @rule(data=st.data())
    @precondition(lambda self: any(e.state is State.AWAITING_TOKEN for e in self.exchanges))
    def abandon_owner(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from(self._in(State.AWAITING_TOKEN))).abandon()

    @invariant()
    def single_flight(self) -> None:
        owners = self._in(State.AWAITING_TOKEN)
        assert len(owners) <= 1
        if self.upscope is not None:
            assert self.upscope.token_request_under_way == bool(owners)

    @invariant()
    def budgets(self) -> None:
        if self.upscope is None:
            return
        policy = self.upscope.policy
        for ex in self.exchanges:
            assert ex.token_requests <= policy.max_token_requests
            assert self.sends.get(id(ex), 0) <= policy.max_retries + 1

    def teardown(self) -> None:
        """Termination: drive everything left against a server that never accepts."""
        if self.upscope is None:
            return
        bound = 10 * (self.upscope.policy.max_retries + self.upscope.policy.max_token_requests + 2)
        adversary = ResponseReceived(
            status_code=403,
            headers=[("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="admin"')],
        )
        for _ in range(bound * len(self.exchanges) + 1):
            live = self._live()
            if not live:
                return
            # only the owner's progress unblocks a waiter, so drive the owner first
            owners = [e for e in live if e.state is State.AWAITING_TOKEN]
            ex = owners[0] if owners else live[0]
            if ex.state is State.AWAITING_RESPONSE:
                self._step(ex, ResponseReceived, partial(ex.receive, adversary))
            elif ex.state is State.AWAITING_TOKEN:
                issued = TokenIssued(token=Token(SECRET + "t", scopes={"read"}))
                self._step(ex, TokenIssued, partial(ex.receive, issued))
            else:
                self._step(ex, Input.RESUME, ex.resume)
        raise AssertionError("exchanges did not terminate within the bound")


StepUpMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_step_up_machine = StepUpMachine.TestCase
