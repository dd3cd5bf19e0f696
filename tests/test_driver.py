"""The test driver itself (tests/driver.py): what every suite relies on it to do the same
way on every adapter."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator, Iterator, Mapping
from typing import Any

import pytest

from sansio_upscope import Policy, RequestToken, StepUpError, StepUpLoopError, Token
from tests.driver import DRIVERS, Call, Do, Hung, Outcome, Step, SyncDriver, names, run
from upscope_cli.servers import AuthorizationServer, ResourceServer


def _issue(server: AuthorizationServer) -> Any:
    def tokens(request: RequestToken) -> Token:
        return server.issue_token(request.scopes, resource=request.resource)

    return tokens


@pytest.mark.parametrize("adapter", names())
def test_a_give_up_is_an_error_without_a_response_on_every_driver(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    # The requests adapter returns the last 401/403 with the give-up attached to it; its
    # driver reports it as the async clients raise it.
    (outcome,) = run(
        adapter, [Call(url=resource_server.url + "/stubborn")], _issue(authorization_server)
    )
    assert isinstance(outcome.error, StepUpLoopError), outcome
    assert (outcome.status_code, outcome.content, outcome.ok) == (None, b"", False)


def _thrown_in(url: str, seen: list[str]) -> Generator[Step, Any, str]:
    with pytest.raises(StepUpError) as caught:
        yield Call(url=url + "/stubborn")
    seen.append(type(caught.value).__name__)
    reply = yield Call(url=url + "/files")
    assert isinstance(reply, Outcome) and reply.ok, reply
    counted = yield Do(lambda: len(seen))
    return f"{reply.content!r} after {counted} give-up"


@pytest.mark.parametrize("adapter", names())
def test_a_generator_scenario_has_errors_thrown_in_and_returns_its_value(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    seen: list[str] = []
    result = run(adapter, _thrown_in(resource_server.url, seen), _issue(authorization_server))
    assert seen == ["StepUpLoopError"]
    assert result.endswith("after 1 give-up")


@pytest.mark.parametrize("adapter", names())
def test_an_assertion_in_a_scenario_fails_the_test(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    def scenario() -> Generator[Step, Any, None]:
        reply = yield Call(url=resource_server.url + "/files")
        assert reply.status_code == 418, "the scenario's own check"

    with pytest.raises(AssertionError, match="the scenario's own check"):
        run(adapter, scenario(), _issue(authorization_server))


@pytest.mark.parametrize("adapter", names())
def test_on_client_sees_the_holder_of_upscopes(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    url = resource_server.url + "/files"
    scopes: list[frozenset[str]] = []

    def look(client: Any) -> None:
        token = client.upscopes.for_url(url).token
        scopes.append(token.scopes)

    policy = Policy(initial_scopes=frozenset({"files:read"}))
    [outcome] = run(
        adapter, [Call(url=url)], _issue(authorization_server), policy=policy, on_client=look
    )
    assert outcome.ok, outcome
    assert scopes == [frozenset({"files:read"})]


class _IgnoresItsTimeout(SyncDriver):
    """A client that never returns: what an adapter that ignores its timeout looks like."""

    name = "stuck"
    transport_errors = ()
    timeout_errors = ()

    def __init__(self) -> None:
        self.release = threading.Event()

    @contextlib.contextmanager
    def open(self, tokens: Any, policy: Policy | None, options: Mapping[str, Any]) -> Iterator[Any]:
        yield object()

    def send(self, client: Any, call: Call, timeout: float) -> Outcome:
        if call.url.endswith("/stuck"):
            self.release.wait(30)
        return Outcome(status_code=200)


def test_a_call_that_outlives_its_timeout_is_reported_hung() -> None:
    stuck = _IgnoresItsTimeout()
    assert stuck.name not in DRIVERS
    try:
        calls = [Call(url="http://127.0.0.1:9/fine"), Call(url="http://127.0.0.1:9/stuck")]
        with pytest.raises(Hung, match=r"^stuck: the scenario was still running .*status_code=200"):
            run(stuck, calls, _never, timeout=0.1)
    finally:
        stuck.release.set()


def _never(request: RequestToken) -> Token:
    raise AssertionError("no token request was expected")
