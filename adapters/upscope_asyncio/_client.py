"""The asyncio adapter: asyncio's sockets and primitives under the shared client.

The loop over the core's actions is written once, in ``_upscope_io.AsyncClient``; this
module gives it asyncio connections (TLS included) and asyncio's event
(``asyncio.Event``) and worker thread. Every protocol decision is the core's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import SupportsIndex

from _upscope_io import (
    AsyncClient,
    Framework,
    Origin,
    readable_probe,
)

__all__ = ["Client"]


class _Reader(asyncio.StreamReader):
    """asyncio's reader, counting the bytes it holds that nobody has read. The loop reads
    eagerly: what a server sends while the connection is idle lands here, where a look
    at the socket cannot see it."""

    unread = 0

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        # The protocol feeds what the socket gave: bytes (typeshed says any iterable).
        self.unread += len(data) if isinstance(data, bytes) else len(bytes(data))
        super().feed_data(data)

    async def receive_some(self) -> bytes:
        data = await self.read(65536)
        self.unread -= len(data)
        return data


class _Stream:
    """asyncio streams as the ``_upscope_io.ByteStream`` the pool drives."""

    def __init__(self, reader: _Reader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        self._socket_readable = readable_probe(writer.get_extra_info("socket"))
        self.receive_some = reader.receive_some

    def send_all(self, data: bytes) -> Awaitable[None]:
        self._writer.write(data)
        return self._writer.drain()  # awaited by the pool: no coroutine of ours around it

    def is_readable(self) -> bool:
        """True when the server closed the connection (or it broke, or sent bytes)
        while it was idle: bytes the loop has read and nobody else, a transport that
        saw an error (it is closing), or a socket with more (the end of the stream
        stays there, readable)."""
        return (
            self._reader.unread > 0 or self._transport.is_closing() or bool(self._socket_readable())
        )

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

    Connections: at most ``max_connections`` (default 100) open at once across all
    origins, idle ones included, each kept alive for reuse; ``max_connections_per_origin``
    (default None: no cap of its own) bounds those to one origin.
    """

    framework = Framework(new_event=asyncio.Event, run_in_thread=asyncio.to_thread)

    async def _connect(self, origin: Origin) -> _Stream:
        context = self._tls_context() if origin.scheme == "https" else None
        # asyncio.open_connection(), with the reader above.
        loop = asyncio.get_running_loop()
        reader = _Reader(limit=2**20, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await loop.create_connection(
            lambda: protocol, origin.host, origin.port, ssl=context
        )
        return _Stream(reader, asyncio.StreamWriter(transport, protocol, reader, loop))
