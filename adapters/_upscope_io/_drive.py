"""The two drivers: the only OAuth code an adapter needs. ``send`` is the adapter's own
HTTP; these functions only move steps between it, the browser hook and the flow."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable

from sansio_upscope import RequestToken, Token
from sansio_upscope.oauth import (
    AuthorizationCode,
    AuthorizationRedirect,
    Finished,
    HttpRequest,
    HttpResponse,
    OpenAuthorizationUrl,
    TokenFlow,
    TokenSource,
)

from ._loopback import LoopbackReceiver

__all__ = ["MAX_OAUTH_RESPONSE", "drive_async", "drive_sync"]

#: The largest metadata or token response an OAuth flow reads: they are small, and a
#: server that sends more is hostile. Every adapter's ``send`` reads at most this much.
MAX_OAUTH_RESPONSE = 1024 * 1024

Clock = float | Callable[[], float] | None


def _read(now: Clock) -> float | None:
    return now() if callable(now) else now


def drive_sync(
    source: TokenSource,
    request_token: RequestToken,
    *,
    send: Callable[[HttpRequest], HttpResponse],
    authorize: Callable[[str], str] | None = None,
    now: Clock = None,
) -> Token:
    """Run one token flow to its end with blocking I/O and return the token.

    ``authorize(url) -> redirect URL`` (else the source's own ``authorize``) answers the
    browser step; with neither, an ``AuthorizationCode`` flow opens the system browser
    and catches the redirect on a loopback receiver (``LoopbackReceiver``, RFC 8252).
    ``now`` is a time or a clock function, for ``expires_at``.
    Raises the flow's ``OAuthError``; exceptions from ``send`` pass through unchanged.
    """
    authorize = authorize or getattr(source, "authorize", None)
    if isinstance(source, AuthorizationCode) and authorize is None:
        with LoopbackReceiver.for_redirect_uri(source.redirect_uri) as receiver:
            flow = source.flow(request_token, now=_read(now), redirect_uri=receiver.redirect_uri)
            return _run_sync(flow, send, receiver.open_browser_and_wait, now)
    return _run_sync(source.flow(request_token, now=_read(now)), send, authorize, now)


def _run_sync(
    flow: TokenFlow,
    send: Callable[[HttpRequest], HttpResponse],
    authorize: Callable[[str], str] | None,
    now: Clock,
) -> Token:
    step = flow.start()
    while True:
        match step:
            case HttpRequest():
                step = flow.receive(send(step), now=_read(now))
            case OpenAuthorizationUrl(url=url):
                assert authorize is not None  # only AuthorizationCode asks, and has one
                step = flow.receive(AuthorizationRedirect(url=authorize(url)), now=_read(now))
            case Finished(token=token):
                return token
            case _:
                raise step.error


async def drive_async(
    source: TokenSource,
    request_token: RequestToken,
    *,
    send: Callable[[HttpRequest], Awaitable[HttpResponse]],
    authorize: Callable[[str], Awaitable[str] | str] | None = None,
    now: Clock = None,
    run_in_thread: Callable[[Callable[[], str]], Awaitable[str]] | None = None,
) -> Token:
    """``drive_sync`` for async adapters: ``await send(request)``; ``authorize`` may be
    sync or async. With neither ``authorize`` nor the source's own, an
    ``AuthorizationCode`` flow opens the system browser and catches the redirect on a
    loopback receiver, waiting for it through ``run_in_thread`` (the adapter's way of
    running a blocking call off the event loop: ``asyncio.to_thread``,
    ``trio.to_thread.run_sync``). Raises the flow's ``OAuthError``, and ``ValueError``
    for an ``AuthorizationCode`` flow with no way to reach a browser.
    """
    authorize = authorize or getattr(source, "authorize", None)
    if isinstance(source, AuthorizationCode) and authorize is None:
        if run_in_thread is None:
            raise ValueError(
                "drive_async needs authorize= for an AuthorizationCode flow (an async "
                "callable taking the authorization URL and returning the redirect URL), "
                "or run_in_thread= to wait for the system browser on a loopback receiver"
            )
        with LoopbackReceiver.for_redirect_uri(source.redirect_uri) as receiver:

            def wait_for_browser(url: str) -> Awaitable[str]:
                return run_in_thread(functools.partial(receiver.open_browser_and_wait, url))

            flow = source.flow(request_token, now=_read(now), redirect_uri=receiver.redirect_uri)
            return await _run_async(flow, send, wait_for_browser, now)
    return await _run_async(source.flow(request_token, now=_read(now)), send, authorize, now)


async def _run_async(
    flow: TokenFlow,
    send: Callable[[HttpRequest], Awaitable[HttpResponse]],
    authorize: Callable[[str], Awaitable[str] | str] | None,
    now: Clock,
) -> Token:
    step = flow.start()
    while True:
        match step:
            case HttpRequest():
                step = flow.receive(await send(step), now=_read(now))
            case OpenAuthorizationUrl(url=url):
                assert authorize is not None  # only AuthorizationCode asks, and has one
                redirect = authorize(url)
                if inspect.isawaitable(redirect):
                    redirect = await redirect
                step = flow.receive(AuthorizationRedirect(url=redirect), now=_read(now))
            case Finished(token=token):
                return token
            case _:
                raise step.error
