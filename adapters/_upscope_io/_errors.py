"""The one transport exception both async adapters raise."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["TransportError", "without_query"]


def without_query(url: str) -> str:
    """``url`` as messages show it: scheme, host, port and path. The query (it may carry
    an API key or a signature), the fragment and any userinfo are left out."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<an invalid URL>"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{port}" if port is not None else host
    shown = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return shown + "?..." if parts.query else shown


class TransportError(Exception):
    """The HTTP exchange with ``url`` failed below HTTP: connecting, TLS, a closed or
    reset connection, or a response that breaks HTTP/1.1.

    ``what`` says what happened. The connection involved is closed and never reused;
    sending the request again is safe only if the request is idempotent (RFC 9110 §9.2.2).
    ``url`` is the whole URL; the message shows it without its query (``without_query``).
    """

    def __init__(self, url: str, what: str) -> None:
        self.url = url
        self.what = what
        super().__init__(
            f"{what} ({without_query(url)}). Check that the server is up and reachable, then retry."
        )
