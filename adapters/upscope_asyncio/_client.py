"""The asyncio adapter: asyncio's sockets and primitives under the shared client.

The loop over the core's actions is written once, in ``_upscope_io.AsyncClient``; this
module gives it asyncio connections (TLS included) and asyncio's event
(``asyncio.Event``) and worker thread. Every protocol decision is the core's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import cast

from _upscope_io import (
    AsyncClient,
    Framework,
    Origin,
    readable_probe,
)

__all__ = ["Client"]

#: Bytes held unread before the transport stops reading from the socket.
_READ_LIMIT = 2**20


class _Stream(asyncio.Protocol):
    """An asyncio transport as the ``_upscope_io.ByteStream`` the pool drives.

    A protocol of its own rather than asyncio's streams, which cost a few microseconds per
    request more (docs/adapters/async.md, Speed): what the transport delivers is kept
    until ``receive_some`` takes all of it, and a write waits only while the transport's
    buffer is full. The loop reads eagerly, so what a server sends while the connection
    is idle lands here; ``is_readable`` counts it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport
        self._received: list[bytes] = []
        self._unread = 0
        self._reading_paused = False
        self._ended = False  # the peer closed its side, or the connection is lost
        self._error: BaseException | None = None
        self._data_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._sent = loop.create_future()  # done: awaiting it does not suspend
        self._sent.set_result(None)
        self._lost = loop.create_future()

    # -- what the transport calls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a stream transport, TLS or not
        self._socket_readable = readable_probe(transport.get_extra_info("socket"))

    def data_received(self, data: bytes) -> None:
        self._received.append(data)
        self._unread += len(data)
        if self._unread > _READ_LIMIT and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()
        _wake(self._data_waiter)

    def eof_received(self) -> bool:
        self._ended = True
        _wake(self._data_waiter)
        return False  # nothing more to send either: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        self._error = exc
        _wake(self._data_waiter)
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or ConnectionResetError("Connection lost"))
        if not self._lost.done():
            self._lost.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        _wake(self._drain_waiter)

    # -- what the pool calls

    def send_all(self, data: bytes) -> Awaitable[None]:
        """Hand ``data`` to the transport; the awaitable returned is done at once unless
        the transport's buffer is full (then it is done when the transport drains)."""
        if self._transport.is_closing():
            raise self._error or ConnectionResetError("Connection lost")
        self._transport.write(data)
        if not self._writing_paused:
            return self._sent
        self._drain_waiter = self._loop.create_future()  # awaited by the pool
        return self._drain_waiter

    async def receive_some(self) -> bytes:
        """All the bytes received and not yet taken; ``b""`` once the peer closed."""
        while not self._received:
            if self._ended:
                if self._error is not None:
                    raise self._error
                return b""
            self._data_waiter = self._loop.create_future()
            await self._data_waiter
        received = self._received
        data = received[0] if len(received) == 1 else b"".join(received)
        received.clear()
        self._unread = 0
        if self._reading_paused:
            self._reading_paused = False
            self._transport.resume_reading()
        return data

    def is_readable(self) -> bool:
        """True when the server closed the connection (or it broke, or sent bytes)
        while it was idle: bytes received that nobody has taken, a transport that is
        closing, or a socket with more (the end of the stream stays there, readable)."""
        return self._unread > 0 or self._transport.is_closing() or bool(self._socket_readable())

    async def aclose(self) -> None:
        self._transport.close()
        await asyncio.shield(self._lost)


def _wake(waiter: asyncio.Future[None] | None) -> None:
    """Let whoever awaits ``waiter`` go on (nobody may be, or it may have given up)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


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
        loop = asyncio.get_running_loop()
        _, stream = await loop.create_connection(
            lambda: _Stream(loop), origin.host, origin.port, ssl=context
        )
        return stream
