"""The framework-neutral shell of both async clients.

An adapter subclasses ``AsyncClient`` and writes one thing with its own framework:
``_connect(origin)`` (a socket, TLS). Everything else (the loop over the core's
actions, the context manager, ``request()`` and ``stream()``, the pool, waking requests
that wait for a token) is the same code for asyncio and trio, built from the adapter's
own event type: it only awaits objects the adapter made.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, TypeVar

import attrs

from sansio_upscope import (
    Deliver,
    GiveUp,
    Policy,
    RequestToken,
    ResponseReceived,
    Retry,
    Send,
    TokenFailed,
    TokenIssued,
    Upscope,
    Upscopes,
    WaitForToken,
)
from sansio_upscope.dpop import CREDENTIAL_FIELDS, authorization_fields

from ._http11 import DEFAULT_MAX_HEADER_SIZE, Origin
from ._pool import DEFAULT_MAX_CONNECTIONS, ByteStream, ConnectionPool, Content, Response
from ._slots import Event
from ._tokens import AsyncTokenSource, RunInThread, flight_for, obtain_token

if TYPE_CHECKING:
    from upscope_store import TokenStore

__all__ = ["AsyncClient", "Framework", "Headers", "with_authorization"]

#: Request header fields: a mapping or (name, value) pairs.
Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None

Self = TypeVar("Self", bound="AsyncClient")


@attrs.frozen
class Framework:
    """An event loop's primitives, as the shared client uses them."""

    #: ``asyncio.Event`` or ``trio.Event``.
    new_event: Callable[[], Event]
    #: Runs a blocking call off the loop: ``asyncio.to_thread``, ``trio.to_thread``.
    run_in_thread: RunInThread
    #: What its streams raise besides ``OSError`` when a connection breaks (trio's
    #: ``BrokenResourceError``, ...); the pool reports them as ``TransportError``.
    stream_errors: tuple[type[Exception], ...] = ()


