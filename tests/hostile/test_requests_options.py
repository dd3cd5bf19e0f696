"""The requests adapter bounds every OAuth request, even those it makes before it knows
the call's options.

requests calls the auth while preparing a request, before it sees the call's
``timeout=``; a token renewed there (the held one expired) uses ``UpscopeAuth(timeout=)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import requests

from sansio_upscope import StepUpError, TokenRequestFailedError
from sansio_upscope.oauth import ClientCredentials
from tests.driver import Call, run

from .server import HANG, Reply, Request, ScriptedServer
from .world import OAuthWorld, json_reply

Script = Callable[[Request], Reply | bytes]


def expired_then_hang(world: OAuthWorld) -> Script:
    """The first token has already expired when it is next used; the next token request
    is never answered."""
    lock, seen = threading.Lock(), list[bool]()

    def script(_request: Request) -> Reply | bytes:
        with lock:
            first = not seen
            seen.append(True)
        if not first:
            return HANG
        document = {"access_token": world.token_prefix + "1", "token_type": "Bearer"}
        return json_reply(200, {**document, "expires_in": 0})

    return script


def test_a_token_renewed_before_sending_is_bounded_by_the_auths_timeout(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    world = OAuthWorld(serve)
    world.table["/token"] = expired_then_hang(world)
    tokens = ClientCredentials("client", "secret", token_endpoint=world.url + "/token")
    first, second = run(
        "requests",
        [Call(url=world.url + "/ok"), Call(url=world.url + "/ok", timeout=5.0)],
        tokens,
        options={"timeout": 0.3},
    )
    assert first.ok, first
    assert isinstance(second.error, TokenRequestFailedError), second
    assert isinstance(second.error.__cause__, requests.Timeout), repr(second.error.__cause__)
    assert second.seconds < 2.0, second
    assert len(world.token_requests()) == 2


def test_the_auths_timeout_applies_when_the_call_has_none(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    import upscope_requests

    world = OAuthWorld(serve)
    world.table["/token"] = lambda _request: HANG
    tokens = ClientCredentials("client", "secret", token_endpoint=world.url + "/token")
    responses: list[requests.Response] = []

    def call() -> None:
        with requests.Session() as session:
            session.auth = upscope_requests.UpscopeAuth(tokens, timeout=0.3)
            responses.append(session.get(world.url + "/ok", timeout=None))

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(5.0)
    assert not thread.is_alive(), "the token request was not bounded"
    error = vars(responses[0]).get("upscope_error")
    assert isinstance(error, StepUpError) and isinstance(error.__cause__, requests.Timeout)
    assert upscope_requests.UpscopeAuth(tokens).timeout == upscope_requests.DEFAULT_OAUTH_TIMEOUT
