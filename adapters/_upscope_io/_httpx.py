"""The one step-up ``Auth`` behind ``upscope_httpx`` and ``upscope_httpx2`` (httpx2 is a
fork of httpx with the same API; a subclass names its library in ``library``).

httpx drives an auth flow as a generator: it sends each request the flow yields and
sends the response back in. Here the flow is the loop over the core's actions, as in
``AsyncClient._drive``: ``Send``/``Retry`` yield the request with the token the core
chose, ``RequestToken`` runs the token source, ``WaitForToken`` waits. Every protocol
decision is the core's.

Sharing: the core is not thread-safe, so every call into it happens under one
``threading.Condition``, held only for those calls (never across a request or a token
request). Sync flows wait on the condition; async flows on an event of the running
library (``_waiting``), woken from whichever thread ended the token request. A flow
that ends any way (delivered, cancelled, closed by httpx or by the garbage collector)
abandons its exchange in ``finally``: a token request it owned is handed over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, Generic, Protocol, TypeVar

from sansio_upscope import (
    Action,
    Exchange,
    GiveUp,
    Policy,
    RequestToken,
    ResponseReceived,
    Retry,
    Send,
    StepUpError,
    TokenFailed,
    TokenIssued,
    Upscope,
    Upscopes,
    WaitForToken,
)

from ._http11 import Origin
from ._httpx_tokens import HttpxTokenSource, OAuthClient, obtain_async, obtain_sync
from ._waiting import Waiter

__all__ = ["HttpxAuthFlows", "HttpxTokenSource", "raise_for_step_up"]


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
    def status_code(self) -> int: ...

    @property
    def url(self) -> Any: ...

    @property
    def headers(self) -> Any: ...

    @property
    def request(self) -> Any: ...


RequestT = TypeVar("RequestT", bound=HttpxRequest)
ResponseT = TypeVar("ResponseT", bound=HttpxResponse)
R = TypeVar("R")

#: The input that continues an exchange after ``WaitForToken``.
_RESUME = object()


def raise_for_step_up(response: R) -> R:
    """Raise the ``StepUpError`` that ``UpscopeAuth`` attached to ``response`` when it
    gave up (``response.upscope_error``); else return ``response``."""
    error = vars(response).get("upscope_error")
    if isinstance(error, StepUpError):
        raise error
    return response


class HttpxAuthFlows(Generic[RequestT, ResponseT]):
    """``sync_auth_flow`` and ``async_auth_flow`` for an ``httpx.Auth`` subclass."""

    #: The HTTP library (``httpx`` or ``httpx2``): its ``Client``, ``AsyncClient``,
    #: ``ByteStream``, for the private OAuth client and to tell a buffered body.
    library: Any
    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        tokens: HttpxTokenSource,
        policy: Policy | None = None,
        *,
        resource_for: Callable[[str], str] | None = None,
        oauth_client: object = None,
    ) -> None:
        self.upscopes = Upscopes(policy, resource_for=resource_for)
        self._tokens = tokens
        self._oauth_client = oauth_client
        self._lock = threading.Condition()
        self._waiters: dict[Upscope, set[Waiter]] = {}

    def sync_auth_flow(self, request: RequestT) -> Generator[RequestT, ResponseT, None]:
        exchange = self._exchange(request)
        try:
            action, response = self._run_sync(exchange, None, request), None
            while isinstance(action, (Send, Retry)):
                if response is not None:
                    _discard(response, self.library, _read_sync(response.stream))
                _authorize(request, action.authorization)
                response = yield request
                received = self._received(exchange, request, response)
                if received is None:
                    return
                action = self._run_sync(exchange, received, request)
            _finish(action, response)
        finally:
            self._release(exchange)

    async def async_auth_flow(self, request: RequestT) -> AsyncGenerator[RequestT, ResponseT]:
        exchange = self._exchange(request)
        try:
            action, response = await self._run_async(exchange, None, request), None
            while isinstance(action, (Send, Retry)):
                if response is not None:
                    _discard(response, self.library, await _read_async(response.stream))
                _authorize(request, action.authorization)
                response = yield request
                received = self._received(exchange, request, response)
                if received is None:
                    return
                action = await self._run_async(exchange, received, request)
            _finish(action, response)
        finally:
            self._release(exchange)

    def _exchange(self, request: RequestT) -> Exchange:
        url = str(request.url)
        # A buffered body (bytes, form, JSON, or one read with request.read()) is sent
        # again byte for byte; a generator or file stream cannot be (rule 8).
        replayable = isinstance(request.stream, self.library.ByteStream)
        with self._lock:
            return self.upscopes.for_url(url).exchange(request.method, url, replayable=replayable)

    def _via(self, request: RequestT) -> OAuthClient:
        # A private client takes the call's own timeout (httpx keeps it in extensions).
        timeout = request.extensions.get("timeout")
        return OAuthClient(library=self.library, given=self._oauth_client, timeout=timeout)

    def _received(
        self, exchange: Exchange, request: RequestT, response: ResponseT
    ) -> ResponseReceived | None:
        """The event for ``response``, or None when a redirect took the request to
        another origin: that origin's answer is not this resource's to step up on."""
        if response.request is not request and Origin.of(str(response.url)) != Origin.of(
            exchange.url
        ):
            return None
        return ResponseReceived(
            status_code=response.status_code, headers=response.headers.raw, now=time.time()
        )

    def _step(self, exchange: Exchange, event: object) -> Action:
        """One input into the core, under the lock."""
        upscope = exchange.upscope
        with self._lock:
            finished = upscope.token_requests_finished
            if event is None:
                action = exchange.start(now=time.time())
            elif event is _RESUME:
                action = exchange.resume(now=time.time())
            else:
                assert isinstance(event, (ResponseReceived, TokenIssued, TokenFailed))
                action = exchange.receive(event)
            self._wake_if_ended(upscope, finished)
            return action

    def _release(self, exchange: Exchange) -> None:
        """The flow ended: a no-op for a finished exchange, else it is abandoned and a
        token request it owned is handed over to the waiters."""
        with self._lock:
            finished = exchange.upscope.token_requests_finished
            exchange.abandon()
            self._wake_if_ended(exchange.upscope, finished)

    def _wake_if_ended(self, upscope: Upscope, finished: int) -> None:
        """Under the lock: wake every waiter when a token request ended (issued, failed,
        abandoned: the core counts them in ``token_requests_finished``)."""
        if upscope.token_requests_finished != finished:
            self._lock.notify_all()
            for waiter in self._waiters.pop(upscope, ()):
                waiter.wake()

    def _run_sync(self, exchange: Exchange, event: object, request: RequestT) -> Action:
        """Feed ``event``, then fetch and wait for tokens as the core asks, until it
        says send, retry, deliver or give up."""
        upscope = exchange.upscope
        while True:
            action = self._step(exchange, event)
            while isinstance(action, WaitForToken):
                with self._lock:
                    self._lock.wait_for(_token_request_ended(upscope))
                action = self._step(exchange, _RESUME)
            if not isinstance(action, RequestToken):
                return action
            try:  # outside the lock: other requests go on meanwhile
                token = obtain_sync(self._tokens, action, self._via(request))
            except Exception as exc:
                event = TokenFailed(error=exc)
            else:
                event = TokenIssued(token=token)

    async def _run_async(self, exchange: Exchange, event: object, request: RequestT) -> Action:
        """``_run_sync`` for async flows: waits on the running library's own event."""
        upscope = exchange.upscope
        while True:
            action = self._step(exchange, event)
            while isinstance(action, WaitForToken):
                await self._token_request_end(upscope, _token_request_ended(upscope))
                action = self._step(exchange, _RESUME)
            if not isinstance(action, RequestToken):
                return action
            try:
                token = await obtain_async(self._tokens, action, self._via(request))
            except Exception as exc:
                event = TokenFailed(error=exc)
            else:
                event = TokenIssued(token=token)

    async def _token_request_end(self, upscope: Upscope, ended: Callable[[], bool]) -> None:
        while True:
            with self._lock:
                if ended():
                    return
                waiter = Waiter()
                self._waiters.setdefault(upscope, set()).add(waiter)
            try:
                await waiter.wait()
            finally:
                with self._lock:
                    self._waiters.get(upscope, set()).discard(waiter)


