"""Where a token comes from for the requests adapter: the one place that tells a plain
callable from a built-in OAuth flow (``sansio_upscope.oauth``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests

from _upscope_io import MAX_OAUTH_RESPONSE, drive_sync
from sansio_upscope import RequestToken, Token
from sansio_upscope.oauth import (
    HttpRequest,
    HttpResponse,
    TokenSource,
)

from ._prepared import read_limited

if TYPE_CHECKING:
    from upscope_store import Flight

__all__ = ["DEFAULT_OAUTH_TIMEOUT", "SyncTokenSource", "obtain_token"]

#: ``def tokens(request: RequestToken) -> Token``, or an OAuth token source.
SyncTokenSource = Callable[[RequestToken], Token] | TokenSource


#: The caller's send options that also bind an OAuth flow's requests.
_SEND_OPTIONS = ("timeout", "verify", "proxies", "cert")

#: Seconds each request of a built-in OAuth flow may take when the call's own
#: ``timeout=`` is None or not known (``UpscopeAuth(timeout=...)``).
DEFAULT_OAUTH_TIMEOUT = 30.0


def obtain_token(
    tokens: SyncTokenSource,
    request: RequestToken,
    options: Mapping[str, Any],
    default_timeout: float | tuple[float, float] | None = DEFAULT_OAUTH_TIMEOUT,
    flight: Flight | None = None,
) -> Token:
    """Ask ``tokens`` for a token. An OAuth flow talks HTTP through a plain
    ``requests.Session`` (the authorization server's answers are not step-up
    challenges) with the caller's ``timeout``, ``verify``, ``proxies`` and ``cert``;
    ``default_timeout`` when the caller's timeout is None or absent.
    With a token store's ``flight``, the fleet's single flight runs first.
    Raises whatever the token source raises."""
    if flight is not None:
        return flight.obtain_sync(
            request, lambda again: obtain_token(tokens, again, options, default_timeout), tokens
        )
    if not isinstance(tokens, TokenSource):
        return tokens(request)
    if options.get("timeout") is None:
        options = {**options, "timeout": default_timeout}
    with requests.Session() as session:

        def send(http_request: HttpRequest) -> HttpResponse:
            response = session.request(
                http_request.method,
                http_request.url,
                headers=dict(http_request.headers),
                data=http_request.body,
                allow_redirects=False,
                stream=True,
                **{name: options[name] for name in _SEND_OPTIONS if name in options},
            )
            return HttpResponse(
                status_code=response.status_code,
                headers=list(response.headers.items()),
                body=read_limited(response, MAX_OAUTH_RESPONSE),
            )

        return drive_sync(tokens, request, send=send, now=time.time)
