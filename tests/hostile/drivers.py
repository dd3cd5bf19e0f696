"""Run one scenario (a list of requests on ONE client) through each adapter.

Each driver builds the adapter's client from the same inputs (a sync token callable or an
OAuth token source, a ``Policy``), sends the calls in order on that one client, each under
the caller's own timeout in the framework's idiom (``asyncio.timeout``, a trio cancel
scope, ``requests``' ``timeout=``), and records an ``Outcome`` per call instead of raising.
A scenario runs in a worker thread with a hard deadline, so an adapter that ignores its
timeout shows up as ``Hung`` in the test, not as a stuck test run.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from sansio_upscope import Policy, RequestToken, Token
from sansio_upscope.oauth import TokenSource as OAuthSource

__all__ = ["ADAPTERS", "Call", "Hung", "Outcome", "TokenSource", "run_scenario"]

ADAPTERS = ("asyncio", "trio", "requests")

#: A sync callable (wrapped for the async adapters) or a built-in OAuth token source.
TokenSource = Callable[[RequestToken], Token] | OAuthSource


@attrs.frozen(kw_only=True)
class Call:
    method: str = "GET"
    url: str
    content: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 2.0


@attrs.frozen(kw_only=True)
class Outcome:
    """What one call ended with: a response (status, body) or an exception; ``error`` is
    also set when the requests adapter attached a give-up to the response it returned."""

    status: int | None = None
    body: bytes | None = None
    error: BaseException | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


class Hung(AssertionError):
    """The scenario did not finish long after every call's timeout had passed."""


def run_scenario(
    adapter: str,
    calls: Sequence[Call],
    tokens: TokenSource,
    *,
    policy: Policy | None = None,
    client_options: dict[str, Any] | None = None,
    on_client: Callable[[Any], None] | None = None,
) -> list[Outcome]:
    """Run ``calls`` in order on one client of ``adapter``; raises ``Hung`` when the run
    outlives the sum of the timeouts by 2 seconds. ``on_client`` sees the client (the
    ``UpscopeAuth`` for requests) after the last call, before it is closed."""
    runner = _RUNNERS[adapter]
    outcomes: list[Outcome] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            runner(calls, tokens, policy, client_options or {}, outcomes, on_client)
        except BaseException as exc:  # reported in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"scenario-{adapter}", daemon=True)
    thread.start()
    deadline = sum(call.timeout for call in calls) + 2.0
    thread.join(deadline)
    if thread.is_alive():
        raise Hung(
            f"{adapter}: the scenario was still running {deadline:.0f}s after it started "
            f"(outcomes so far: {outcomes!r})"
        )
    if failure:
        raise failure[0]
    return outcomes


def _async_tokens(tokens: TokenSource) -> Any:
    if isinstance(tokens, OAuthSource):
        return tokens

    async def source(request: RequestToken) -> Token:
        return tokens(request)

    return source


async def _asyncio_timeout(seconds: float, request: Awaitable[Any]) -> Any:
    """The caller's timeout, as docs/adapters/asyncio.md says to set it."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await request
    return await asyncio.wait_for(request, seconds)  # Python 3.10


def _run_asyncio(
    calls: Sequence[Call],
    tokens: TokenSource,
    policy: Policy | None,
    options: dict[str, Any],
    outcomes: list[Outcome],
    on_client: Callable[[Any], None] | None,
) -> None:
    import upscope_asyncio

    async def main() -> None:
        async with upscope_asyncio.Client(
            _async_tokens(tokens), policy=policy, **options
        ) as client:
            for call in calls:
                started = time.monotonic()
                try:
                    response = await _asyncio_timeout(
                        call.timeout,
                        client.request(
                            call.method, call.url, headers=list(call.headers), content=call.content
                        ),
                    )
                except Exception as exc:
                    outcomes.append(Outcome(error=exc, seconds=time.monotonic() - started))
                else:
                    outcomes.append(
                        Outcome(
                            status=response.status_code,
                            body=response.content,
                            seconds=time.monotonic() - started,
                        )
                    )
            if on_client is not None:
                on_client(client)

    asyncio.run(main())


def _run_trio(
    calls: Sequence[Call],
    tokens: TokenSource,
    policy: Policy | None,
    options: dict[str, Any],
    outcomes: list[Outcome],
    on_client: Callable[[Any], None] | None,
) -> None:
    import trio

    import upscope_trio

    async def main() -> None:
        async with upscope_trio.Client(_async_tokens(tokens), policy=policy, **options) as client:
            for call in calls:
                started = time.monotonic()
                try:
                    with trio.fail_after(call.timeout):
                        response = await client.request(
                            call.method, call.url, headers=list(call.headers), content=call.content
                        )
                except Exception as exc:
                    outcomes.append(Outcome(error=exc, seconds=time.monotonic() - started))
                else:
                    outcomes.append(
                        Outcome(
                            status=response.status_code,
                            body=response.content,
                            seconds=time.monotonic() - started,
                        )
                    )
            if on_client is not None:
                on_client(client)

    trio.run(main)


def _run_requests(
    calls: Sequence[Call],
    tokens: TokenSource,
    policy: Policy | None,
    options: dict[str, Any],
    outcomes: list[Outcome],
    on_client: Callable[[Any], None] | None,
) -> None:
    import requests

    import upscope_requests

    with requests.Session() as session:
        session.auth = upscope_requests.UpscopeAuth(tokens, policy=policy, **options)
        for call in calls:
            started = time.monotonic()
            try:
                response = session.request(
                    call.method,
                    call.url,
                    headers=dict(call.headers),
                    data=call.content,
                    timeout=call.timeout,
                    allow_redirects=True,
                )
            except Exception as exc:
                outcomes.append(Outcome(error=exc, seconds=time.monotonic() - started))
            else:
                outcomes.append(
                    Outcome(
                        status=response.status_code,
                        body=response.content,
                        error=getattr(response, "upscope_error", None),
                        seconds=time.monotonic() - started,
                    )
                )
        if on_client is not None:
            on_client(session.auth)


_RUNNERS: dict[
    str,
    Callable[
        [
            Sequence[Call],
            TokenSource,
            Policy | None,
            dict[str, Any],
            list[Outcome],
            Callable[[Any], None] | None,
        ],
        None,
    ],
] = {
    "asyncio": _run_asyncio,
    "trio": _run_trio,
    "requests": _run_requests,
}
