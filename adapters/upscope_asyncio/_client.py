"""The asyncio adapter: the driving loop of ``Exchange`` plus asyncio streams.

Every protocol decision is the core's; this module sends what it says to send, fetches
a token when it says so, and waits with an ``asyncio.Event`` per token request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType

from sansio_upscope import (
    Deliver,
    GiveUp,
    Policy,
    RequestToken,
    ResponseReceived,
    Retry,
    Send,
    TokenFailed,
    TokenIssued,
    Upscope,
    Upscopes,
    WaitForToken,
)
from upscope_h11 import AsyncTokenSource, ConnectionPool, Content, Origin, Response, obtain_token

__all__ = ["Client"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None


class _Stream:
    """asyncio streams as the ``upscope_h11.ByteStream`` the pool drives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def send_all(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def receive_some(self) -> bytes:
        return await self._reader.read(65536)

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class Client:
    """An HTTP/1.1 client that answers OAuth step-up challenges.

    ``tokens`` is ``async def tokens(request: RequestToken) -> Token`` or an OAuth
    token source from ``sansio_upscope.oauth``. Use ``async with Client(...) as client``.
    Requests raise the core's ``StepUpError`` when the step-up gives up and
    ``upscope_h11.TransportError`` when the connection fails. Bound the time with
    ``asyncio.timeout()``; a cancelled request closes its connection and releases any
    token request it owned, so other requests go on.
    """

    def __init__(
        self,
        tokens: AsyncTokenSource,
        *,
        policy: Policy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections_per_origin: int = 10,
    ) -> None:
        self.upscopes = Upscopes(policy)
        self._tokens = tokens
        self._ssl_context = ssl_context
        self._pool = ConnectionPool(
            self._connect, asyncio.Semaphore, max_per_origin=max_connections_per_origin
        )
        self._token_request_ended: dict[Upscope, asyncio.Event] = {}

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the idle connections."""
        await self._pool.aclose()

    async def request(
        self, method: str, url: str, *, headers: Headers = None, content: Content = None
    ) -> Response:
        """Send a request, stepping up as the server asks; return it with ``content`` read.

        ``content``: bytes (sent again on a retry) or an async iterable of bytes (cannot
        be sent again: a needed retry raises ``BodyNotReplayableError``).
        """
        async with self.stream(method, url, headers=headers, content=content) as response:
            await response.aread()
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Headers = None, content: Content = None
    ) -> AsyncIterator[Response]:
        """Like ``request()``, but the body arrives with ``response.aiter_bytes()``."""
        response = await self._drive(method, url, list(_pairs(headers)), content)
        try:
            yield response
        finally:
            await response.aclose()

    async def _drive(
        self, method: str, url: str, headers: list[tuple[str, str]], content: Content
    ) -> Response:
        upscope = self.upscopes.for_url(url)
        replayable = content is None or isinstance(content, bytes)
        exchange = upscope.exchange(method, url, replayable=replayable)
        action = exchange.start(now=time.time())
        response: Response | None = None
        try:
            while True:
                match action:
                    case Send(authorization=authorization) | Retry(authorization=authorization):
                        response = await self._pool.send(
                            method, url, _with_authorization(headers, authorization), content
                        )
                        action = exchange.receive(
                            ResponseReceived(
                                status_code=response.status_code,
                                headers=response.headers,
                                now=time.time(),
                            )
                        )
                        if not isinstance(action, Deliver):
                            await response.aread()  # frees the connection for reuse
                    case RequestToken():
                        try:
                            token = await obtain_token(self._tokens, action, self._pool)
                        except Exception as exc:
                            action = exchange.receive(TokenFailed(error=exc))
                        else:
                            action = exchange.receive(TokenIssued(token=token))
                        finally:
                            self._wake_waiters(upscope)
                    case WaitForToken():
                        await self._token_request_end(upscope)
                        action = exchange.resume(now=time.time())
                    case Deliver():
                        assert response is not None
                        delivered, response = response, None
                        return delivered
                    case GiveUp(error=error):
                        raise error
        finally:
            exchange.abandon()  # releases a token request this exchange still owned
            self._wake_waiters(upscope)
            if response is not None:
                await response.aclose()

    async def _token_request_end(self, upscope: Upscope) -> None:
        finished = upscope.token_requests_finished
        while upscope.token_request_under_way and upscope.token_requests_finished == finished:
            await self._token_request_ended.setdefault(upscope, asyncio.Event()).wait()

    def _wake_waiters(self, upscope: Upscope) -> None:
        event = self._token_request_ended.pop(upscope, None)
        if event is not None:
            event.set()

    async def _connect(self, origin: Origin) -> _Stream:
        context = None
        if origin.scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            context = self._ssl_context
        reader, writer = await asyncio.open_connection(
            origin.host, origin.port, ssl=context, limit=2**20
        )
        return _Stream(reader, writer)


def _pairs(headers: Headers) -> Iterable[tuple[str, str]]:
    if headers is None:
        return ()
    return headers.items() if isinstance(headers, Mapping) else headers


def _with_authorization(
    headers: list[tuple[str, str]], authorization: str | None
) -> list[tuple[str, str]]:
    if authorization is None:
        return headers
    kept = [(name, value) for name, value in headers if name.lower() != "authorization"]
    return [*kept, ("Authorization", authorization)]
