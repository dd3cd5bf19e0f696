"""A hostile token endpoint, through every adapter, with the built-in ``ClientCredentials``.

The token endpoint misbehaves on its first request only. The first call (to ``/ok``, a
well-behaved resource) must end with a typed error whose cause says what the token
endpoint did, after one resource request and one token request; the second call on the
same client must get a token and succeed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from sansio_upscope import TokenRequestFailedError
from sansio_upscope.oauth import ClientCredentials, InvalidResponseError, TokenEndpointError
from tests.driver import DRIVERS, Call, names, run

from .expect import assert_typed_error
from .server import CLOSE, HANG, Reply, Request, ScriptedServer, response
from .world import OAuthWorld, json_reply

Script = Callable[[Request], Reply | bytes]
SECRET = "hostile-client-secret-7f3a"


def first_then(hostile: Reply | bytes, good: Script) -> Script:
    lock, done = threading.Lock(), list[bool]()

    def script(request: Request) -> Reply | bytes:
        with lock:
            first = not done
            done.append(True)
        return hostile if first else good(request)

    return script


HTML = b"<!doctype html><title>Sign in</title><form>...</form>"
TRUNCATED = b'{"access_token": "abc", "token_type": "Bea'

#: name -> (the first answer of /token, the exception the token request must fail with)
CASES: dict[str, tuple[Reply | bytes, str | type[BaseException]]] = {
    "500 with an HTML page": (
        response(500, [("Content-Type", "text/html")], HTML),
        InvalidResponseError,
    ),
    "200 with HTML instead of JSON": (
        response(200, [("Content-Type", "text/html")], HTML),
        InvalidResponseError,
    ),
    "200 with truncated JSON": (
        response(200, [("Content-Type", "application/json")], TRUNCATED),
        InvalidResponseError,
    ),
    "200 with a JSON array": (json_reply(200, ["access_token"]), InvalidResponseError),
    "a token with token_type mac": (
        json_reply(200, {"access_token": "abc", "token_type": "mac"}),
        InvalidResponseError,
    ),
    "a token without token_type": (json_reply(200, {"access_token": "abc"}), InvalidResponseError),
    "an empty access_token": (
        json_reply(200, {"access_token": "", "token_type": "Bearer"}),
        InvalidResponseError,
    ),
    "400 invalid_client": (json_reply(400, {"error": "invalid_client"}), TokenEndpointError),
    "body cut short by a close": (
        Reply(
            data=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b'Content-Length: 200\r\n\r\n{"access_token": "ab',
            close=True,
        ),
        "transport",
    ),
    "connection closed before the status line": (CLOSE, "transport"),
    "connection closed mid-headers": (
        Reply(data=b"HTTP/1.1 200 OK\r\nContent-Type: applic", close=True),
        "transport",
    ),
}


#: http.client (under requests) ends a response head at EOF instead of failing, so a head
#: cut short arrives as a response with an empty body: the token flow then refuses it.
HEAD_ENDS_AT_EOF = {"connection closed mid-headers"}


def _cause(error: BaseException) -> BaseException | None:
    return getattr(error, "cause", None) or error.__cause__


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("adapter", names())
def test_hostile_token_endpoint_gives_a_typed_error_then_recovers(
    adapter: str, name: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    hostile, expected = CASES[name]
    world = OAuthWorld(serve)
    world.table["/token"] = first_then(hostile, world.token)
    tokens = ClientCredentials("hostile-client", SECRET, token_endpoint=world.url + "/token")
    first, second = run(adapter, [Call(url=world.url + "/ok"), Call(url=world.url + "/ok")], tokens)
    error = assert_typed_error(first, TokenRequestFailedError)
    cause = _cause(error)
    wanted = DRIVERS[adapter].transport_errors if isinstance(expected, str) else (expected,)
    if adapter == "requests" and name in HEAD_ENDS_AT_EOF:
        wanted += (InvalidResponseError,)
    assert isinstance(cause, wanted), f"{name}: cause {cause!r}"
    assert SECRET not in str(error) and SECRET not in str(cause)
    assert len(world.token_requests()) == 2  # one failed, one for the second call
    assert world.server.count("/ok") == 1 + 2  # the first call never retried
    assert second.ok, second


@pytest.mark.parametrize("adapter", names())
def test_hanging_token_endpoint_ends_at_the_callers_timeout_then_recovers(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    world.table["/token"] = first_then(HANG, world.token)
    tokens = ClientCredentials("hostile-client", SECRET, token_endpoint=world.url + "/token")
    first, second = run(
        adapter,
        [Call(url=world.url + "/ok", timeout=0.5), Call(url=world.url + "/ok", timeout=1.0)],
        tokens,
    )
    error = first.error
    assert error is not None, first
    # A sync client has no cancellation: the caller's timeout= bounds each socket read,
    # and the token request fails with it; the async adapters are cancelled as a whole.
    if DRIVERS[adapter].kind == "sync" and isinstance(error, TokenRequestFailedError):
        error = _cause(error)
    assert isinstance(error, DRIVERS[adapter].timeout_errors), repr(error)
    assert first.seconds < 2.0
    assert second.ok, second


BAD_TOKEN = "world-token-SECRET\r\nX-Injected: yes"


@pytest.mark.parametrize("adapter", names())
def test_an_access_token_that_cannot_be_a_header_value_is_refused_unquoted(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    # RFC 6750 §2.1: an access token that is not b64token is refused by the token flow,
    # before it reaches an Authorization field; no message quotes it.
    world = OAuthWorld(serve)
    bad = json_reply(200, {"access_token": BAD_TOKEN, "token_type": "Bearer"})
    world.table["/token"] = first_then(bad, world.token)
    tokens = ClientCredentials("hostile-client", SECRET, token_endpoint=world.url + "/token")
    first, second = run(adapter, [Call(url=world.url + "/ok"), Call(url=world.url + "/ok")], tokens)
    error = assert_typed_error(first, TokenRequestFailedError)
    assert isinstance(_cause(error), InvalidResponseError), repr(_cause(error))
    for text in (str(error), repr(error), str(_cause(error)), repr(_cause(error))):
        assert "SECRET" not in text and "X-Injected" not in text
    assert world.server.count("/ok") == 1 + 2  # the bad token was never sent
    assert second.ok, second
