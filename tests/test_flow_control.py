"""The async clients move large bodies at the pace of the slower side, over real sockets
on 127.0.0.1: an upload larger than every buffer arrives whole, a streamed upload is
pulled from its iterator no faster than the server reads, a download the caller reads
slowly holds the server back instead of filling memory, and a connection the server
resets while a body is still going out ends the request with ``TransportError``. The
large upload and the slow download also run over TLS, whose layer has buffers of its own.

Each server here is a socket (wrapped in TLS for https) on its own thread that records
what it did, so the tests assert what the server saw, never a duration.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

import upscope_asyncio
import upscope_trio
from _upscope_io import AsyncClient, TransportError
from sansio_upscope import RequestToken, Token
from tests.hostile.server import reset_on_close

#: Far larger than a socket's send buffer (at most 4 MiB by default on Linux), so the
#: sender must wait for the other side to read.
LARGE = 32 * 1024 * 1024


def _beyond_every_buffer() -> int:
    """Bytes that cannot all sit in the kernel's buffers of a loopback connection (the
    largest receive buffer plus the largest send buffer it may grow to) and the 1 MiB the
    client holds unread: a writer whose reader stopped cannot finish sending them."""
    most = 0
    for kind in ("rmem", "wmem"):  # "min default max" in bytes (Linux)
        try:
            most += int(Path(f"/proc/sys/net/ipv4/tcp_{kind}").read_text().split()[2])
        except (OSError, ValueError, IndexError):
            most += 32 * 1024 * 1024
    return most + 4 * 1024 * 1024


async def _never(request: RequestToken) -> Token:
    raise AssertionError("the server never challenges")


def _client(framework: str, server: OneShotServer | None = None) -> AsyncClient:
    """A client of ``framework`` that trusts ``server``'s certificate if it has one."""
    cls = upscope_asyncio.Client if framework == "asyncio" else upscope_trio.Client
    trusting = None
    if server is not None and server.ca is not None:
        trusting = ssl.create_default_context()
        server.ca.configure_trust(trusting)
    return cls(_never, ssl_context=trusting)


def _run(framework: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    if framework == "asyncio":
        asyncio.run(main())
    else:
        trio.run(main)


async def _sleep(framework: str, seconds: float) -> None:
    await (asyncio.sleep(seconds) if framework == "asyncio" else trio.sleep(seconds))


class OneShotServer:
    """Accepts one connection and hands it to ``serve`` on a thread; over TLS with a
    certificate from a test CA (``ca``) when ``scheme`` is https."""

    def __init__(self, serve: Callable[[socket.socket], None], scheme: str = "http") -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/"
        self.ca: trustme.CA | None = None
        self._tls: ssl.SSLContext | None = None
        if scheme == "https":
            self.ca = trustme.CA()
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("127.0.0.1").configure_cert(self._tls)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(serve,), daemon=True)
        self._thread.start()

    def _run(self, serve: Callable[[socket.socket], None]) -> None:
        try:
            sock, _ = self._listener.accept()
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_side=True)
            with sock:
                serve(sock)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self) -> None:
        self._thread.join(timeout=30)
        self._listener.close()
        assert not self._thread.is_alive(), "the server thread did not finish"
        if self.error is not None:
            raise self.error


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The request head and whatever of the body came with it."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        assert data, "the client closed before sending its head"
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise AssertionError(f"no Content-Length in {head!r}")


def _read_chunked(sock: socket.socket, data: bytes) -> int:
    """Read a chunked body (RFC 9112 §7.1) that begins with ``data``; its length."""
    buffer, length = bytearray(data), 0

    def fill(at_least: int) -> None:
        while len(buffer) < at_least:
            more = sock.recv(65536)
            assert more, "the client closed mid-body"
            buffer.extend(more)

    while True:
        while b"\r\n" not in buffer:
            fill(len(buffer) + 1)
        line_end = buffer.index(b"\r\n")
        size = int(buffer[:line_end].split(b";")[0], 16)
        fill(line_end + 2 + size + 2)  # the chunk and its CRLF (or the empty trailer's)
        del buffer[: line_end + 2 + size + 2]
        if size == 0:
            return length
        length += size


