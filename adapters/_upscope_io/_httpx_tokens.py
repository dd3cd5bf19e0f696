"""Where a token comes from for the httpx adapters: a callable, or a built-in OAuth
flow (``sansio_upscope.oauth``) whose requests go through a PRIVATE client of the same
library (or the one the user gave as ``oauth_client``), never through the client the
auth is attached to: no token response ever shows in its history or its event hooks."""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sansio_upscope import RequestToken, Token
from sansio_upscope.oauth import AuthorizationCode, ClientCredentials, HttpRequest, HttpResponse

from ._drive import drive_async, drive_sync
from ._errors import TransportError
from ._waiting import run_in_thread

__all__ = ["MAX_OAUTH_RESPONSE", "HttpxTokenSource", "obtain_async", "obtain_sync"]

#: ``def tokens(request) -> Token`` (sync ``Client``), ``async def tokens(request) ->
#: Token`` (``AsyncClient``), or an OAuth token source (either).
HttpxTokenSource = (
    Callable[[RequestToken], Token]
    | Callable[[RequestToken], Awaitable[Token]]
    | ClientCredentials
    | AuthorizationCode
)

#: The largest metadata or token response an OAuth flow reads.
MAX_OAUTH_RESPONSE = 1024 * 1024


def obtain_sync(
    tokens: HttpxTokenSource, request: RequestToken, library: Any, oauth_client: object
) -> Token:
    """Ask ``tokens`` for a token from a sync flow. Raises what the source raises."""
    if not isinstance(tokens, (ClientCredentials, AuthorizationCode)):
        token = tokens(request)
        if inspect.iscoroutine(token):
            token.close()
            raise TypeError(
                "the token source is an async function, and this request was sent with a "
                "sync Client: use an AsyncClient, or pass a sync token function"
            )
        assert isinstance(token, Token), f"the token source returned {type(token).__name__}"
        return token
    with _private_client(library.Client, oauth_client) as client:

        def send(http_request: HttpRequest) -> HttpResponse:
            with client.stream(**_arguments(http_request)) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body = _append(body, chunk, http_request.url)
            return _response(response, body)

        return drive_sync(tokens, request, send=send, now=time.time)


async def obtain_async(
    tokens: HttpxTokenSource, request: RequestToken, library: Any, oauth_client: object
) -> Token:
    """Ask ``tokens`` for a token from an async flow (a sync function is called as
    it is). An ``AuthorizationCode`` flow with no ``authorize`` hook waits for the
    system browser in a worker thread. Raises what the source raises."""
    if not isinstance(tokens, (ClientCredentials, AuthorizationCode)):
        token = tokens(request)
        if inspect.isawaitable(token):
            token = await token
        assert isinstance(token, Token), f"the token source returned {type(token).__name__}"
        return token
    async with _private_client(library.AsyncClient, oauth_client) as client:

        async def send(http_request: HttpRequest) -> HttpResponse:
            async with client.stream(**_arguments(http_request)) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body = _append(body, chunk, http_request.url)
            return _response(response, body)

        return await drive_async(
            tokens, request, send=send, now=time.time, run_in_thread=run_in_thread
        )


def _private_client(kind: type[Any], given: object) -> Any:
    """A new client of ``kind``, closed after the flow, or the user's, left open."""
    if given is None:
        return kind()
    if not isinstance(given, kind):
        raise TypeError(
            f"oauth_client= is a {type(given).__name__}; this request needs a "
            f"{kind.__module__.split('.')[0]}.{kind.__name__} for its OAuth requests"
        )
    return contextlib.nullcontext(given)


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


def _append(body: bytes, chunk: bytes, url: str) -> bytes:
    # Metadata and token responses are small; a server that sends more is hostile.
    if len(body) + len(chunk) > MAX_OAUTH_RESPONSE:
        raise TransportError(url, f"the response body is larger than {MAX_OAUTH_RESPONSE} bytes")
    return body + chunk


def _response(response: Any, body: bytes) -> HttpResponse:
    return HttpResponse(
        status_code=response.status_code, headers=response.headers.multi_items(), body=body
    )
