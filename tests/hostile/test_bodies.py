"""Bodies a hostile server makes large, through every adapter: a step-up never
downloads without end, and an OAuth flow never reads an endless metadata or token
document."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sansio_upscope import TokenRequestFailedError
from sansio_upscope.oauth import ClientCredentials
from tests.driver import DRIVERS, Call, names, run

from .conftest import Issuer
from .expect import assert_typed_error
from .server import Reply, Request, ScriptedServer, response, routes
from .world import OAuthWorld

Script = Callable[[Request], Reply | bytes]
HUGE = 8 * 1024 * 1024  # far over the 64 KiB a retry drops and the 1 MiB an OAuth read takes


def _challenge_with_a_huge_body(request: Request) -> bytes:
    if request.header("authorization"):
        return response(200, [("Content-Type", "text/plain")], b"fine")
    head = response(401, [("WWW-Authenticate", 'Bearer realm="big"')], content_length=False)
    return head[:-2] + b"Content-Length: %d\r\n\r\n" % HUGE + b"x" * HUGE


@pytest.mark.parametrize("adapter", names())
def test_a_huge_challenge_body_is_dropped_with_its_connection(
    adapter: str, serve: Callable[[Script], ScriptedServer], issuer: Issuer
) -> None:
    server = serve(routes({"/big": _challenge_with_a_huge_body}))
    first, second = run(
        adapter, [Call(url=server.url + "/big"), Call(url=server.url + "/big")], issuer
    )
    assert first.ok and first.content == b"fine", first
    assert second.ok, second
    assert issuer.count == 1 and server.count("/big") == 3
    # the retry did not wait for 8 MiB: it went out on a fresh connection
    big = [request for request in server.requests if request.path == "/big"]
    assert big[1].connection != big[0].connection


@pytest.mark.parametrize("adapter", names())
def test_an_endless_token_response_is_refused(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    good = world.token
    calls: list[int] = []

    def token(request: Request) -> Reply | bytes:
        calls.append(1)
        if len(calls) == 1:
            body = b'{"access_token": "' + b"a" * HUGE + b'", "token_type": "Bearer"}'
            return response(200, [("Content-Type", "application/json")], body)
        return good(request)

    world.table["/token"] = token
    tokens = ClientCredentials("client", "secret", token_endpoint=world.url + "/token")
    first, second = run(adapter, [Call(url=world.url + "/ok"), Call(url=world.url + "/ok")], tokens)
    error = assert_typed_error(first, TokenRequestFailedError)
    assert isinstance(error, TokenRequestFailedError)
    assert isinstance(error.cause, DRIVERS[adapter].transport_errors), repr(error.cause)
    assert "larger than 1048576 bytes" in str(error.cause)
    assert second.ok, second
