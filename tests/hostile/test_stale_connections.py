"""Idle keep-alive connections the server has closed are not reused.

A server may close an idle connection at any time (RFC 9112 §9.3.1), typically after a
few seconds of idleness. The next request to that origin must go out on a new
connection, not fail on the dead one: a token request is a POST, which the client must
not send twice, so detecting the close before sending is the only way it succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from sansio_upscope.oauth import ClientCredentials
from tests.driver import Call, names, run

from .server import Reply, Request, ScriptedServer, response
from .world import OAuthWorld

Script = Callable[[Request], Reply | bytes]


@pytest.mark.parametrize("adapter", names())
def test_a_token_request_does_not_reuse_a_connection_the_server_closed(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    world.single_use = True  # the second call's token is refused: a new token request
    # The token endpoint answers keep-alive, then closes the connection (its idle
    # timeout) without saying so.
    authorization_server = serve(lambda request: Reply(data=world.token(request), close=True))
    answer = world.protected

    def protected(request: Request) -> bytes:
        time.sleep(0.1)  # room for the close to reach the client
        return answer(request)

    world.table["/ok"] = protected
    tokens = ClientCredentials("client", "secret", token_endpoint=authorization_server.url + "/t")
    first, second = run(adapter, [Call(url=world.url + "/ok"), Call(url=world.url + "/ok")], tokens)
    assert first.ok, first
    assert second.ok, second
    assert len(authorization_server.requests) == 2  # each token request sent once


@pytest.mark.parametrize("adapter", ["asyncio", "trio"])
def test_a_connection_with_bytes_after_the_response_is_not_reused(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    # The first answer comes with a second, unsolicited response behind it: whatever
    # arrives after a response's end is not the answer to the next request.
    unsolicited = response(200, body=b"nobody asked")

    def script(request: Request) -> Reply | bytes:
        if request.path == "/first":
            return response(200, body=b"first") + unsolicited
        return response(200, body=request.path.encode())

    server = serve(script)
    calls = [Call(url=server.url + "/first"), Call(url=server.url + "/second")]
    first, second = run(adapter, calls, lambda _request: pytest.fail("no token needed"))
    assert (first.content, second.content) == (b"first", b"/second")
    connections = [request.connection for request in server.requests]
    assert connections[0] != connections[1], connections


#: What the server does to the connection after its answer to a GET, while it is idle:
#: close it without a word, or send a response nobody asked for (the next request on it
#: would take that for its own answer).
IDLE_CONNECTION_FATES = {
    "closed": Reply(data=response(200, body=b"fine"), close=True),
    "stray bytes": Reply(data=response(200, body=b"fine"), later=response(200, body=b"stray")),
}


@pytest.mark.parametrize("fate", IDLE_CONNECTION_FATES)
@pytest.mark.parametrize("adapter", names())
def test_a_post_does_not_reuse_a_connection_the_server_closed_or_wrote_on(
    adapter: str, fate: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    # A POST cannot be sent twice: it must go out on a new connection the first time and
    # get its real answer.
    def script(request: Request) -> Reply | bytes:
        if request.method == "GET":
            return IDLE_CONNECTION_FATES[fate]
        return response(200, body=request.body)

    def slow(_request: Request) -> bytes:
        time.sleep(0.2)  # room for the close or the stray bytes to reach the client
        return response(200, body=b"slow")

    server, elsewhere = serve(script), serve(slow)
    calls = [
        Call(url=server.url + "/get"),
        Call(url=elsewhere.url + "/slow"),
        Call(url=server.url + "/post", method="POST", body=b"once"),
    ]
    outcomes = run(adapter, calls, lambda _request: pytest.fail("no token needed"))
    assert [outcome.content for outcome in outcomes] == [b"fine", b"slow", b"once"], outcomes
    assert [request.path for request in server.requests] == ["/get", "/post"]
    connections = [request.connection for request in server.requests]
    assert connections[0] != connections[1], connections
