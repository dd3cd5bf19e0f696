"""Where a token comes from, for both async adapters: the one place that tells a
plain async callable from a built-in OAuth flow (``sansio_upscope.oauth``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sansio_upscope import RequestToken, Token
from sansio_upscope.oauth import (
    HttpRequest,
    HttpResponse,
    TokenSource,
)

from ._drive import MAX_OAUTH_RESPONSE, drive_async
from ._pool import ConnectionPool

if TYPE_CHECKING:
    from upscope_store import Flight, TokenStore

__all__ = ["AsyncTokenSource", "RunInThread", "flight_for", "obtain_token"]

#: ``async def tokens(request: RequestToken) -> Token``, or an OAuth token source.
AsyncTokenSource = Callable[[RequestToken], Awaitable[Token]] | TokenSource


def flight_for(store: TokenStore | None) -> Flight | None:
    """The fleet single flight in front of a client's token source, when it has a
    store (``upscope_store`` is imported only then)."""
    if store is None:
        return None
    from upscope_store import Flight

    return Flight(store)


#: Runs a blocking call off the event loop (``asyncio.to_thread``, ``trio.to_thread``).
RunInThread = Callable[[Callable[[], str]], Awaitable[str]]


async def obtain_token(
    tokens: AsyncTokenSource,
    request: RequestToken,
    pool: ConnectionPool,
    run_in_thread: RunInThread | None = None,
    flight: Flight | None = None,
) -> Token:
    """Ask ``tokens`` for a token; an OAuth flow talks HTTP over ``pool`` (plain
    requests: the authorization server's answers are not step-up challenges).

    An ``AuthorizationCode`` flow with no ``authorize`` hook waits for the system
    browser on a loopback receiver through ``run_in_thread``.
    With a token store's ``flight``, a kept or published token answers first, and the
    token source is asked under the fleet's lease (``upscope_store.Flight``).
    Raises whatever the token source raises (``OAuthError``, ``TransportError``...);
    the caller feeds it back to the machine as ``TokenFailed``.
    """
    if flight is not None and run_in_thread is not None:

        def fetch(request: RequestToken) -> Awaitable[Token]:
            return obtain_token(tokens, request, pool, run_in_thread)

        return await flight.obtain_async(request, fetch, run_in_thread, tokens)
    if isinstance(tokens, TokenSource):

        async def send(http_request: HttpRequest) -> HttpResponse:
            response = await pool.send(
                http_request.method, http_request.url, list(http_request.headers), http_request.body
            )
            try:
                body = await response.aread(limit=MAX_OAUTH_RESPONSE)
            finally:
                await response.aclose()  # no-op once read; frees the slot on any failure
            return HttpResponse(
                status_code=response.status_code, headers=response.headers, body=body
            )

        return await drive_async(
            tokens, request, send=send, now=time.time, run_in_thread=run_in_thread
        )
    return await tokens(request)
