"""What the httpx flows do to httpx's (and httpx2's) requests and responses."""

from __future__ import annotations

import time
from typing import Any, Protocol, TypeVar

from sansio_upscope import Action, Exchange, GiveUp, ResponseReceived, Retry, Send, StepUpError
from sansio_upscope.dpop import AUTHORIZATION_HEADER, DPOP_HEADER, authorization_fields

from ._httpx_hops import carry_cookies, forget_proof_once_answered

__all__ = [
    "DISCARD_LIMIT",
    "HttpxRequest",
    "HttpxResponse",
    "authorize",
    "discard_async",
    "discard_sync",
    "finish",
    "raise_for_step_up",
    "response_received",
]

R = TypeVar("R")

#: A challenged response's body is read up to this size before the retry, so its
#: connection can be reused; past it the connection is closed instead.
DISCARD_LIMIT = 64 * 1024


class HttpxRequest(Protocol):
    """What the flows use of ``httpx.Request`` (and ``httpx2.Request``)."""

    method: str
    stream: Any
    extensions: Any

    @property
    def url(self) -> Any: ...

    @property
    def headers(self) -> Any: ...


class HttpxResponse(Protocol):
    """What the flows use of ``httpx.Response`` (and ``httpx2.Response``)."""

    stream: Any

    @property
    def is_stream_consumed(self) -> bool: ...

    @property
    def status_code(self) -> int: ...

    @property
    def url(self) -> Any: ...

    @property
    def headers(self) -> Any: ...

    @property
    def request(self) -> Any: ...

    @property
    def cookies(self) -> Any: ...


def raise_for_step_up(response: R) -> R:
    """Raise the ``StepUpError`` that ``UpscopeAuth`` attached to ``response`` when it
    gave up (``response.upscope_error``); else return ``response``."""
    error = vars(response).get("upscope_error")
    if isinstance(error, StepUpError):
        raise error
    return response


def response_received(
    exchange: Exchange, request: HttpxRequest, response: HttpxResponse
) -> ResponseReceived:
    """The core's event for ``response`` to ``request``: with the URL a followed redirect
    took it to (the core delivers another origin's answer as it is); for a status whose
    headers the core does not read, the one shared event."""
    status_code = response.status_code
    if response.request is not request:
        return ResponseReceived(
            status_code=status_code,
            headers=response.headers.raw,
            now=time.time(),
            url=str(response.url),
        )
    if exchange.needs_headers(status_code):
        return ResponseReceived(
            status_code=status_code, headers=response.headers.raw, now=time.time()
        )
    return ResponseReceived.status_only(status_code)


_DPOP = DPOP_HEADER.lower().encode()


def authorize(request: HttpxRequest, action: Send | Retry, *, asynchronous: bool) -> None:
    """Put the credential fields the core chose for ``action`` on ``request`` (a fresh
    DPoP proof for this method and URL when the token is DPoP-bound), replacing those of
    an earlier try or of the caller. No token yet: whatever the caller set goes out
    unchanged."""
    authorization = action.authorization
    if authorization is None:
        return
    headers = request.headers
    if action.dpop_key is None:
        # A Bearer token: the one field authorization_fields() gives for it, set directly
        # (speed: every request that carries a token comes here).
        headers[AUTHORIZATION_HEADER] = authorization
        # A proof of an earlier try, or the caller's, is not for this token.
        if _DPOP in map(bytes.lower, dict(headers.raw)):  # the names, looked at in C
            del headers[DPOP_HEADER]
        return
    url = str(request.url)  # the proof's htu
    for name, value in authorization_fields(
        action, method=request.method, url=url, now=time.time()
    ):
        headers[name] = value  # replaces any value of that name
    forget_proof_once_answered(request, asynchronous)


def finish(action: Action, response: HttpxResponse | None) -> None:
    """Deliver (nothing to do: httpx returns the last response), or give up: attach the
    error to the last response, or raise it when no request was sent."""
    if isinstance(action, GiveUp):
        if response is None:
            raise action.error
        vars(response)["upscope_error"] = action.error


def discard_sync(response: HttpxResponse, library: Any, retry: HttpxRequest) -> None:
    """Before ``retry``, put the cookies the challenged response set on it, and replace
    that response's body (httpx reads it into ``history`` first): a short body is kept
    as it was, and its connection goes back to the pool; a longer one is not downloaded
    (its connection is closed) and shows empty. A body already read (by an event hook)
    is left alone."""
    carry_cookies(retry, response, library)
    if response.is_stream_consumed:
        return
    stream, body = response.stream, b""
    try:
        for chunk in stream:
            body += chunk
            if len(body) > DISCARD_LIMIT:
                body = b""
                break
    finally:
        stream.close()
    response.stream = library.ByteStream(body)


async def discard_async(response: HttpxResponse, library: Any, retry: HttpxRequest) -> None:
    """``discard_sync`` for an ``AsyncClient``."""
    carry_cookies(retry, response, library)
    if response.is_stream_consumed:
        return
    stream, body = response.stream, b""
    try:
        async for chunk in stream:
            body += chunk
            if len(body) > DISCARD_LIMIT:
                body = b""
                break
    finally:
        await stream.aclose()
    response.stream = library.ByteStream(body)
