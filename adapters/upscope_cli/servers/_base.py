"""A loopback HTTP/1.1 server in a background thread, the base of both demo servers."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = ["Handler", "LoopbackServer"]

App = TypeVar("App", bound="LoopbackServer")


class _HTTPServer(ThreadingHTTPServer, Generic[App]):
    daemon_threads = True
    # socketserver's default listen backlog of 5 drops SYNs when many clients connect
    # at once; each drop costs a 1 s retransmit.
    request_queue_size = 128
    app: App


class Handler(BaseHTTPRequestHandler, Generic[App]):
    """Keep-alive HTTP/1.1 request handler with small helpers; quiet (no access log)."""

    protocol_version = "HTTP/1.1"
    # The head and the body go out in separate writes: without this, Nagle's algorithm
    # and delayed ACKs add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _HTTPServer[App]

    @property
    def app(self) -> App:
        return self.server.app

    def setup(self) -> None:
        super().setup()
        self.app._track(self.connection, True)

    def finish(self) -> None:
        self.app._track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        """The request body: Content-Length or chunked (RFC 9112 §6, §7.1)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(
        self, status: int, document: object, *, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.reply(status, json.dumps(document).encode(), headers=headers)


class LoopbackServer:
    """Listens on 127.0.0.1, port chosen by the OS; serves from a background thread.

    Use as a context manager, or ``start()`` / ``close()``. ``url`` is the base URL.
    ``close()`` also cuts open keep-alive connections.
    """

    handler: type[Handler[Any]]

    def __init__(self) -> None:
        #: Set before ``start()`` to serve https with this server-side context.
        self.tls_context: ssl.SSLContext | None = None
        self._httpd: _HTTPServer[Any] | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started: call start() first")
        scheme = "http" if self.tls_context is None else "https"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> LoopbackServer:
        httpd: _HTTPServer[Any] = _HTTPServer(("127.0.0.1", 0), self.handler)
        httpd.app = self
        if self.tls_context is not None:
            httpd.socket = self.tls_context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        # A short poll interval: close() waits for the loop to notice the shutdown.
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.02,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def __enter__(self: App) -> App:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