@pytest.fixture(params=["asyncio", "trio"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["http", "https"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_an_upload_larger_than_every_buffer_arrives_whole(framework: str, scheme: str) -> None:
    body = os.urandom(LARGE)
    received: list[bytes] = []

    def echo_digest(sock: socket.socket) -> None:
        head, data = _read_head(sock)
        length = _content_length(head)
        chunks = [data]
        while (got := sum(map(len, chunks))) < length:
            chunk = sock.recv(min(65536, length - got))
            assert chunk, "the client closed mid-body"
            chunks.append(chunk)
        received.append(b"".join(chunks))
        digest = hashlib.sha256(received[0]).hexdigest().encode()
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(digest), digest))

    server = OneShotServer(echo_digest, scheme)

    async def main() -> None:
        async with _client(framework, server) as client:
            response = await client.request("POST", server.url, content=body)
            assert response.status_code == 200
            assert response.content == hashlib.sha256(body).hexdigest().encode()

    _run(framework, main)
    server.join()
    assert received == [body]


def test_a_slow_reader_holds_the_server_back_and_loses_nothing(framework: str, scheme: str) -> None:
    size = _beyond_every_buffer()
    sent = hashlib.sha256()
    all_sent = threading.Event()

    def send_large(sock: socket.socket) -> None:
        _read_head(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for start in range(0, size, 65536):  # a different piece each time, made as it goes
            piece = start.to_bytes(8, "big") * (min(65536, size - start) // 8)
            sent.update(piece)
            sock.sendall(piece)
        all_sent.set()

    server = OneShotServer(send_large, scheme)
    received = hashlib.sha256()
    length = 0

    async def main() -> None:
        nonlocal length
        client = _client(framework, server)
        async with client, client.stream("GET", server.url) as response:
            pieces = response.aiter_bytes()
            first = await pieces.__anext__()
            # The caller stops reading for a while: the client must not read the rest
            # into memory meanwhile, so the server cannot finish sending.
            await _sleep(framework, 0.5)
            assert not all_sent.is_set(), "the client read the whole body nobody asked for"
            received.update(first)
            length = len(first)
            async for piece in pieces:
                received.update(piece)
                length += len(piece)

    _run(framework, main)
    server.join()
    assert all_sent.is_set()
    assert (length, received.hexdigest()) == (size, sent.hexdigest())


def test_a_streamed_upload_is_pulled_at_the_servers_pace(framework: str) -> None:
    size, piece = _beyond_every_buffer(), b"u" * 65536
    made = 0  # bytes the body's iterator has given the client so far
    made_before_the_server_read: list[int] = []

    def read_late(sock: socket.socket) -> None:
        _head, data = _read_head(sock)
        time.sleep(0.5)  # busy elsewhere: the client must stop pulling the body meanwhile
        made_before_the_server_read.append(made)
        length = _read_chunked(sock, data)
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(str(length)), length)
        )

    server = OneShotServer(read_late)

    async def body() -> AsyncIterator[bytes]:
        nonlocal made
        while made < size:
            made += len(piece)
            yield piece

    async def main() -> None:
        async with _client(framework) as client:
            response = await client.request("POST", server.url, content=body())
            assert response.content == str(made).encode()

    _run(framework, main)
    server.join()
    assert made >= size
    assert made_before_the_server_read[0] < size, "the client pulled the whole body at once"


@pytest.mark.parametrize("body", ["streamed", "larger than every buffer"])
def test_a_reset_while_the_body_is_still_going_out_is_a_transport_error(
    framework: str, body: str
) -> None:
    head_read = threading.Event()

    def reset_after_the_head(sock: socket.socket) -> None:
        _read_head(sock)
        head_read.set()
        reset_on_close(sock)

    server = OneShotServer(reset_after_the_head)

    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(2000):  # stops early: the reset ends the request
            yield b"x" * 1000
            await _sleep(framework, 0.01 if head_read.is_set() else 0)

    async def main() -> None:
        content = slow_body() if body == "streamed" else os.urandom(LARGE)
        async with _client(framework) as client:
            with pytest.raises(TransportError, match="sending the request failed"):
                await client.request("POST", server.url, content=content)

    _run(framework, main)
    server.join()
