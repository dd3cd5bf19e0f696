"""The asyncio adapter: asyncio's sockets and primitives under the shared client.

The loop over the core's actions is written once, in ``_upscope_io.AsyncClient``; this
module gives it asyncio connections (TLS included) and asyncio's event
(``asyncio.Event``) and worker thread. Every protocol decision is the core's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable

from _upscope_io import (
    AsyncClient,
    Framework,
    Origin,
    readable_probe,
)

__all__ = ["Client"]


class _Stream:
    """asyncio streams as the ``_upscope_io.ByteStream`` the pool drives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._transport = writer.transport
        self._socket_readable = readable_probe(writer.get_extra_info("socket"))
        # The reader's own coroutine, with no layer of ours around it.
        self.receive_some = functools.partial(reader.read, 65536)

    def send_all(self, data: bytes) -> Awaitable[None]:
        self._writer.write(data)
        return self._writer.drain()  # awaited by the pool: no coroutine of ours around it

    def is_readable(self) -> bool:
        """True when the server closed the connection (or it broke, or sent bytes)
        while it was idle. A transport that saw an error is closing; one that read the
        end of the stream leaves it on the socket, which stays readable."""
        return self._transport.is_closing() or bool(self._socket_readable())

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
        reader, writer = await asyncio.open_connection(
            origin.host, origin.port, ssl=context, limit=2**20
        )
        return _Stream(reader, writer)
