"""``upscope_httpx.UpscopeAuth`` and ``upscope_httpx2.UpscopeAuth`` on each flavour: the
sync ``Client`` (concurrency from threads) and ``AsyncClient`` on asyncio and on trio,
over real sockets on 127.0.0.1 (the demo servers, and the scripted server for redirects).

What is checked here is what only these adapters do: httpx's own auth-flow protocol
(history, event hooks, redirects, generator closing, cancellation inside the flow),
the private OAuth client, and the bodies httpx can and cannot send again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import httpx
import httpx2
import pytest
import trio

import upscope_httpx
import upscope_httpx2
from sansio_upscope import (
    BodyNotReplayableError,
    RequestToken,
    StepUpLoopError,
    Token,
    TokenRequestFailedError,
)
from sansio_upscope.dpop import SigningKey
from sansio_upscope.oauth import ClientCredentials
from upscope_cli.servers import AuthorizationServer, ResourceServer

if TYPE_CHECKING:
    from tests.hostile.server import Request, ScriptedServer, response
else:
    from hostile.server import Request, ScriptedServer, response


@attrs.frozen
class Flavour:
    library: ModuleType
    adapter: ModuleType
    mode: str  # sync, asyncio, trio

    def __str__(self) -> str:
        return f"{self.library.__name__}-{self.mode}"

    def auth(self, tokens: Any, **options: Any) -> Any:
        return self.adapter.UpscopeAuth(tokens, **options)

    def tokens(self, server: AuthorizationServer, delay: float = 0.0) -> Any:
        """A token source of the right colour that asks ``server`` in-process."""

        def issue(request: RequestToken) -> Token:
            if delay:
                time.sleep(delay)
            return server.issue_token(request.scopes, resource=request.resource)

        async def issue_async(request: RequestToken) -> Token:
            await anyio.sleep(delay)
            return server.issue_token(request.scopes, resource=request.resource)

        return issue if self.mode == "sync" else issue_async

    def send(self, auth: Any, calls: list[dict[str, Any]], **client: Any) -> list[Any]:
        """Send ``calls`` (keyword arguments of ``client.request``) at once through one
        client; the responses, or the exceptions raised, in order."""
        if self.mode == "sync":
            with self.library.Client(auth=auth, **client) as c:

                def one(call: dict[str, Any]) -> Any:
                    try:
                        return c.request(**call)
                    except Exception as exc:
                        return exc

                with ThreadPoolExecutor(max(1, len(calls))) as pool:
                    return list(pool.map(one, calls))

        async def run() -> list[Any]:
            results: list[Any] = [None] * len(calls)
            async with self.library.AsyncClient(auth=auth, **client) as c:

                async def one(index: int) -> None:
                    try:
                        results[index] = await c.request(**calls[index])
                    except Exception as exc:
                        results[index] = exc

                async with anyio.create_task_group() as group:
                    for index in range(len(calls)):
                        group.start_soon(one, index)
            return results

        results: list[Any] = self.run(run)
        return results

    def run(self, main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run(main()) if self.mode == "asyncio" else trio.run(main)


FLAVOURS = [
    Flavour(library, adapter, mode)
    for library, adapter in ((httpx, upscope_httpx), (httpx2, upscope_httpx2))
    for mode in ("sync", "asyncio", "trio")
]
ASYNC_FLAVOURS = [flavour for flavour in FLAVOURS if flavour.mode != "sync"]


@pytest.fixture(params=FLAVOURS, ids=str)
def flavour(request: pytest.FixtureRequest) -> Flavour:
    return request.param  # type: ignore[no-any-return]


def test_is_an_auth_of_its_library() -> None:
    assert isinstance(upscope_httpx.UpscopeAuth(lambda r: Token("t")), httpx.Auth)
    assert isinstance(upscope_httpx2.UpscopeAuth(lambda r: Token("t")), httpx2.Auth)


def test_step_up_retries_with_the_union_and_keeps_history(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    url = resource_server.url
    auth = flavour.auth(flavour.tokens(authorization_server))
    [first] = flavour.send(auth, [{"method": "GET", "url": url + "/files"}])
    [upload] = flavour.send(
        auth, [{"method": "POST", "url": url + "/files/upload", "content": b"x" * 70000}]
    )
    assert first.status_code == 200 and upload.status_code == 200
    assert upload.content == b"x" * 70000  # the buffered body, again, byte for byte
    assert [r.status_code for r in upload.history] == [403]
    asked = [record.scopes for record in authorization_server.token_requests]
    assert asked == [{"files:read"}, {"files:read", "files:write"}]
    uploads = resource_server.requests_to("/files/upload")
    assert [seen.body for seen in uploads] == [b"x" * 70000] * 2


def test_oauth_requests_go_through_a_private_client(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    seen: list[str] = []

    def hook(request: Any) -> None:
        seen.append(str(request.url))

    async def async_hook(request: Any) -> None:
        hook(request)

    source = ClientCredentials(authorization_server.client_id, authorization_server.client_secret)
    hooks = {"request": [hook if flavour.mode == "sync" else async_hook]}
    [response] = flavour.send(
        flavour.auth(source),
        [{"method": "GET", "url": resource_server.url + "/files"}],
        event_hooks=hooks,
    )
    assert response.status_code == 200
    assert [r.url for r in response.history] == [response.url]  # only the resource's 401
    assert seen == [resource_server.url + "/files"] * 2  # no discovery, no token request
    assert authorization_server.token_request_count == 1


def test_oauth_client_is_used_for_the_oauth_requests(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    seen: list[str] = []
    kind = flavour.library.Client if flavour.mode == "sync" else flavour.library.AsyncClient

    def hook(request: Any) -> None:
        seen.append(request.url.path)

    async def async_hook(request: Any) -> None:
        hook(request)

    source = ClientCredentials(authorization_server.client_id, authorization_server.client_secret)
    oauth_client = kind(event_hooks={"request": [hook if flavour.mode == "sync" else async_hook]})
    [response] = flavour.send(
        flavour.auth(source, oauth_client=oauth_client),
        [{"method": "GET", "url": resource_server.url + "/files"}],
    )
    assert response.status_code == 200
    assert seen[-1] == "/token" and "/.well-known/oauth-protected-resource" in seen
    assert not oauth_client.is_closed  # the user's client is theirs to close


def test_oauth_client_of_the_wrong_kind_says_so(
    authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    source = ClientCredentials(authorization_server.client_id, authorization_server.client_secret)
    auth = upscope_httpx.UpscopeAuth(source, oauth_client=httpx.AsyncClient())
    with httpx.Client(auth=auth) as client:
        response = client.get(resource_server.url + "/files")
    assert response.status_code == 401
    error = vars(response)["upscope_error"]
    assert isinstance(error, TokenRequestFailedError)
    assert "needs a httpx.Client" in str(error)
    with pytest.raises(TokenRequestFailedError):
        upscope_httpx.raise_for_step_up(response)


def test_an_async_token_function_on_a_sync_client_says_so(
    authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    flavour = Flavour(httpx2, upscope_httpx2, "asyncio")
    auth = upscope_httpx2.UpscopeAuth(flavour.tokens(authorization_server))
    with httpx2.Client(auth=auth) as client:
        response = client.get(resource_server.url + "/files")
    assert "use an AsyncClient" in str(vars(response)["upscope_error"])


def test_concurrent_requests_make_one_token_request(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    auth = flavour.auth(flavour.tokens(authorization_server, delay=0.2))
    calls = [{"method": "GET", "url": resource_server.url + "/admin"}] * 20
    responses = flavour.send(auth, calls)
    assert [r.status_code for r in responses] == [200] * 20
    assert authorization_server.token_request_count == 1


def test_a_streaming_body_that_cannot_be_replayed_gives_back_the_final_response(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    auth = flavour.auth(flavour.tokens(authorization_server))
    url = resource_server.url + "/files/upload"
    flavour.send(auth, [{"method": "GET", "url": resource_server.url + "/files"}])

    def chunks() -> Any:
        yield b"part one, "
        yield b"part two"

    async def async_chunks() -> Any:
        for chunk in chunks():
            yield chunk

    body = chunks() if flavour.mode == "sync" else async_chunks()
    [response] = flavour.send(auth, [{"method": "POST", "url": url, "content": body}])
    assert response.status_code == 403
    assert isinstance(response.upscope_error, BodyNotReplayableError)
    with pytest.raises(BodyNotReplayableError):
        flavour.adapter.raise_for_step_up(response)
    # The token was obtained first: the next upload goes out with it (rule 8).
    [again] = flavour.send(auth, [{"method": "POST", "url": url, "content": b"x"}])
    assert again.status_code == 200 and again.history == []


def test_giving_up_returns_the_last_response_with_the_error(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    auth = flavour.auth(flavour.tokens(authorization_server))
    [response] = flavour.send(auth, [{"method": "GET", "url": resource_server.url + "/stubborn"}])
    assert response.status_code == 403
    assert isinstance(response.upscope_error, StepUpLoopError)
    ok = flavour.adapter.raise_for_step_up
    [public] = flavour.send(auth, [{"method": "GET", "url": resource_server.url + "/public"}])
    assert ok(public) is public


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_never_takes_the_token_to_another_origin(flavour: Flavour, status: int) -> None:
    def elsewhere(request: Request) -> bytes:
        # Another origin that challenges too: its challenge is not ours to answer.
        challenge = 'Bearer error="insufficient_scope", scope="other:scope"'
        return response(403, [("WWW-Authenticate", challenge)])

    with ScriptedServer(elsewhere) as other:

        def origin(request: Request) -> bytes:
            if request.header("authorization") is None:
                return response(401, [("WWW-Authenticate", 'Bearer scope="files:read"')])
            return response(status, [("Location", other.url + "/landed")])

        with ScriptedServer(origin) as server:
            issued: list[RequestToken] = []

            def tokens(request: RequestToken) -> Token:
                issued.append(request)
                return Token("secret-token-1", scopes=request.scopes)

            async def async_tokens(request: RequestToken) -> Token:
                return tokens(request)

            auth = flavour.auth(tokens if flavour.mode == "sync" else async_tokens)
            call = {"method": "POST", "url": server.url + "/start", "content": b"body"}
            [final] = flavour.send(auth, [call], follow_redirects=True)
    assert final.status_code == 403 and str(final.url) == other.url + "/landed"
    assert not hasattr(final, "upscope_error")
    assert [r.header("authorization") for r in other.requests] == [None]
    assert len(issued) == 1 and issued[0].scopes == {"files:read"}


@pytest.mark.parametrize("flavour", ASYNC_FLAVOURS, ids=str)
def test_a_cancelled_owner_hands_the_token_request_over(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    calls = 0
    owner_cancelled = False

    async def tokens(request: RequestToken) -> Token:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.sleep(30)  # the owner: cancelled while here
        return authorization_server.issue_token(request.scopes, resource=request.resource)

    async def main() -> list[int]:
        statuses: list[int] = []
        async with flavour.library.AsyncClient(auth=flavour.auth(tokens)) as client:

            async def owner(scope: anyio.CancelScope) -> None:
                nonlocal owner_cancelled
                with scope:
                    await client.get(resource_server.url + "/files")
                owner_cancelled = scope.cancelled_caught

            async def other() -> None:
                statuses.append((await client.get(resource_server.url + "/files")).status_code)

            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    scope = anyio.CancelScope()
                    group.start_soon(owner, scope)
                    await anyio.sleep(0.2)  # the owner is in its token request now
                    for _ in range(5):
                        group.start_soon(other)
                    await anyio.sleep(0.2)  # the others wait for it
                    scope.cancel()
        return statuses

    assert flavour.run(main) == [200] * 5
    assert owner_cancelled and calls == 2


@pytest.mark.parametrize("flavour", ASYNC_FLAVOURS, ids=str)
def test_a_flow_closed_from_another_task_leaves_nothing_poisoned(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    auth = flavour.auth(flavour.tokens(authorization_server))
    url = resource_server.url + "/files"

    async def main() -> list[int]:
        request = flavour.library.Request("GET", url)
        flow = auth.async_auth_flow(request)
        await flow.__anext__()  # the flow has started its exchange and sent
        async with anyio.create_task_group() as group:
            group.start_soon(flow.aclose)  # another task closes it
        async with flavour.library.AsyncClient(auth=auth) as client:
            with anyio.fail_after(10):
                responses = [await client.get(url) for _ in range(2)]
        return [r.status_code for r in responses]

    assert flavour.run(main) == [200, 200]
    assert authorization_server.token_request_count == 1


def test_one_auth_shared_by_threads_and_an_event_loop(
    authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    # The token request runs in a thread (sync Client); the async requests wait for it
    # on their own loop and are woken from that thread.
    gate = threading.Event()

    def tokens(request: RequestToken) -> Token:
        gate.wait(10)
        return authorization_server.issue_token(request.scopes, resource=request.resource)

    auth = upscope_httpx2.UpscopeAuth(tokens)
    url = resource_server.url + "/admin"
    with ThreadPoolExecutor(1) as pool:
        sync = pool.submit(lambda: httpx2.Client(auth=auth).get(url))
        while not auth.upscopes.for_url(url).token_request_under_way:
            time.sleep(0.01)

        async def main() -> list[int]:
            async with httpx2.AsyncClient(auth=auth) as client:
                loop = asyncio.get_running_loop()
                loop.call_later(0.2, gate.set)
                responses = await asyncio.gather(*[client.get(url) for _ in range(5)])
            return [r.status_code for r in responses]

        assert asyncio.run(main()) == [200] * 5
        assert sync.result(10).status_code == 200
    assert authorization_server.token_request_count == 1


def test_a_response_hook_that_reads_the_body_does_not_break_the_retry(
    flavour: Flavour, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    read: list[bytes] = []

    def hook(response: Any) -> None:
        read.append(response.read())

    async def async_hook(response: Any) -> None:
        read.append(await response.aread())

    [upload] = flavour.send(
        flavour.auth(flavour.tokens(authorization_server)),
        [{"method": "POST", "url": resource_server.url + "/files/upload", "content": b"x"}],
        event_hooks={"response": [hook if flavour.mode == "sync" else async_hook]},
    )
    assert upload.status_code == 200 and upload.content == b"x"
    assert len(read) == 2 and read[1] == b"x"


def test_a_token_source_that_returns_something_else_says_so(
    flavour: Flavour, resource_server: ResourceServer
) -> None:
    def tokens(request: RequestToken) -> Any:
        return "a bare string"

    async def async_tokens(request: RequestToken) -> Any:
        return "a bare string"

    auth = flavour.auth(tokens if flavour.mode == "sync" else async_tokens)
    [response] = flavour.send(auth, [{"method": "GET", "url": resource_server.url + "/files"}])
    assert isinstance(response.upscope_error, TokenRequestFailedError)
    assert "returned a str, not a sansio_upscope.Token" in str(response.upscope_error)


def test_two_auths_sharing_a_file_store_make_one_token_request(
    flavour: Flavour,
    authorization_server: AuthorizationServer,
    resource_server: ResourceServer,
    tmp_path: Any,
) -> None:
    # Two clients (two processes' worth of state) on one FileStore: the second is
    # served the token the first published, with no token request of its own.
    from upscope_store import FileStore

    url = resource_server.url + "/files"
    for _ in range(2):
        store = FileStore(tmp_path / "tokens.json")
        auth = flavour.auth(flavour.tokens(authorization_server), store=store)
        [response] = flavour.send(auth, [{"method": "GET", "url": url}])
        assert response.status_code == 200
    assert authorization_server.token_request_count == 1
    assert len(resource_server.requests_to("/files")) == 4  # 401 and retry, twice


def test_a_challenge_cookie_joins_the_client_cookies_on_the_retry(flavour: Flavour) -> None:
    def script(request: Request) -> bytes:
        if request.header("authorization") is None:
            return response(
                403,
                [
                    ("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="w"'),
                    ("Set-Cookie", "step=c-1; Path=/"),
                    ("Set-Cookie", "theme=light; Path=/"),  # replaces the client's value
                    ("Set-Cookie", "elsewhere=x; Path=/other"),  # not for this path
                ],
            )
        return response(200)

    def tokens(request: RequestToken) -> Token:
        return Token("cookie-token", scopes=request.scopes)

    async def async_tokens(request: RequestToken) -> Token:
        return tokens(request)

    with ScriptedServer(script) as server:
        auth = flavour.auth(tokens if flavour.mode == "sync" else async_tokens)
        call = {"method": "GET", "url": server.url + "/files"}
        [final] = flavour.send(auth, [call], cookies={"theme": "dark", "lang": "en"})
    assert final.status_code == 200
    first, retry = (r.header("cookie") for r in server.requests)
    assert first == "theme=dark; lang=en"
    assert retry == "theme=light; lang=en; step=c-1"


@pytest.mark.parametrize("status", [302, 307])
def test_a_followed_redirect_never_takes_the_dpop_proof_to_another_origin(
    flavour: Flavour, status: int
) -> None:
    key = SigningKey.generate()
    traced: list[str] = []

    def caller_trace(name: str, info: Any) -> None:
        traced.append(name)

    async def caller_trace_async(name: str, info: Any) -> None:
        traced.append(name)

    with ScriptedServer(lambda request: response(200)) as other:

        def home(request: Request) -> bytes:
            if request.header("authorization") is None:
                return response(401, [("WWW-Authenticate", 'DPoP algs="ES256"')])
            return response(status, [("Location", other.url + "/landed")])

        with ScriptedServer(home) as server:

            def tokens(request: RequestToken) -> Token:
                return Token("dpop-token", token_type="DPoP", dpop_key=key)

            async def async_tokens(request: RequestToken) -> Token:
                return tokens(request)

            auth = flavour.auth(tokens if flavour.mode == "sync" else async_tokens)
            trace = caller_trace if flavour.mode == "sync" else caller_trace_async
            call = {"method": "GET", "url": server.url + "/start", "extensions": {"trace": trace}}
            [final] = flavour.send(auth, [call], follow_redirects=True)
    assert final.status_code == 200 and str(final.url) == other.url + "/landed"
    sent = server.requests[-1]
    assert sent.header("authorization") == "DPoP dpop-token" and sent.header("dpop")
    [landed] = other.requests
    assert landed.header("dpop") is None and landed.header("authorization") is None
    # The caller's own trace extension still sees every event, for both hops.
    assert sum(name.endswith("receive_response_headers.complete") for name in traced) == 3
