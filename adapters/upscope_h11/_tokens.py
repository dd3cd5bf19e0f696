"""Where a token comes from, for both async adapters: the one place that tells a
plain async callable from a built-in OAuth flow (``sansio_upscope.oauth``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from sansio_upscope import RequestToken, Token

from ._pool import ConnectionPool

__all__ = ["AsyncTokenSource", "obtain_token"]

#: ``async def tokens(request: RequestToken) -> Token``, or an OAuth token source
#: (``ClientCredentials``, ``AuthorizationCode``) with a ``flow()`` method.
AsyncTokenSource = Callable[[RequestToken], Awaitable[Token]] | Any


def is_oauth_source(tokens: object) -> bool:
    """OAuth token sources are sans-IO objects with a ``flow(request, now=...)`` method."""
    return callable(getattr(tokens, "flow", None))


async def obtain_token(
    tokens: AsyncTokenSource, request: RequestToken, pool: ConnectionPool
) -> Token:
    """Ask ``tokens`` for a token; an OAuth flow goes over ``pool`` (no step-up on it).

    Raises whatever the token source raises; the caller feeds it back as ``TokenFailed``.
    """
    if not is_oauth_source(tokens):
        token: Token = await tokens(request)
        return token
    from sansio_upscope.oauth import HttpRequest, HttpResponse, drive_async  # type: ignore[attr-defined,unused-ignore]

    async def send(http_request: HttpRequest) -> HttpResponse:
        response = await pool.send(
            http_request.method,
            http_request.url,
            list(http_request.headers),
            http_request.body,
        )
        body = await response.aread()
        return HttpResponse(status_code=response.status_code, headers=response.headers, body=body)

    result: Token = await drive_async(tokens, request, send=send, now=time.time())
    return result
