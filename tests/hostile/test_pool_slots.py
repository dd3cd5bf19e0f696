"""Pool slots of the async adapters survive a token request whose response breaks.

Each origin has ``max_connections_per_origin`` slots. A token response whose body breaks
off (the server closes mid-body) or stalls until the caller's timeout cancels the read
must give its slot back: with one slot per origin, every later request on the same
client would otherwise wait for a slot forever (the pool wedges).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from sansio_upscope import TokenRequestFailedError
from sansio_upscope.oauth import ClientCredentials
from tests.driver import DRIVERS, Call, names, run

from .expect import assert_typed_error
from .server import Reply, Request, ScriptedServer
from .world import OAuthWorld

Script = Callable[[Request], Reply | bytes]
ONE_SLOT = {"max_connections_per_origin": 1}

CUT_SHORT = Reply(
    data=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b'Content-Length: 200\r\n\r\n{"access_token": "ab',
    close=True,
)
STALLED_BODY = Reply(
    data=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b'Content-Length: 200\r\n\r\n{"access_token": "ab',
    hang=True,
)


def first_times(count: int, hostile: Reply, good: Script) -> Script:
    lock, seen = threading.Lock(), list[bool]()

    def script(request: Request) -> Reply | bytes:
        with lock:
            seen.append(True)
            bad = len(seen) <= count
        return hostile if bad else good(request)

    return script


@pytest.mark.parametrize("adapter", names(options=["max_connections_per_origin"]))
def test_token_body_cut_short_frees_the_slot_every_time(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    world.table["/token"] = first_times(3, CUT_SHORT, world.token)
    tokens = ClientCredentials("client", "secret", token_endpoint=world.url + "/token")
    calls = [Call(url=world.url + "/ok", timeout=2.0) for _ in range(4)]
    outcomes = run(adapter, calls, tokens, options=ONE_SLOT)
    for outcome in outcomes[:3]:
        error = assert_typed_error(outcome, TokenRequestFailedError)
        assert isinstance(error.__cause__, DRIVERS[adapter].transport_errors), repr(error.__cause__)
    assert outcomes[3].ok, outcomes[3]
    assert len(world.token_requests()) == 4


@pytest.mark.parametrize("adapter", names(options=["max_connections_per_origin"]))
def test_token_body_read_cancelled_by_the_callers_timeout_frees_the_slot(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    world.table["/token"] = first_times(2, STALLED_BODY, world.token)
    tokens = ClientCredentials("client", "secret", token_endpoint=world.url + "/token")
    calls = [
        Call(url=world.url + "/ok", timeout=0.5),
        Call(url=world.url + "/ok", timeout=0.5),
        Call(url=world.url + "/ok", timeout=2.0),
    ]
    first, second, third = run(adapter, calls, tokens, options=ONE_SLOT)
    for outcome in (first, second):
        assert isinstance(outcome.error, DRIVERS[adapter].timeout_errors), outcome
    assert third.ok, third
    assert len(world.token_requests()) == 3
