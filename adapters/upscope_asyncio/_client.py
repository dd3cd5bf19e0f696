"""The asyncio adapter: the driving loop of ``Exchange`` plus asyncio streams.

Every protocol decision is the core's: this module sends what it says to send, fetches
a token when it says so, and waits on an ``asyncio.Event`` while another request does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

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
    WaitForToken,
)
from upscope_h11 import (
    AsyncClient,
    AsyncTokenSource,
    Content,
    Origin,
    Response,
    obtain_token,
    with_authorization,
)

__all__ = ["Client"]


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


class Client(AsyncClient):
    """An HTTP/1.1 client for asyncio that answers OAuth step-up challenges.

    ``tokens`` is ``async def tokens(request: RequestToken) -> Token`` or an OAuth
    token source from ``sansio_upscope.oauth``. Use ``async with Client(...) as client``,
    then ``await client.request(...)`` or ``async with client.stream(...)``. Requests
    raise the core's ``StepUpError`` when the step-up gives up and ``TransportError``
    when the connection fails. Bound the time with ``asyncio.timeout()``: a cancelled
    request closes its connection and releases any token request it owned, so the
    requests waiting for that token ask again instead of hanging.
    """

    def __init__(
        self,
        tokens: AsyncTokenSource,
        *,
        policy: Policy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections_per_origin: int = 10,
    ) -> None:
        super().__init__(
            tokens,
            policy=policy,
            ssl_context=ssl_context,
            max_connections_per_origin=max_connections_per_origin,
            new_slots=asyncio.Semaphore,
            new_event=asyncio.Event,
        )

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
                            method, url, with_authorization(headers, authorization), content
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

    async def _connect(self, origin: Origin) -> _Stream:
        context = None
        if origin.scheme == "https":
            if not isinstance(self._ssl_context, ssl.SSLContext):
                self._ssl_context = ssl.create_default_context()
            context = self._ssl_context
        reader, writer = await asyncio.open_connection(
            origin.host, origin.port, ssl=context, limit=2**20
        )
        return _Stream(reader, writer)
