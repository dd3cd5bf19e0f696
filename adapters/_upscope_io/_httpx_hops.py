"""What the httpx flows carry from one try of a request to the next (the cookies a
challenge set), and what they keep from the next hop of a redirect (the DPoP proof)."""

from __future__ import annotations

from typing import Any, Protocol

from sansio_upscope.dpop import DPOP_HEADER

__all__ = ["carry_cookies", "forget_proof_once_answered"]


class _Request(Protocol):
    method: str
    extensions: Any

    @property
    def url(self) -> Any: ...

    @property
    def headers(self) -> Any: ...


class _Response(Protocol):
    @property
    def cookies(self) -> Any: ...


def carry_cookies(request: _Request, response: _Response, library: Any) -> None:
    """Put the cookies a challenged response set on ``request``, its retry (the client's
    jar learns them only once the flow has ended), beside the cookies it already
    carries; a cookie of the same name takes the new value."""
    learned = library.Cookies(response.cookies)
    if not learned:
        return
    # The jar picks what goes to this URL (domain, path, secure): ask it on a blank copy.
    probe = library.Request(request.method, request.url, cookies=learned)
    new = _cookie_pairs(probe.headers.get(_COOKIE, ""))
    if not new:
        return
    old = _cookie_pairs(request.headers.get(_COOKIE, ""))
    merged = {**old, **new}
    request.headers[_COOKIE] = "; ".join(f"{name}={value}" for name, value in merged.items())


_COOKIE = "Cookie"


def _cookie_pairs(field: str) -> dict[str, str]:
    pairs = (pair.strip().partition("=") for pair in field.split(";"))
    return {name: value for name, _, value in pairs if name}


#: The transport event after which a request's head has been answered (httpcore's and
#: httpcore2's ``trace`` extension: ``http11.`` or ``http2.`` before it).
_ANSWERED = "receive_response_headers.complete"


def forget_proof_once_answered(request: _Request, asynchronous: bool) -> None:
    """Take the DPoP proof off ``request`` once the response head has arrived. A proof is
    for one method and URL (RFC 9449 §4.2), and with ``follow_redirects=True`` httpx
    builds the redirect's request from this one's headers inside the client, before the
    flow sees any response: so the proof must be gone by then, or it goes along to
    wherever the redirect points. Done through the transport's ``trace`` extension
    (httpcore's, chained before any the caller set); a transport that reports no trace
    events (a mock, ASGI, WSGI) leaves the proof on."""
    extensions, headers = request.extensions, request.headers
    theirs = extensions.get("trace")
    if getattr(theirs, "forgets_proof", False):
        return  # installed by an earlier try of this request

    def forget(name: str) -> None:
        if name.endswith(_ANSWERED):
            headers.pop(DPOP_HEADER, None)

    if asynchronous:

        async def trace(name: str, info: Any) -> None:
            forget(name)
            if theirs is not None:
                await theirs(name, info)

    else:

        def trace(name: str, info: Any) -> None:  # type: ignore[misc]
            forget(name)
            if theirs is not None:
                theirs(name, info)

    vars(trace)["forgets_proof"] = True
    extensions["trace"] = trace
