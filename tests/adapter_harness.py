"""Run one behaviour scenario on asyncio, trio, or requests-in-threads.

A scenario is a list of steps, run in order against one fresh client (so the steps
share its tokens, as an application's requests would):

* ``Call``: one request; its ``Outcome`` (status, body, or the error).
* ``Many``: the same request ``n`` times at once (tasks, or threads for requests).
* ``Stream``: read a ``text/event-stream`` response chunk by chunk.
* ``Do``: run a function between steps (revoke tokens, script the server).

Each harness gives its adapter a token source that asks the demo authorization server
in-process (``issue_token``, counted there), optionally after a delay (so concurrent
requests pile up), and optionally cancels the first token request after a pause: on
trio and asyncio by cancelling the request's task; on requests by raising a
``BaseException`` out of the token source (a thread cannot be cancelled, but this is
what an interrupt does to it).
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Literal
from urllib.parse import urljoin

import attrs
import requests
import trio

import upscope_asyncio
import upscope_trio
from _upscope_io import AsyncClient, AsyncTokenSource, TransportError
from sansio_upscope import Policy, RequestToken, StepUpError, Token
from sansio_upscope.oauth import ClientCredentials
from upscope_cli.servers import AuthorizationServer
from upscope_requests import UpscopeAuth

__all__ = ["HARNESSES", "Body", "Call", "Do", "Harness", "Many", "Outcome", "Stream"]


@attrs.frozen
class Body:
    """A request body. ``bytes`` can be replayed; a ``file`` (requests only, bytes
    elsewhere) is rewound; a ``stream`` (async iterable / generator) cannot."""

    data: bytes
    kind: Literal["bytes", "file", "stream"] = "bytes"


@attrs.frozen(kw_only=True)
class Call:
    url: str
    method: str = "GET"
    body: Body | None = None
    #: Follow a 3xx Location with the same client (the async clients do not follow
    #: redirects themselves; requests does).
    follow_redirects: bool = False


@attrs.frozen
class Many:
    call: Call
    n: int


@attrs.frozen
class Stream:
    url: str
    gate: threading.Event


@attrs.frozen
class Do:
    action: Callable[[], object]


Step = Call | Many | Stream | Do


@attrs.frozen(kw_only=True)
class Outcome:
    status_code: int | None = None
    content: bytes = b""
    error: BaseException | None = None
    cancelled: bool = False
    #: Stream: the chunks, and whether the first arrived before the server was let on.
    chunks: tuple[bytes, ...] = ()
    first_chunk_early: bool | None = None


class Harness:
    name: str
    #: What a failed connection raises on this adapter.
    transport_errors: tuple[type[BaseException], ...]

    def __init__(
        self,
        authorization_server: AuthorizationServer,
        *,
        policy: Policy | None = None,
        token_delay: float = 0.0,
        cancel_first_token_request: bool = False,
        oauth: bool = False,
    ) -> None:
        self.authorization_server = authorization_server
        #: Use the built-in ``ClientCredentials`` flow over the adapter's own HTTP
        #: instead of the in-process token callable.
        self.oauth = oauth
        self.policy = policy
        self.token_delay = token_delay
        self.cancel_first = cancel_first_token_request
        self.token_source_calls = 0
        self._calls_lock = threading.Lock()

    def run(self, steps: Sequence[Step]) -> list[Any]:
        raise NotImplementedError

    def _count_call(self) -> int:
        with self._calls_lock:
            self.token_source_calls += 1
            return self.token_source_calls

    def _client_credentials(self) -> ClientCredentials:
        server = self.authorization_server
        return ClientCredentials(server.client_id, server.client_secret)

    def _issue(self, request: RequestToken) -> Token:
        return self.authorization_server.issue_token(request.scopes, resource=request.resource)


# -- asyncio and trio ------------------------------------------------------------------

_cancel_current: contextvars.ContextVar[Callable[[], object]] = contextvars.ContextVar("cancel")


class _AsyncHarness(Harness):
    transport_errors = (TransportError,)

    def _client(self, tokens: AsyncTokenSource) -> AsyncClient:
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def _gather(self, calls: list[Callable[[], Awaitable[Outcome]]]) -> list[Outcome]:
        raise NotImplementedError

    async def _tokens(self, request: RequestToken) -> Token:
        if self._count_call() == 1 and self.cancel_first:
            await self._sleep(0.3)  # let the other requests start waiting for this one
            _cancel_current.get()()
            await self._sleep(30)  # the cancellation lands here
        await self._sleep(self.token_delay)
        return self._issue(request)

    async def _run(self, steps: Sequence[Step]) -> list[Any]:
        results: list[Any] = []
        tokens = self._client_credentials() if self.oauth else self._tokens
        async with self._client(tokens) as client:
            for step in steps:
                if isinstance(step, Call):
                    results.append(await self._cancellable(partial(self._call, client, step)))
                elif isinstance(step, Many):
                    one = partial(self._cancellable, partial(self._call, client, step.call))
                    results.append(await self._gather([one] * step.n))
                elif isinstance(step, Stream):
                    results.append(await self._stream(client, step))
                else:
                    results.append(step.action())
        return results

    async def _cancellable(self, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        raise NotImplementedError

    async def _call(self, client: AsyncClient, call: Call) -> Outcome:
        content: bytes | AsyncIterator[bytes] | None = None
        if call.body is not None:
            content = _chunks(call.body.data) if call.body.kind == "stream" else call.body.data
        try:
            response = await client.request(call.method, call.url, content=content)
            location = response.header("location")
            if call.follow_redirects and 300 <= response.status_code < 400 and location:
                response = await client.request("GET", urljoin(call.url, location))
        except (StepUpError, TransportError) as exc:
            return Outcome(error=exc)
        return Outcome(status_code=response.status_code, content=response.content)

    async def _stream(self, client: AsyncClient, step: Stream) -> Outcome:
        async with client.stream("GET", step.url) as response:
            chunks = response.aiter_bytes()
            first = await chunks.__anext__()
            early = not step.gate.is_set()
            step.gate.set()
            rest = [chunk async for chunk in chunks]
        return Outcome(
            status_code=response.status_code,
            content=first + b"".join(rest),
            chunks=(first, *rest),
            first_chunk_early=early,
        )


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


class AsyncioHarness(_AsyncHarness):
    name = "asyncio"

    def run(self, steps: Sequence[Step]) -> list[Any]:
        return asyncio.run(self._run(steps))

    def _client(self, tokens: AsyncTokenSource) -> AsyncClient:
        return upscope_asyncio.Client(tokens, policy=self.policy)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _gather(self, calls: list[Callable[[], Awaitable[Outcome]]]) -> list[Outcome]:
        return list(await asyncio.gather(*(call() for call in calls)))

    async def _cancellable(self, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        tasks: list[asyncio.Task[Outcome]] = []
        reset = _cancel_current.set(lambda: tasks[0].cancel())
        tasks.append(asyncio.ensure_future(call()))  # the task copies the context now
        _cancel_current.reset(reset)
        try:
            return await tasks[0]
        except asyncio.CancelledError:
            if not tasks[0].cancelled():
                raise
            return Outcome(cancelled=True)


class TrioHarness(_AsyncHarness):
    name = "trio"

    def run(self, steps: Sequence[Step]) -> list[Any]:
        return trio.run(self._run, steps)

    def _client(self, tokens: AsyncTokenSource) -> AsyncClient:
        return upscope_trio.Client(tokens, policy=self.policy)

    async def _sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def _gather(self, calls: list[Callable[[], Awaitable[Outcome]]]) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(calls)

        async def one(index: int) -> None:
            results[index] = await calls[index]()

        async with trio.open_nursery() as nursery:
            for index in range(len(calls)):
                nursery.start_soon(one, index)
        return [result for result in results if result is not None]

    async def _cancellable(self, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        with trio.CancelScope() as scope:
            _cancel_current.set(scope.cancel)
            return await call()
        return Outcome(cancelled=True)


# -- requests in threads -----------------------------------------------------------------


class _Interrupted(BaseException):
    """What an interrupt does to a thread in the middle of a token request."""


class RequestsHarness(Harness):
    name = "requests"
    transport_errors = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)

    def _tokens(self, request: RequestToken) -> Token:
        if self._count_call() == 1 and self.cancel_first:
            threading.Event().wait(0.3)
            raise _Interrupted()
        threading.Event().wait(self.token_delay)
        return self._issue(request)

    def run(self, steps: Sequence[Step]) -> list[Any]:
        results: list[Any] = []
        with requests.Session() as session:
            tokens = self._client_credentials() if self.oauth else self._tokens
            session.auth = UpscopeAuth(tokens, policy=self.policy)
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=50))
            for step in steps:
                if isinstance(step, Call):
                    results.append(self._call(session, step))
                elif isinstance(step, Many):
                    with ThreadPoolExecutor(min(step.n, 50)) as pool:
                        calls = pool.map(self._call, [session] * step.n, [step.call] * step.n)
                        results.append(list(calls))
                elif isinstance(step, Stream):
                    results.append(self._stream(session, step))
                else:
                    results.append(step.action())
        return results

    def _call(self, session: requests.Session, call: Call) -> Outcome:
        with contextlib_closing_body(call.body) as data:
            try:
                response = session.request(
                    call.method, call.url, data=data, allow_redirects=call.follow_redirects
                )
            except _Interrupted:
                return Outcome(cancelled=True)
            except (StepUpError, requests.RequestException) as exc:
                return Outcome(error=exc)
        error = vars(response).get("upscope_error")
        if error is not None:
            return Outcome(error=error)
        return Outcome(status_code=response.status_code, content=response.content)

    def _stream(self, session: requests.Session, step: Stream) -> Outcome:
        with session.get(step.url, stream=True) as response:
            chunks = response.iter_content(chunk_size=None)
            first = next(chunks)
            early = not step.gate.is_set()
            step.gate.set()
            rest = list(chunks)
        return Outcome(
            status_code=response.status_code,
            content=first + b"".join(rest),
            chunks=(first, *rest),
            first_chunk_early=early,
        )


class contextlib_closing_body:
    """The body as requests takes it: bytes, an open temporary file, or a generator."""

    def __init__(self, body: Body | None) -> None:
        self._body = body
        self._file: io.BufferedRandom | None = None

    def __enter__(self) -> bytes | io.BufferedRandom | Iterator[bytes] | None:
        body = self._body
        if body is None or body.kind == "bytes":
            return None if body is None else body.data
        if body.kind == "stream":
            return (body.data[i : i + 1000] for i in range(0, len(body.data), 1000))
        self._file = tempfile.TemporaryFile()
        self._file.write(body.data)
        self._file.seek(0)
        return self._file

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()


HARNESSES: dict[str, type[Harness]] = {
    "asyncio": AsyncioHarness,
    "trio": TrioHarness,
    "requests": RequestsHarness,
}
