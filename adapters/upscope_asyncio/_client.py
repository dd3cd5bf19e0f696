"""The asyncio adapter: the driving loop of ``Exchange`` plus asyncio streams.

Every protocol decision is the core's: this module sends what it says to send, fetches
a token when it says so, and waits on an ``asyncio.Event`` while another request does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from sansio_upscope import (
    Policy,
)
from upscope_h11 import (
    DEFAULT_MAX_HEADER_SIZE,
    AsyncClient,
    AsyncTokenSource,
    Origin,
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
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    ) -> None:
        super().__init__(
            tokens,
            policy=policy,
            ssl_context=ssl_context,
            max_connections_per_origin=max_connections_per_origin,
            max_header_size=max_header_size,
            new_slots=asyncio.Semaphore,
            new_event=asyncio.Event,
            run_in_thread=asyncio.to_thread,
        )

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
