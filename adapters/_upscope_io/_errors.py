"""The one transport exception both async adapters raise."""

from __future__ import annotations

from sansio_upscope._urls import display_url

__all__ = ["TransportError"]


class TransportError(Exception):
    """The HTTP exchange with ``url`` failed below HTTP: connecting, TLS, a closed or
    reset connection, or a response that breaks HTTP/1.1.

    ``what`` says what happened. The connection involved is closed and never reused;
    sending the request again is safe only if the request is idempotent (RFC 9110 §9.2.2).
    ``url`` is the whole URL; the message shows it without its query (``display_url``).
    """

    def __init__(self, url: str, what: str) -> None:
        self.url = url
        self.what = what
        super().__init__(
            f"{what} ({display_url(url)}). Check that the server is up and reachable, then retry."
        )
