"""Catch an OAuth authorization redirect on a loopback address (RFC 8252 §7.3).

Native apps receive the authorization response by listening on 127.0.0.1 at a port of
their choosing; the authorization server must accept any port for a loopback redirect
URI. ``LoopbackReceiver`` binds at construction (so ``redirect_uri`` is known before the
authorization request is built) and ``wait()`` blocks for one redirect. Blocking, stdlib
only; async code runs ``wait``/``open_browser_and_wait`` in a worker thread.
"""

from __future__ import annotations

import contextlib
import socket
import time
import webbrowser
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["LoopbackReceiver"]

_PAGE = (
    b"<!doctype html><title>Authorization finished</title>"
    b"<p>Authorization finished. You can close this window.</p>"
)
_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class LoopbackReceiver:
    """Listens on ``host:port`` (port 0: any free one) for a GET to ``path``.

    Raises ``OSError`` when the port cannot be bound.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/callback",
        timeout: float = 300.0,
    ) -> None:
        if host not in _LOOPBACK_HOSTS:
            raise ValueError(f"host must be a loopback address (RFC 8252 §8.3), not {host!r}")
        bind_host = "127.0.0.1" if host == "localhost" else host
        family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self._socket = socket.create_server((bind_host, port), family=family)
        self.port: int = self._socket.getsockname()[1]
        self.path = path or "/"
        self.timeout = timeout
        netloc = f"[{host}]" if ":" in host else host
        self.redirect_uri = f"http://{netloc}:{self.port}{self.path}"

    @classmethod
    def for_redirect_uri(
        cls, redirect_uri: str | None, *, timeout: float = 300.0
    ) -> LoopbackReceiver:
        """A receiver for ``redirect_uri`` (None: 127.0.0.1, free port, /callback).
        A redirect URI without a port gets a free one (RFC 8252 §7.3).
        Raises ``ValueError`` for a URI that is not http on a loopback host."""
        if redirect_uri is None:
            return cls(timeout=timeout)
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(
                f"redirect_uri {redirect_uri!r} is not http on a loopback host; the loopback "
                f"receiver can only listen on 127.0.0.1, ::1 or localhost"
            )
        return cls(host=parts.hostname, port=parts.port or 0, path=parts.path, timeout=timeout)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the browser is redirected to ``path``; return the full redirect URL.

        Other requests (a favicon) get 404 and waiting goes on. Raises ``TimeoutError``
        after ``timeout`` seconds (default: the receiver's).
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"No authorization redirect reached {self.redirect_uri} in time; finish "
                    f"the login in the browser, or raise the timeout"
                )
            self._socket.settimeout(remaining)
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(10)
                target = _request_target(connection)
                if target is not None and urlsplit(target).path == self.path:
                    _answer(connection, b"200 OK", _PAGE)
                    return self.redirect_uri + target[len(urlsplit(target).path) :]
                _answer(connection, b"404 Not Found", b"not found")

    def open_browser_and_wait(self, url: str) -> str:
        """Open ``url`` in the system browser, then ``wait()``: the default ``authorize``."""
        webbrowser.open(url)
        return self.wait()

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LoopbackReceiver(redirect_uri={self.redirect_uri!r})"


def _request_target(connection: socket.socket) -> str | None:
    """The request-target of a GET (RFC 9112 §3), or None for anything else."""
    head = b""
    try:
        while b"\r\n\r\n" not in head and len(head) < 16384:
            chunk = connection.recv(4096)
            if not chunk:
                break
            head += chunk
    except OSError:
        return None
    method, _, rest = head.partition(b" ")
    target = rest.partition(b" ")[0]
    if method != b"GET" or not target.startswith(b"/"):
        return None
    return target.decode("ascii", "replace")


def _answer(connection: socket.socket, status: bytes, body: bytes) -> None:
    head = (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Cache-Control: no-store\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        connection.sendall(head + body)
