"""The one step-up ``Auth`` behind ``upscope_httpx`` and ``upscope_httpx2`` (httpx2 is a
fork of httpx with the same API; a subclass names its library in ``library``).

httpx drives an auth flow as a generator: it sends each request the flow yields and
sends the response back in. Here the flow is the loop over the core's actions, as in
``AsyncClient._drive``: ``Send``/``Retry`` yield the request with the token the core
chose, ``RequestToken`` runs the token source, ``WaitForToken`` waits. Every protocol
decision is the core's.

Sharing: every call into the core happens under one lock, held only for that call
(never across a request or a token request); sync flows wait for a token request on
it, async flows on an event of the running library (``_waiting``). A flow that ends
any way (delivered, cancelled, closed by httpx or by the garbage collector) abandons
its exchange in ``finally``: a token request it owned is handed over.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, Generic, TypeVar

from sansio_upscope import (
    Action,
    Exchange,
    Policy,
    RequestToken,
    ResponseReceived,
    Retry,
    Send,
    TokenFailed,
    TokenIssued,
    Upscopes,
    WaitForToken,
)

from ._http11 import Origin
from ._httpx_messages import (
    HttpxRequest,
    HttpxResponse,
    authorize,
    discard_async,
    discard_sync,
    finish,
    raise_for_step_up,
)
from ._httpx_tokens import HttpxTokenSource, OAuthClient, obtain_async, obtain_sync
from ._waiting import TokenRequestWaits

__all__ = ["HttpxAuthFlows", "HttpxTokenSource", "raise_for_step_up"]

RequestT = TypeVar("RequestT", bound=HttpxRequest)
ResponseT = TypeVar("ResponseT", bound=HttpxResponse)

#: The input that continues an exchange after ``WaitForToken``.
_RESUME = object()


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
        self._waits = TokenRequestWaits()
        self._lock = self._waits.lock

    def sync_auth_flow(self, request: RequestT) -> Generator[RequestT, ResponseT, None]:
        exchange = self._exchange(request)
        try:
            action, response = self._run_sync(exchange, None, request), None
            while isinstance(action, (Send, Retry)):
                if response is not None:
                    discard_sync(response, self.library)
                authorize(request, action.authorization)
                response = yield request
                received = self._received(exchange, request, response)
                if received is None:
                    return
                action = self._run_sync(exchange, received, request)
            finish(action, response)
        finally:
            self._release(exchange)

    async def async_auth_flow(self, request: RequestT) -> AsyncGenerator[RequestT, ResponseT]:
        exchange = self._exchange(request)
        try:
            action, response = await self._run_async(exchange, None, request), None
            while isinstance(action, (Send, Retry)):
                if response is not None:
                    await discard_async(response, self.library)
                authorize(request, action.authorization)
                response = yield request
                received = self._received(exchange, request, response)
                if received is None:
                    return
                action = await self._run_async(exchange, received, request)
            finish(action, response)
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
            self._waits.wake_if_ended(upscope, finished)
            return action

    def _release(self, exchange: Exchange) -> None:
        """The flow ended: a no-op for a finished exchange, else it is abandoned and a
        token request it owned is handed over to the waiters."""
        with self._lock:
            finished = exchange.upscope.token_requests_finished
            exchange.abandon()
            self._waits.wake_if_ended(exchange.upscope, finished)

    def _run_sync(self, exchange: Exchange, event: object, request: RequestT) -> Action:
        """Feed ``event``, then fetch and wait for tokens as the core asks, until it
        says send, retry, deliver or give up."""
        upscope = exchange.upscope
        while True:
            action = self._step(exchange, event)
            while isinstance(action, WaitForToken):
                self._waits.wait_sync(upscope)
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
                await self._waits.wait_async(upscope)
                action = self._step(exchange, _RESUME)
            if not isinstance(action, RequestToken):
                return action
            try:
                token = await obtain_async(self._tokens, action, self._via(request))
            except Exception as exc:
                event = TokenFailed(error=exc)
            else:
                event = TokenIssued(token=token)
