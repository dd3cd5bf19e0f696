"""What the requests adapter does to prepared requests and to response heads."""

from __future__ import annotations

import time
from typing import IO, Any

import requests
from requests.cookies import extract_cookies_to_jar

from sansio_upscope import Exchange, ResponseReceived, Retry, Send, StepUpError
from sansio_upscope.dpop import AUTHORIZATION_HEADER, DPOP_HEADER, authorization_fields

__all__ = [
    "authorize",
    "body_position",
    "discard_body",
    "forget_proof",
    "head_too_large",
    "raise_for_step_up",
    "raise_head_too_large",
    "read_limited",
    "resend",
    "response_received",
]


def raise_for_step_up(response: requests.Response) -> requests.Response:
    """Raise the ``StepUpError`` that ``UpscopeAuth`` attached when it gave up."""
    error = vars(response).get("upscope_error")
    if isinstance(error, StepUpError):
        raise error
    return response


def body_position(body: object) -> int | None:
    """Where a seekable body starts, so it can be rewound; None when it cannot be."""
    try:
        position = body.tell() if callable(getattr(body, "seek", None)) else None  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None
    return position if isinstance(position, int) else None


def authorize(request: requests.PreparedRequest, action: Send | Retry) -> None:
    """Put the credential fields the core chose for ``action`` on ``request`` (a fresh
    DPoP proof for this method and URL when the token is DPoP-bound), replacing those of
    an earlier try or of the caller. No token yet: the caller's go out unchanged."""
    authorization = action.authorization
    if authorization is None:
        return
    headers = request.headers
    if DPOP_HEADER in headers:  # a proof of an earlier try, or the caller's: not for this token
        del headers[DPOP_HEADER]
    if action.dpop_key is None:  # a Bearer token: its one field, set directly (speed)
        headers[AUTHORIZATION_HEADER] = authorization  # replaces the caller's, in any case
        return
    fields = authorization_fields(
        action, method=request.method or "GET", url=request.url or "", now=time.time()
    )
    for name, value in fields:
        headers[name] = value


def resend(
    response: requests.Response, position: int | None, retry: Retry, options: dict[str, Any]
) -> requests.Response:
    """Send ``response``'s request again as ``retry`` says, as requests' ``HTTPDigestAuth``
    does: rewind the body to ``position``, drop the old response's body, copy the request
    with the cookies the response set, send it with the caller's ``options``, and keep
    the old response in the new one's ``history``."""
    old = response.request
    if position is not None:
        body: IO[bytes] = old.body  # type: ignore[assignment]
        body.seek(position)
    discard_body(response)  # reused only when short: a retry never downloads forever
    copy = old.copy()
    jar = copy._cookies  # type: ignore[attr-defined]
    extract_cookies_to_jar(jar, old, response.raw)  # type: ignore[no-untyped-call]
    copy.prepare_cookies(jar)
    authorize(copy, retry)
    again: requests.Response = response.connection.send(copy, **options)
    again.history.append(response)
    again.request = copy
    return again


def response_received(exchange: Exchange, response: requests.Response) -> ResponseReceived:
    """The core's event for ``response``: its headers and the time only for a status the
    core reads them for; otherwise the one event shared by every response with it."""
    status = response.status_code
    if exchange.needs_headers(status):
        headers = response.headers.lower_items()
        return ResponseReceived(status_code=status, headers=headers, now=time.time())
    return ResponseReceived.status_only(status)


def forget_proof(response: requests.Response) -> None:
    """A DPoP proof is for one method and URL (RFC 9449 §4.2): the redirect requests is
    about to follow (a copy of this request) must not carry it anywhere."""
    if response.is_redirect:
        response.request.headers.pop(DPOP_HEADER, None)


def head_too_large(response: requests.Response, limit: int | None) -> bool:
    """The response head is over ``max_header_size`` (checked before the core parses
    it). http.client has read it already, within its own fixed limits (65536 bytes a
    line, 100 fields), so under requests the option can only lower the limit."""
    if limit is None:
        return False
    return sum(len(name) + len(value) + 4 for name, value in response.headers.items()) > limit


def raise_head_too_large(response: requests.Response, limit: int | None) -> None:
    response.close()
    raise requests.exceptions.InvalidHeader(
        f"the response head from {response.url} is larger than max_header_size ({limit} "
        "bytes); pass a larger max_header_size= to UpscopeAuth if the server's headers are "
        "meant to be this large",
        response=response,
    )


def discard_body(response: requests.Response, limit: int = 64 * 1024) -> None:
    """Drop a challenged response's body before the retry: read to its end (so the
    connection goes back to the pool) when it is at most ``limit`` bytes, else close the
    connection instead."""
    size = 0
    for chunk in response.iter_content(8192):  # read to the end: marks it consumed
        size += len(chunk)
        if size > limit:
            break  # not consumed: close() below drops the connection
    response.close()


def read_limited(response: requests.Response, limit: int) -> bytes:
    """The body of a streamed response, or ``requests.exceptions.ContentDecodingError``
    past ``limit`` bytes (metadata and token responses are small)."""
    chunks, size = [], 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > limit:
            response.close()
            raise requests.exceptions.ContentDecodingError(
                f"the response body from {response.url} is larger than {limit} bytes",
                response=response,
            )
        chunks.append(chunk)
    return b"".join(chunks)
