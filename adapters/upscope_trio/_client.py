"""The trio adapter: trio's sockets and primitives under the shared client.

The loop over the core's actions is written once, in ``_upscope_io.AsyncClient``; this
module gives it trio connections (TLS included) and trio's event
(``trio.Event``) and worker thread. Every protocol decision is the core's. No asyncio
primitive is used here (trio code must not touch asyncio's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import trio

from _upscope_io import (
    AsyncClient,
    Framework,
    Origin,
    ReadableProbe,
)

__all__ = ["Client"]


class _Stream:
    """A trio stream as the ``_upscope_io.ByteStream`` the pool drives (trio's broken
    and closed stream errors become ``OSError``, which the pool reports with the URL)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        tcp = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        self._socket_readable = ReadableProbe(
            tcp.socket if isinstance(tcp, trio.SocketStream) else None
        )

    async def send_all(self, data: bytes) -> None:
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionError(_describe(exc)) from exc

    async def receive_some(self) -> bytes:
        try:
            return bytes(await self._stream.receive_some(65536))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionError(_describe(exc)) from exc

    def is_readable(self) -> bool:
        """True when the server closed the connection (or sent bytes) while it was idle:
        the TCP socket under any TLS layer has something to read."""
        return self._socket_readable()

    async def aclose(self) -> None:
        # trio closes the resource even when cancelled (and then raises Cancelled).
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._stream.aclose()


def _describe(exc: BaseException) -> str:
    return str(exc.__cause__ or exc) or type(exc).__name__


async def _run_in_thread(call: Callable[[], str]) -> str:
    # abandon_on_cancel: a cancelled request does not wait for the browser to come back.
    return await trio.to_thread.run_sync(call, abandon_on_cancel=True)


class Client(AsyncClient):
    """An HTTP/1.1 client for trio that answers OAuth step-up challenges.

    ``tokens`` is ``async def tokens(request: RequestToken) -> Token`` or an OAuth
    token source from ``sansio_upscope.oauth``. Use ``async with Client(...) as client``,
    then ``await client.request(...)`` or ``async with client.stream(...)``. Requests
    raise the core's ``StepUpError`` when the step-up gives up and ``TransportError``
    when the connection fails. Bound the time with a cancel scope (``trio.fail_after``): a cancelled
    request closes its connection and releases any token request it owned, so the
    requests waiting for that token ask again instead of hanging.

    Connections: at most ``max_connections`` (default 100) open at once across all
    origins, idle ones included, each kept alive for reuse; ``max_connections_per_origin``
    (default None: no cap of its own) bounds those to one origin.
    """

    framework = Framework(new_event=trio.Event, run_in_thread=_run_in_thread)

    async def _connect(self, origin: Origin) -> _Stream:
        stream: trio.abc.Stream = await trio.open_tcp_stream(origin.host, origin.port)
        if origin.scheme == "https":
            tls = trio.SSLStream(
                stream, self._tls_context(), server_hostname=origin.host, https_compatible=True
            )
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError as exc:
                await stream.aclose()
                raise ConnectionError(f"TLS handshake failed: {_describe(exc)}") from exc
            except BaseException:
                # Cancelled (or anything else) mid-handshake: the TCP stream is not
                # handed to anyone, so close it here (trio closes even when cancelled).
                await stream.aclose()
                raise
            stream = tls
        return _Stream(stream)
