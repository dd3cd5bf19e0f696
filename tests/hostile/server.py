"""A scripted raw-bytes HTTP/1.1 server on 127.0.0.1, for the hostile-server suite.

Unlike the demo servers (``upscope_cli.servers``), this one does not speak HTTP correctly on
purpose: for each request it asks a *script* what to do, and the answer is raw bytes
written to the socket as they are (a 1 MB header, obs-text, a truncated body), or one of
the misbehaviours below. Every request it reads is recorded (``requests``), so a test can
assert how many requests the client made and what they carried (``Authorization``).

Reading requests is deliberately simple and strict: a head up to CRLF CRLF, then a body
by ``Content-Length`` or chunked transfer coding (RFC 9112 §6, §7.1). Threads: one to
accept, one per connection; ``close()`` cuts every connection, so a client blocked on a
hanging reply is woken with a reset instead of hanging the test run.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from types import TracebackType

import attrs

__all__ = [
    "CLOSE",
    "HANG",
    "Reply",
    "Request",
    "ScriptedServer",
    "reset_on_close",
    "response",
    "routes",
]


@attrs.frozen(kw_only=True)
class Request:
    """One request as the server read it. ``connection`` counts connections from 0;
    ``index`` counts requests over the server's life from 0."""

    connection: int
    index: int
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@attrs.frozen(kw_only=True)
class Reply:
    """What to do with one request: write ``data`` (raw bytes, maybe empty), then
    close the connection when ``close`` is set, or reset it (``reset``: a TCP RST, which
    the client reads as an error rather than the end of the stream), or stop answering
    and hold the connection open until the server closes (``hang``). ``later``: bytes
    nobody asked for, written 50 ms after ``data``, while the connection is idle."""

    data: bytes = b""
    close: bool = False
    reset: bool = False
    hang: bool = False
    later: bytes = b""


#: Close the connection without a byte of response.
CLOSE = Reply(close=True)
#: Read the request, never answer it.
HANG = Reply(hang=True)

Script = Callable[[Request], Reply | bytes]


def response(
    status: int,
    headers: Iterable[tuple[str | bytes, str | bytes]] = (),
    body: bytes = b"",
    *,
    reason: bytes = b"",
    content_length: bool = True,
) -> bytes:
    """The bytes of a response; header names and values go out exactly as given (bytes
    or latin-1 text), so a test can send what no well-behaved server would."""
    lines = [b"HTTP/1.1 %d %s" % (status, reason or _REASONS.get(status, b"Whatever"))]
    for name, value in headers:
        n = name.encode("latin-1") if isinstance(name, str) else name
        v = value.encode("latin-1") if isinstance(value, str) else value
        lines.append(n + b": " + v)
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


_REASONS = {
    200: b"OK",
    302: b"Found",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    500: b"Internal Server Error",
}

_MAX_HEAD = 1 << 20


def reset_on_close(sock: socket.socket) -> None:
    """Make ``sock.close()`` reset the connection (TCP RST) instead of ending it (FIN):
    SO_LINGER on, with a zero timeout."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _Broken(Exception):
    """The client closed the connection or sent something unreadable."""


class ScriptedServer:
    """Serves ``script(request) -> Reply | bytes`` on ``127.0.0.1``, port chosen by the OS.

    Use as a context manager. ``url`` is the base URL (``http://127.0.0.1:PORT``),
    ``requests`` every request read so far, in order.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._connections = 0
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        accept = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        self._threads.append(accept)
        accept.start()

    def paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]

    def count(self, path: str) -> int:
        return self.paths().count(path)

    def close(self) -> None:
        self._closing.set()
        # shutdown() wakes the thread blocked in accept(); close() alone does not (Linux).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- threads ------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closing.is_set():
                    sock.close()
                    return
                self._sockets.add(sock)
                number = self._connections
                self._connections += 1
                thread = threading.Thread(
                    target=self._serve, args=(sock, number), name="hostile-conn", daemon=True
                )
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        buffer = bytearray()
        try:
            while not self._closing.is_set():
                try:
                    request = self._read_request(sock, buffer, number)
                except _Broken:
                    return
                reply = self.script(request)
                if isinstance(reply, bytes):
                    reply = Reply(data=reply)
                if reply.data:
                    sock.sendall(reply.data)
                if reply.later and not self._closing.wait(0.05):
                    sock.sendall(reply.later)
                if reply.hang:
                    self._closing.wait()
                    return
                if reply.reset:
                    reset_on_close(sock)
                    return
                if reply.close:
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _read_request(self, sock: socket.socket, buffer: bytearray, number: int) -> Request:
        while b"\r\n\r\n" not in buffer:
            self._fill(sock, buffer)
            if len(buffer) > _MAX_HEAD:
                raise _Broken
        end = buffer.index(b"\r\n\r\n")
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 4]
        request_line, *lines = head.split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers = tuple(
            (name.strip(), value.strip())
            for name, value in (line.split(":", 1) for line in lines if ":" in line)
        )
        fields = {name.lower(): value for name, value in headers}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked(sock, buffer)
        else:
            body = self._read_exactly(sock, buffer, int(fields.get("content-length") or 0))
        with self._lock:
            request = Request(
                connection=number,
                index=len(self.requests),
                method=method,
                target=target,
                headers=headers,
                body=body,
            )
            self.requests.append(request)
        return request

    def _fill(self, sock: socket.socket, buffer: bytearray) -> None:
        data = sock.recv(65536)
        if not data:
            raise _Broken
        buffer += data

    def _read_exactly(self, sock: socket.socket, buffer: bytearray, size: int) -> bytes:
        while len(buffer) < size:
            self._fill(sock, buffer)
        data = bytes(buffer[:size])
        del buffer[:size]
        return data

    def _read_line(self, sock: socket.socket, buffer: bytearray) -> bytes:
        while b"\r\n" not in buffer:
            self._fill(sock, buffer)
        end = buffer.index(b"\r\n")
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        return line

    def _read_chunked(self, sock: socket.socket, buffer: bytearray) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self._read_line(sock, buffer).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self._read_line(sock, buffer):  # trailer section, then CRLF
                    pass
                return b"".join(chunks)
            chunks.append(self._read_exactly(sock, buffer, size))
            self._read_line(sock, buffer)


def routes(table: dict[str, Script], default: Script | None = None) -> Script:
    """A script that dispatches on the request path (the query is ignored)."""

    def script(request: Request) -> Reply | bytes:
        handler = table.get(request.path, default)
        if handler is None:
            return response(404, [("Content-Type", "text/plain")], b"no such path")
        return handler(request)

    return script
