"""The trio adapter: trio's sockets and primitives under the shared client.

The loop over the core's actions is written once, in ``_upscope_io.AsyncClient``; this
module gives it trio connections (TLS included) and trio's event
(``trio.Event``) and worker thread. Every protocol decision is the core's. No asyncio
primitive is used here (trio code must not touch asyncio's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import trio

from _upscope_io import (
    AsyncClient,
    Framework,
    Origin,
    readable_probe,
)

__all__ = ["Client"]


class _Stream:
    """A trio stream as the ``_upscope_io.ByteStream`` the pool drives: its own
    ``send_all`` and ``receive_some``, called directly (the pool reports trio's broken
    and closed stream errors, ``Framework.stream_errors``, with the URL)."""

    def __init__(self, stream: trio.abc.Stream, tcp: trio.SocketStream) -> None:
        """``stream``: ``tcp`` itself, or a TLS stream over it."""
        self._stream = stream
        self.send_all: Callable[[bytes], Awaitable[None]] = stream.send_all
        self.receive_some: Callable[[], Awaitable[bytes]] = (
            tcp.receive_some if stream is tcp else self._receive_decrypted
        )
        #: True when the server closed the connection (or sent bytes) while it was idle:
        #: the TCP socket under any TLS layer has something to read.
        self.is_readable = readable_probe(tcp.socket)

    async def _receive_decrypted(self) -> bytes:
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

    async def _connect(self, origin: Origin) -> _Stream:
        tcp = await trio.open_tcp_stream(origin.host, origin.port)
        if origin.scheme != "https":
            return _Stream(tcp, tcp)
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
        return _Stream(tls, tcp)