class AsyncClient:
    """Shared by ``upscope_asyncio.Client`` and ``upscope_trio.Client`` (see those).

    A subclass names its framework's primitives in ``framework`` and opens sockets in
    ``_connect``; that is all an adapter writes.
    """

    framework: ClassVar[Framework]

    def __init__(
        self,
        tokens: AsyncTokenSource,
        *,
        policy: Policy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_connections_per_origin: int | None = None,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        resource_for: Callable[[str], str] | None = None,
        store: TokenStore | None = None,
    ) -> None:
        self.upscopes = Upscopes(policy, resource_for=resource_for)
        self._tokens = tokens
        self._flight = flight_for(store)
        self._ssl_context = ssl_context
        self._pool = ConnectionPool(
            self._connect,
            self.framework.new_event,
            max_connections=max_connections,
            max_per_origin=max_connections_per_origin,
            max_header_size=max_header_size,
            stream_errors=self.framework.stream_errors,
        )
        self._token_request_ended: dict[Upscope, Event] = {}

    def _tls_context(self) -> ssl.SSLContext:
        """The caller's SSL context, else the default one (certificates verified)."""
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    async def __aenter__(self: Self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the idle connections."""
        await self._pool.aclose()

    async def request(
        self, method: str, url: str, *, headers: Headers = None, content: Content = None
    ) -> Response:
        """Send a request, stepping up as the server asks; return it with ``content`` read.

        ``content``: bytes (sent again on a retry) or an async iterable of bytes (cannot
        be sent again: a needed retry raises ``BodyNotReplayableError``). Raises the
        core's ``StepUpError`` on give-up and ``TransportError`` on a connection failure.
        """
        return await self._drive(method, url, _pairs(headers), content, read=True)

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Headers = None, content: Content = None
    ) -> AsyncIterator[Response]:
        """Like ``request()``, but the body arrives with ``response.aiter_bytes()``; the
        connection is released when the block ends (reused only if the body was read)."""
        response = await self._drive(method, url, _pairs(headers), content, read=False)
        try:
            yield response
        finally:
            await response.aclose()

    async def _drive(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        content: Content,
        *,
        read: bool,
    ) -> Response:
        """The loop over the core's actions: send what it says, fetch a token when it
        says so, wait while another request does; with ``read``, the delivered body
        too. Only awaits the adapter's own I/O (``_connect`` through the pool) and event
        type, so it serves asyncio and trio."""
        replayable = content is None or isinstance(content, bytes)
        exchange = self.upscopes.exchange(method, url, replayable=replayable)
        upscope = exchange.upscope
        action = exchange.start(now=time.time())
        response: Response | None = None
        try:
            while True:
                match action:
                    case Send() | Retry():
                        sent = (
                            headers  # no token to send: nothing to add or replace
                            if action.authorization is None
                            else with_authorization(headers, action, method, url)
                        )
                        response = await self._pool.send(method, url, sent, content)
                        status = response.status_code
                        # One event kept per status when the core reads neither the
                        # headers nor the time (Exchange.needs_headers): a 200 above all.
                        action = exchange.receive(
                            ResponseReceived(
                                status_code=status, headers=response.raw_headers, now=time.time()
                            )
                            if exchange.needs_headers(status)
                            else ResponseReceived.status_only(status)
                        )
                        if type(action) is not Deliver:
                            await response.adiscard()  # frees the connection for reuse
                    case Deliver():  # second: the usual way out
                        assert response is not None
                        # The body usually came with the head: read without awaiting.
                        # Either way the connection is released, closed on a failure.
                        if read and not response.read_arrived():
                            await response.aread()
                        delivered, response = response, None
                        return delivered
                    case RequestToken():
                        try:
                            token = await obtain_token(
                                self._tokens,
                                action,
                                self._pool,
                                self.framework.run_in_thread,
                                self._flight,
                            )
                        except Exception as exc:
                            action = exchange.receive(TokenFailed(error=exc))
                        else:
                            action = exchange.receive(TokenIssued(token=token))
                        finally:
                            self._wake_waiters(upscope)
                    case WaitForToken() as wait:
                        await self._token_request_end(upscope, wait)
                        action = exchange.resume(now=time.time())
                    case GiveUp(error=error):
                        raise error
        finally:
            exchange.abandon()  # releases a token request this exchange still owned
            if self._token_request_ended:
                self._wake_waiters(upscope)
            if response is not None:
                await response.aclose()

    async def _connect(self, origin: Origin) -> ByteStream:
        raise NotImplementedError

    async def _token_request_end(self, upscope: Upscope, wait: WaitForToken) -> None:
        """Wait until the token request ``wait`` names has ended (the core says when)."""
        while not upscope.token_request_ended(wait):
            event = self._token_request_ended.get(upscope)
            if event is None:
                event = self._token_request_ended[upscope] = self.framework.new_event()
            await event.wait()

    def _wake_waiters(self, upscope: Upscope) -> None:
        """Wake every request waiting on ``upscope`` (they re-check and go on)."""
        event = self._token_request_ended.pop(upscope, None)
        if event is not None:
            event.set()


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    if headers is None:  # the common case, without the slow isinstance() on an ABC
        return []
    return list(headers.items() if isinstance(headers, Mapping) else headers)


def with_authorization(
    headers: list[tuple[str, str]], action: Send | Retry, method: str, url: str
) -> list[tuple[str, str]]:
    """``headers`` with the credential fields the core chose for ``action`` (the
    ``Authorization`` value, and a DPoP proof for this method and URL when the token is
    DPoP-bound) in place of any the caller gave under the same names."""
    if action.authorization is None:  # no token to send: nothing to add or replace
        return headers
    fields = authorization_fields(action, method=method, url=url, now=time.time())
    kept = [(name, value) for name, value in headers if name.lower() not in CREDENTIAL_FIELDS]
    return [*kept, *fields]
