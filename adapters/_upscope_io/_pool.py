"""HTTP/1.1 over any async byte stream: a bounded keep-alive pool and the response.

No event loop is imported here. Each adapter gives the pool two things of its own: a
``connect(origin)`` coroutine returning a ``ByteStream`` (asyncio streams, trio
streams) and its event type (``asyncio.Event``, ``trio.Event``), for requests that
wait for a free connection.

Connection reuse (RFC 9112 §9.3): a connection goes back to the idle list only when
the response was read to its end and h11 says both sides keep it open. After any error,
any cancellation, or a response closed before its end, the connection is closed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable
from typing import Protocol

from sansio_upscope._urls import display_url, origin

from ._errors import TransportError
from ._http11 import (
    DEFAULT_MAX_HEADER_SIZE,
    Http11,
    Origin,
    ResponseHead,
    decoded,
)
from ._slots import Event, Slots

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "ByteStream",
    "Connection",
    "ConnectionPool",
    "Content",
    "Response",
]

#: A request body: bytes (can be sent again) or an async iterable of chunks (cannot).
Content = bytes | AsyncIterable[bytes] | None

# RFC 9110 §9.2.2: only these may be sent again automatically after a failure.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class ByteStream(Protocol):
    """What the pool needs from a connected socket. Errors are ``OSError`` or the types
    the adapter names (``ConnectionPool(stream_errors=)``).

    A stream may also define ``is_readable()`` (no await): true when the peer has closed
    it or sent bytes nobody asked for. The pool asks before reusing an idle connection,
    and closes it instead (a stream without the method is assumed alive).
    """

    def send_all(self, data: bytes) -> Awaitable[None]: ...

    def receive_some(self) -> Awaitable[bytes]: ...

    async def aclose(self) -> None: ...


class Connection:
    def __init__(
        self,
        stream: ByteStream,
        origin: Origin,
        slots: _OriginSlots,
        *,
        max_header_size: int,
        errors: tuple[type[Exception], ...],
    ) -> None:
        self.stream = stream
        self.origin = origin
        #: The slots its user holds, and where it waits while idle.
        self.slots = slots
        self.http = Http11(max_header_size=max_header_size)
        self.reused = False
        self.dropped: Callable[[], object] = getattr(stream, "is_readable", _alive)
        #: What the stream raises when the connection breaks (``OSError`` and the
        #: adapter's own types, ``ConnectionPool(stream_errors=)``).
        self.errors = errors

    async def send(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except self.errors as exc:
            why = f"sending the request failed: {_why(exc)}"
            raise TransportError(self.http.url, why) from exc

    async def send_streamed(
        self, method: str, url: str, headers: list[tuple[str, str]], chunks: AsyncIterable[bytes]
    ) -> None:
        """Send a request whose body comes from an async iterable (chunked)."""
        http = self.http
        await self.send(http.request(method, url, headers, content_length=None))
        async for chunk in chunks:
            await self.send(http.body(chunk))
        await self.send(http.end())

    async def receive(self) -> None:
        try:
            data = await self.stream.receive_some()
        except self.errors as exc:
            why = f"reading the response failed: {_why(exc)}"
            raise TransportError(self.http.url, why) from exc
        self.http.receive_data(data)


def _why(exc: BaseException) -> str:
    """What broke, for a ``TransportError`` (trio's stream errors carry the socket's
    ``OSError`` as their cause)."""
    return str(exc.__cause__ or exc) or type(exc).__name__


def _alive() -> bool:
    return False


#: Connections open at once, in use or idle, across all origins (as httpx and aiohttp).
DEFAULT_MAX_CONNECTIONS = 100


class _OriginSlots:
    """One origin's idle connections, and the slots a request to it holds while it uses
    a connection: a slot of the origin's own cap (when there is one), then a slot of the
    pool's total. Without a cap of its own (the default) the three calls are the total's."""

    #: Take the slots if all are free now (no await); False otherwise.
    try_acquire: Callable[[], bool]
    #: Take the slots, waiting for them.
    acquire: Callable[[], Awaitable[None]]
    release: Callable[[], None]

    def __init__(self, total: Slots, own: Slots | None) -> None:
        #: Kept-alive connections to this origin, the most recently used last.
        self.idle: list[Connection] = []
        if own is None:
            self.try_acquire, self.acquire = total.try_acquire, total.acquire
            self.release = total.release
        else:
            self._total, self._own = total, own
            self.try_acquire, self.acquire = self._try_acquire_both, self._acquire_both
            self.release = self._release_both

    def _try_acquire_both(self) -> bool:
        if not self._own.try_acquire():
            return False
        if self._total.try_acquire():
            return True
        self._own.release()
        return False

    async def _acquire_both(self) -> None:
        await self._own.acquire()
        try:
            await self._total.acquire()
        except BaseException:
            self._own.release()
            raise

    def _release_both(self) -> None:
        self._total.release()
        self._own.release()


class ConnectionPool:
    """Keep-alive connections: at most ``max_connections`` open at once (in use or idle,
    all origins together), at most ``max_per_origin`` (None: no cap of its own) in use
    to one origin.

    A connection goes back to the idle list after use; the idle list can hold every
    open connection. When a new connection is needed and ``max_connections`` are open,
    an idle one to another origin is closed to make room.
    """

    def __init__(
        self,
        connect: Callable[[Origin], Awaitable[ByteStream]],
        new_event: Callable[[], Event],
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_origin: int | None = None,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        stream_errors: tuple[type[Exception], ...] = (),
    ) -> None:
        for name, value in (
            ("max_connections", max_connections),
            ("max_header_size", max_header_size),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if max_per_origin is not None and max_per_origin < 1:
            raise ValueError(
                f"max_connections_per_origin must be at least 1 or None, not {max_per_origin}"
            )
        self._max_header_size = max_header_size
        self._connect = connect
        self._new_event = new_event
        self._max_connections = max_connections
        self._max_per_origin = max_per_origin
        self._total = Slots(max_connections, new_event)
        self._origins: dict[Origin, _OriginSlots] = {}
        self._open = 0  # connections open or opening, in use or idle
        #: A stream raises these when the connection breaks: ``OSError`` and the
        #: adapter's own (trio's ``BrokenResourceError``, ...), so its methods are
        #: called directly, without a layer translating each call's errors.
        self._stream_errors: tuple[type[Exception], ...] = (OSError, *stream_errors)

    def _slots_for(self, origin: Origin) -> _OriginSlots:
        slots = self._origins.get(origin)
        if slots is None:
            own = (
                None
                if self._max_per_origin is None
                else Slots(self._max_per_origin, self._new_event)
            )
            slots = self._origins[origin] = _OriginSlots(self._total, own)
        return slots

    def _idle(self, origin: Origin) -> Connection | None:
        """The most recently used idle connection to ``origin`` with its slots taken, if
        it is still open and slots are free now (no await: the common case); else None."""
        slots = self._origins.get(origin)
        if slots is None or not (idle := slots.idle) or not slots.try_acquire():
            return None
        connection = idle[-1]
        if connection.dropped():  # acquire() closes it
            slots.release()
            return None
        idle.pop()
        connection.reused = True
        return connection

    async def acquire(self, origin: Origin, url: str) -> Connection:
        """An idle connection to ``origin`` or a new one; waits while all slots are busy.
        Raises ``TransportError`` when connecting fails."""
        slots = self._origins.get(origin) or self._slots_for(origin)
        if not slots.try_acquire():
            await slots.acquire()
        try:
            while slots.idle:
                connection = slots.idle.pop()
                if not connection.dropped():
                    connection.reused = True
                    return connection
                # RFC 9112 §9.3.1: a server may close an idle connection at any time; a
                # request sent on it would fail, and a POST could not be sent again.
                await self._close(connection)
            await self._make_room()
            self._open += 1  # counted while connecting, so others make room for it too
            try:
                stream = await self._connect(origin)
            except OSError as exc:
                self._open -= 1
                raise TransportError(url, f"cannot connect to {origin.authority}: {exc}") from exc
            except BaseException:
                self._open -= 1
                raise
        except BaseException:
            slots.release()
            raise
        return Connection(
            stream,
            origin,
            slots,
            max_header_size=self._max_header_size,
            errors=self._stream_errors,
        )

    async def _make_room(self) -> None:
        """Close idle connections to other origins while ``max_connections`` are open.
        (Fewer than that are in use, this request's slot included, so one is idle.)"""
        while self._open >= self._max_connections:
            idle = next(slots.idle for slots in self._origins.values() if slots.idle)
            await self._close(idle.pop(0))

    async def _close(self, connection: Connection) -> None:
        self._open -= 1
        await connection.stream.aclose()

    def keep(self, connection: Connection) -> bool:
        """Give back a connection whose response was read to its end: kept for reuse
        (True) when h11 says it can carry another request; else False, and the caller
        closes it with ``release(connection, reuse=False)``."""
        if not connection.http.reusable:
            return False
        slots = connection.slots
        slots.release()
        slots.idle.append(connection)
        return True

    async def release(self, connection: Connection, *, reuse: bool) -> None:
        """Give a connection back: kept when ``reuse`` and h11 agree, else closed."""
        if reuse and self.keep(connection):
            return
        connection.slots.release()
        await self._close(connection)

    async def aclose(self) -> None:
        """Close every idle connection (connections in use close when released)."""
        for slots in self._origins.values():
            idle, slots.idle = slots.idle, []
            for connection in idle:
                await self._close(connection)

    async def send(
        self, method: str, url: str, headers: list[tuple[str, str]], content: Content
    ) -> Response:
        """Send one request; return the response once its head has arrived (its body is
        left for ``Response`` to read).

        Raises ``TransportError``. A reused idle connection that the server had closed
        in the meantime is replaced once, for idempotent requests with a bytes body.
        """
        url_origin = origin(url)
        errors = self._stream_errors
        while True:
            connection = self._idle(url_origin) or await self.acquire(url_origin, url)
            http, stream = connection.http, connection.stream
            # The socket's own calls, here rather than in Connection methods: each
            # coroutine layer costs on every request, and again on every suspension.
            try:
                if content is None or isinstance(content, bytes):
                    try:
                        await stream.send_all(http.message(method, url, headers, content))
                    except errors as exc:
                        why = f"sending the request failed: {_why(exc)}"
                        raise TransportError(url, why) from exc
                else:
                    await connection.send_streamed(method, url, headers, content)
                # Nothing of the response is buffered yet (see Http11.request): read, then parse.
                try:
                    http.receive_data(await stream.receive_some())
                    while (head := http.read_head()) is None:
                        http.receive_data(await stream.receive_some())
                except errors as exc:
                    why = f"reading the response failed: {_why(exc)}"
                    raise TransportError(url, why) from exc
            except TransportError:
                await self.release(connection, reuse=False)
                if (
                    connection.reused
                    and not http.response_started
                    and method.upper() in _IDEMPOTENT
                    and (content is None or isinstance(content, bytes))
                ):
                    continue
                raise
            except BaseException:
                await self.release(connection, reuse=False)
                raise
            return Response(url, head, connection, self)


class Response:
    """An HTTP response whose head has arrived; the body comes with ``aiter_bytes()``
    or ``aread()`` (``client.request()`` has already read it into ``content``).

    ``headers`` are (name, value) pairs as the server sent them (``raw_headers``: the
    same as bytes, undecoded); ``header(name)`` finds one case-insensitively. Close with
    ``aclose()`` (``client.stream()`` does).
    """

    def __init__(
        self,
        url: str,
        head: ResponseHead,
        connection: Connection | None,
        pool: ConnectionPool | None,
    ) -> None:
        self.url = url
        self.status_code = head.status_code
        self._head = head
        self._connection = connection  # None once given back
        self._pool = pool
        #: The body's pieces read so far, by ``read_arrived()`` or ``aread()``.
        self._arrived: list[bytes] = []

    # Until read or decoded (class defaults: fewer attributes to set per response).
    _headers: list[tuple[str, str]] | None = None
    _complete = False
    _content: bytes | None = None

    @property
    def reason(self) -> str:
        return self._head.reason

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return self._head.raw_headers

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {display_url(self.url)}>"

    @property
    def headers(self) -> list[tuple[str, str]]:
        if self._headers is None:
            self._headers = decoded(self.raw_headers)
        return self._headers

    def header(self, name: str) -> str | None:
        """The first value of the header field ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((v for n, v in self.headers if n.lower() == name), None)

    @property
    def content(self) -> bytes:
        """The whole body. ``RuntimeError`` when it has not been read (use ``aread()``)."""
        if self._content is None:
            raise RuntimeError(
                "the body of a streamed response has not been read: use "
                "`await response.aread()` or `async for chunk in response.aiter_bytes()`"
            )
        return self._content

    async def aiter_bytes(self) -> AsyncGenerator[bytes, None]:
        """Yield the body as it arrives. Raises ``TransportError`` if the connection
        breaks, and ``RuntimeError`` when the body was already consumed or closed. When
        the read fails, is cancelled or is stopped before the end, the connection is
        closed and its pool slot freed at once."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        try:
            while (chunk := await self._next_chunk()) is not None:
                yield chunk
        except BaseException:
            # Stopped before the end (GeneratorExit included): see _next_chunk.
            await self._abort()
            raise

    async def aread(self, *, limit: int | None = None) -> bytes:
        """Read the rest of the body into ``content`` and return it. With ``limit``, a
        body longer than that many bytes raises ``TransportError``. On any exception,
        cancellation included, the connection is closed (not reused) and its slot freed."""
        if self._content is not None:
            return self._content
        connection = self._connection
        if connection is None:
            raise RuntimeError(self._consumed())
        http, chunks = connection.http, self._arrived
        try:
            while not self._complete and not http.read_body(chunks):
                self._check_size(chunks, limit)
                await connection.receive()
            self._check_size(chunks, limit)
        except BaseException:
            await self._abort()  # see _next_chunk
            raise
        self._content = b"".join(chunks)
        if not self._keep_connection():
            await self._abort()
        return self._content

    def read_arrived(self) -> bool:
        """Read the body into ``content`` without awaiting, if all of it has arrived
        (a small one usually comes in the same read as the head) and the connection goes
        back to the pool: True. Else False, and ``aread()`` does the rest. Raises
        ``TransportError``; the caller then closes the response."""
        connection = self._connection
        if connection is None or self._complete or not connection.http.read_body(self._arrived):
            return False
        self._complete = True
        if self._pool is None or not self._pool.keep(connection):
            return False
        self._connection = None
        self._content = b"".join(self._arrived)
        return True

    def _check_size(self, chunks: list[bytes], limit: int | None) -> None:
        if limit is not None and sum(map(len, chunks)) > limit:
            raise TransportError(self.url, f"the response body is larger than {limit} bytes")

    async def adiscard(self, *, limit: int = 64 * 1024) -> None:
        """Drop the body before the request is sent again: read to its end (so the
        connection can be reused) when it is at most ``limit`` bytes, else close the
        connection, so a hostile server cannot make a retry download without end."""
        if self._content is not None:
            return
        size = 0
        while (chunk := await self._next_chunk()) is not None:
            size += len(chunk)
            if size > limit:
                await self._abort()
                return

    def _consumed(self) -> str:
        return f"the body of {self!r} was already consumed or closed"

    async def _next_chunk(self) -> bytes | None:
        """The next piece of the body as h11 parsed it (never more than one chunk of a
        chunked body), or None at its end (the connection is given back for reuse as soon
        as the end arrives). ``RuntimeError`` when the body was already consumed or closed."""
        pieces = self._arrived
        if pieces:
            return pieces.pop(0)
        if self._complete:
            return None
        connection = self._connection
        if connection is None:
            raise RuntimeError(self._consumed())
        try:
            while not connection.http.read_body(pieces):
                if pieces:
                    return pieces.pop(0)
                await connection.receive()
        except BaseException:
            # A broken or cancelled read leaves the connection mid-response (RFC 9112
            # §9.3: it cannot carry another request): close it and free its slot now,
            # whether or not the caller ever calls aclose().
            await self._abort()
            raise
        if not self._keep_connection():
            await self._abort()
        return pieces.pop(0) if pieces else None

    def _keep_connection(self) -> bool:
        """The body was read to its end: the connection goes back to the pool for reuse
        when h11 agrees (True; no await). False: close it (``_abort()``)."""
        self._complete = True
        connection, pool = self._connection, self._pool
        if connection is not None and pool is not None and pool.keep(connection):
            self._connection = None
            return True
        return False

    async def _abort(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._pool is not None:
            await self._pool.release(connection, reuse=False)

    async def aclose(self) -> None:
        """Release the connection: kept for reuse only when the body was read to its end."""
        connection, self._connection = self._connection, None
        if connection is not None and self._pool is not None:
            await self._pool.release(connection, reuse=self._complete)
