"""The trio adapter: trio's sockets and primitives under the shared client.

The loop over the core's actions is written once, in ``_upscope_io.AsyncClient``; this
module gives it trio connections (TLS included) and trio's event
(``trio.Event``) and worker thread. Every protocol decision is the core's. No asyncio
primitive is used here (trio code must not touch asyncio's).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable

import trio

from _upscope_io import (
    AsyncClient,
    Framework,
    Origin,
    readable_probe,
)

__all__ = ["Client"]


#: The most one read takes from a socket (trio's streams read as much).
_RECEIVE_SIZE = 65536


class _SocketStream:
    """A plain TCP connection as the ``_upscope_io.ByteStream`` the pool drives: the
    socket is read and written directly, and trio only waits for it (``wait_readable``,
    ``wait_writable``). A trio stream costs 6 to 9 µs of CPU per request more
    (docs/adapters/async.md, Speed). Each call is a checkpoint as on a trio stream: it
    raises ``Cancelled`` before doing anything or while it waits for the socket, never
    once a read has its bytes or a write has sent them all, and lets other tasks run.
    Errors are the socket's own ``OSError``."""

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock
        #: True when the server closed the connection (or sent bytes) while it was idle.
        self.is_readable = readable_probe(sock)

    async def send_all(self, data: bytes) -> None:
        sock = self._socket
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):  # the usual case: it all fit in the socket's buffer
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        with memoryview(data) as view:
            while sent < len(data):
                await trio.lowlevel.wait_writable(sock)
                with contextlib.suppress(BlockingIOError):
                    sent += sock.send(view[sent:])

    async def receive_some(self) -> bytes:
        sock = self._socket
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            data = sock.recv(_RECEIVE_SIZE)
        except BlockingIOError:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        while True:
            await trio.lowlevel.wait_readable(sock)
            with contextlib.suppress(BlockingIOError):  # woken with nothing to read
                return sock.recv(_RECEIVE_SIZE)

    async def aclose(self) -> None:
        # As a trio stream: closing twice is harmless, and a cancelled close still
        # closes (then raises Cancelled).
        trio.lowlevel.notify_closing(self._socket)  # wakes a task waiting on it
        self._socket.close()
        await trio.lowlevel.checkpoint()


async def open_socket_stream(host: str, port: int) -> _SocketStream:
    """A TCP connection as trio opens one (every address tried, ``TCP_NODELAY`` set),
    its socket taken out of trio's stream."""
    tcp = await trio.open_tcp_stream(host, port)
    sock = socket.socket(fileno=tcp.socket.detach())
    sock.setblocking(False)
    return _SocketStream(sock)


class _TlsStream:
    """A TLS connection, trio's ``SSLStream`` over its TCP stream, as the
    ``_upscope_io.ByteStream`` the pool drives (the pool reports trio's broken and
    closed stream errors, ``Framework.stream_errors``, with the URL)."""

    def __init__(self, tls: trio.SSLStream[trio.SocketStream]) -> None:
        self._stream = tls
        self.send_all: Callable[[bytes], Awaitable[None]] = tls.send_all
        #: True when the server closed the connection (or sent bytes) while it was idle:
        #: the TCP socket under the TLS layer has something to read.
        self.is_readable = readable_probe(tls.transport_stream.socket)

    async def receive_some(self) -> bytes:
        return bytes(await self._stream.receive_some())  # TLS gives a bytearray

    async def aclose(self) -> None:
        # trio closes the resource even when cancelled (and then raises Cancelled).
        with contextlib.suppress(*_STREAM_ERRORS):
            await self._stream.aclose()


_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)


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

    framework = Framework(
        new_event=trio.Event, run_in_thread=_run_in_thread, stream_errors=_STREAM_ERRORS
    )

    async def _connect(self, origin: Origin) -> _SocketStream | _TlsStream:
        if origin.scheme != "https":
            return await open_socket_stream(origin.host, origin.port)
        tcp = await trio.open_tcp_stream(origin.host, origin.port)
        tls = trio.SSLStream(
            tcp, self._tls_context(), server_hostname=origin.host, https_compatible=True
        )
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError as exc:
            await tcp.aclose()
            raise ConnectionError(f"TLS handshake failed: {_describe(exc)}") from exc
        except BaseException:
            # Cancelled (or anything else) mid-handshake: the TCP stream is not
            # handed to anyone, so close it here (trio closes even when cancelled).
            await tcp.aclose()
            raise
        return _TlsStream(tls)