def _token_request_ended(upscope: Upscope) -> Callable[[], bool]:
    """A predicate: the token request under way now has ended (or there is none)."""
    finished = upscope.token_requests_finished
    return lambda: (
        not upscope.token_request_under_way or upscope.token_requests_finished != finished
    )


def _authorize(request: HttpxRequest, authorization: str | None) -> None:
    # None: no token yet; whatever the caller set goes out unchanged.
    if authorization is not None:
        request.headers["Authorization"] = authorization


#: A challenged response's body is read up to this size before the retry, so its
#: connection can be reused; past it the connection is closed instead.
DISCARD_LIMIT = 64 * 1024


def _read_sync(stream: Any) -> bytes | None:
    """The raw body (at most ``DISCARD_LIMIT`` bytes), or None when it is longer."""
    body = b""
    try:
        for chunk in stream:
            body += chunk
            if len(body) > DISCARD_LIMIT:
                return None
        return body
    finally:
        stream.close()


async def _read_async(stream: Any) -> bytes | None:
    body = b""
    try:
        async for chunk in stream:
            body += chunk
            if len(body) > DISCARD_LIMIT:
                return None
        return body
    finally:
        await stream.aclose()


def _discard(response: Any, library: Any, body: bytes | None) -> None:
    """Replace the body of a response that will be retried (httpx reads it into
    ``history`` before sending the retry): a short body stays as it was; a long one is
    not downloaded (its connection was closed) and shows as empty."""
    response.stream = library.ByteStream(body or b"")


def _finish(action: Action, response: HttpxResponse | None) -> None:
    """Deliver (nothing to do: httpx returns the last response), or give up: attach the
    error to the last response, or raise it when no request was sent."""
    if isinstance(action, GiveUp):
        if response is None:
            raise action.error
        vars(response)["upscope_error"] = action.error
