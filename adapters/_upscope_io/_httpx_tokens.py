"""Where a token comes from for the httpx adapters: a callable, or a built-in OAuth
flow (``sansio_upscope.oauth``) whose requests go through a PRIVATE client of the same
library (or the one the user gave as ``oauth_client``), never through the client the
auth is attached to: no token response ever shows in its history or its event hooks."""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from sansio_upscope import RequestToken, Token
from sansio_upscope._urls import display_url
from sansio_upscope.oauth import HttpRequest, HttpResponse, TokenSource

from ._drive import drive_async, drive_sync
from ._waiting import run_in_thread

__all__ = [
    "MAX_OAUTH_RESPONSE",
    "HttpxTokenSource",
    "OAuthClient",
    "obtain_async",
    "obtain_sync",
]

#: ``def tokens(request) -> Token`` (sync ``Client``), ``async def tokens(request) ->
#: Token`` (``AsyncClient``), or an OAuth token source (either).
HttpxTokenSource = (
    Callable[[RequestToken], Token] | Callable[[RequestToken], Awaitable[Token]] | TokenSource
)

#: The largest metadata or token response an OAuth flow reads.
MAX_OAUTH_RESPONSE = 1024 * 1024


@attrs.frozen(kw_only=True)
class OAuthClient:
    """Where an OAuth flow's requests go: the user's client (``given``, of the right
    kind, used as it is), else a private client of ``library`` made for the flow, with
    the timeout of the call that needed the token (httpx's ``timeout`` extension)."""

    library: Any
    given: object
    timeout: Mapping[str, float | None] | None

    @classmethod
    def for_request(cls, library: Any, given: object, request: Any) -> OAuthClient:
        # A private client takes the call's own timeout (httpx keeps it in extensions).
        return cls(library=library, given=given, timeout=request.extensions.get("timeout"))

    def open(self, kind: str) -> Any:
        """A context manager yielding the client (``kind``: ``Client``, ``AsyncClient``)."""
        wanted = getattr(self.library, kind)
        if self.given is None:
            return (
                wanted()
                if self.timeout is None
                else wanted(timeout=self.library.Timeout(**self.timeout))
            )
        if not isinstance(self.given, wanted):
            raise TypeError(
                f"oauth_client= is a {type(self.given).__name__}; this request needs a "
                f"{self.library.__name__}.{kind} for its OAuth requests"
            )
        return contextlib.nullcontext(self.given)


def obtain_sync(
    tokens: HttpxTokenSource, request: RequestToken, via: OAuthClient, flight: Any = None
) -> Token:
    """Ask ``tokens`` for a token from a sync flow, through ``flight`` (an
    ``upscope_store.Flight``) when the auth has a store. Raises what the source raises."""
    if flight is not None:
        return flight.obtain_sync(  # type: ignore[no-any-return]
            request, lambda again: obtain_sync(tokens, again, via), tokens
        )
    if not isinstance(tokens, TokenSource):
        token = tokens(request)
        if inspect.iscoroutine(token):
            token.close()
            raise TypeError(
                "the token source is an async function, and this request was sent with a "
                "sync Client: use an AsyncClient, or pass a sync token function"
            )
        return _checked(token)
    with via.open("Client") as client:

        def send(http_request: HttpRequest) -> HttpResponse:
            with client.stream(**_arguments(http_request)) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body = _append(body, chunk, response, via.library)
            return _response(response, body)

        return drive_sync(tokens, request, send=send, now=time.time)


async def obtain_async(
    tokens: HttpxTokenSource, request: RequestToken, via: OAuthClient, flight: Any = None
) -> Token:
    """Ask ``tokens`` for a token from an async flow (a sync function is called as
    it is), through ``flight`` when the auth has a store. An ``AuthorizationCode`` flow
    with no ``authorize`` hook waits for the system browser in a worker thread. Raises
    what the source raises."""
    if flight is not None:
        return await flight.obtain_async(  # type: ignore[no-any-return]
            request, lambda again: obtain_async(tokens, again, via), run_in_thread, tokens
        )
    if not isinstance(tokens, TokenSource):
        token = tokens(request)
        if inspect.isawaitable(token):
            token = await token
        return _checked(token)
    async with via.open("AsyncClient") as client:

        async def send(http_request: HttpRequest) -> HttpResponse:
            async with client.stream(**_arguments(http_request)) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body = _append(body, chunk, response, via.library)
            return _response(response, body)

        return await drive_async(
            tokens, request, send=send, now=time.time, run_in_thread=run_in_thread
        )


def _checked(token: object) -> Token:
    if not isinstance(token, Token):
        raise TypeError(
            f"the token source returned a {type(token).__name__}, not a sansio_upscope.Token"
        )
    return token


def _arguments(http_request: HttpRequest) -> dict[str, Any]:
    # No redirect is followed (the metadata names each endpoint: an OAuth answer is
    # final) and no client auth runs (an UpscopeAuth on an oauth_client must not step
    # up on the authorization server's answers).
    return {
        "method": http_request.method,
        "url": http_request.url,
        "headers": list(http_request.headers),
        "content": http_request.body,
        "follow_redirects": False,
        "auth": None,
    }


def _append(body: bytes, chunk: bytes, response: Any, library: Any) -> bytes:
    # Metadata and token responses are small; a server that sends more is hostile.
    if len(body) + len(chunk) > MAX_OAUTH_RESPONSE:
        raise library.RemoteProtocolError(
            f"the response body from {display_url(str(response.url))} is larger than "
            f"{MAX_OAUTH_RESPONSE} bytes",
            request=response.request,
        )
    return body + chunk


def _response(response: Any, body: bytes) -> HttpResponse:
    return HttpResponse(
        status_code=response.status_code, headers=response.headers.multi_items(), body=body
    )
