"""The one step-up ``Auth`` behind ``upscope_httpx`` and ``upscope_httpx2`` (a subclass
names its library, httpx or its same-API fork httpx2, in ``library``).

httpx sends each request an auth flow yields and sends the response back in. The flow
is the loop over the core's actions, as in ``AsyncClient._drive``: ``Send``/``Retry``
yield the request with the core's token, ``RequestToken`` runs the token source,
``WaitForToken`` waits (``_waiting``). Every call into the core is under one lock, held
only for that call, but for a response the core receives touching nothing shared
(``Exchange.receives_alone``). A flow that ends any way (delivered, cancelled, closed by
httpx or the garbage collector) abandons its exchange in ``finally``, handing over its
token request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

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

from ._httpx_messages import (
    HttpxRequest,
    HttpxResponse,
    authorize,
    discard_async,
    discard_sync,
    finish,
    raise_for_step_up,
    response_received,
)
from ._httpx_tokens import HttpxTokenSource, OAuthClient, obtain_async, obtain_sync
from ._tokens import flight_for
from ._waiting import TokenRequestWaits

if TYPE_CHECKING:
    from upscope_store import TokenStore

__all__ = ["HttpxAuthFlows", "HttpxTokenSource", "raise_for_step_up"]

RequestT = TypeVar("RequestT", bound=HttpxRequest)
ResponseT = TypeVar("ResponseT", bound=HttpxResponse)
#: The library's ``Client | AsyncClient``, the type of ``oauth_client``.
ClientT = TypeVar("ClientT")

#: The actions that need the token source or a wait before anything is sent.
_TOKEN_ACTIONS = (RequestToken, WaitForToken)
#: The actions that send the request.
_SEND_ACTIONS = (Send, Retry)


class HttpxAuthFlows(Generic[RequestT, ResponseT, ClientT]):
    """``sync_auth_flow`` and ``async_auth_flow`` for an ``httpx.Auth`` subclass."""

    #: The HTTP library (``httpx`` or ``httpx2``): ``Client``, ``AsyncClient``, ``ByteStream``.
    library: Any
    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        tokens: HttpxTokenSource,
        policy: Policy | None = None,
        *,
        resource_for: Callable[[str], str] | None = None,
        oauth_client: ClientT | None = None,
        store: TokenStore | None = None,
    ) -> None:
        self.upscopes = Upscopes(policy, resource_for=resource_for)
        #: An ``upscope_store.Flight`` in front of the token source, with a store.
        self._flight = flight_for(store)
        self._tokens = tokens
        self._oauth_client = oauth_client
        self._waits = TokenRequestWaits()
        self._lock = self._waits.lock

    def sync_auth_flow(self, request: RequestT) -> Generator[RequestT, ResponseT, None]:
        exchange, action = self._start(request)
        try:
            response = None
            while True:
                if isinstance(action, _TOKEN_ACTIONS):
                    action = self._run_sync(exchange, action, request)
                if not isinstance(action, _SEND_ACTIONS):
                    break
                if response is not None:
                    discard_sync(response, self.library, request)
                authorize(request, action, asynchronous=False)
                response = yield request
                action = self._receive(exchange, request, response)
            finish(action, response)
        finally:
            if not exchange.finished:
                self._abandon(exchange)

    async def async_auth_flow(self, request: RequestT) -> AsyncGenerator[RequestT, ResponseT]:
        exchange, action = self._start(request)
        try:
            response = None
            while True:
                if isinstance(action, _TOKEN_ACTIONS):
                    action = await self._run_async(exchange, action, request)
                if not isinstance(action, _SEND_ACTIONS):
                    break
                if response is not None:
                    await discard_async(response, self.library, request)
                authorize(request, action, asynchronous=True)
                response = yield request
                action = self._receive(exchange, request, response)
            finish(action, response)
        finally:
            if not exchange.finished:
                self._abandon(exchange)

    def _start(self, request: RequestT) -> tuple[Exchange, Action]:
        """A new exchange for ``request``, started (one hold of the lock)."""
        url = str(request.url)
        # A buffered body (bytes, form, JSON, or one read with request.read()) is sent
        # again byte for byte; a generator or file stream cannot be (rule 8).
        replayable = isinstance(request.stream, self.library.ByteStream)
        now = time.time()
        with self._lock:
            exchange = self.upscopes.exchange(request.method, url, replayable=replayable)
            return exchange, exchange.start(now=now)

    def _receive(self, exchange: Exchange, request: RequestT, response: ResponseT) -> Action:
        """Feed ``response``, under the lock unless the core receives it alone. No one
        to wake: a response never ends a token request."""
        status = response.status_code
        if response.request is request and exchange.receives_alone(status):
            return exchange.receive(ResponseReceived.status_only(status))  # no lock needed
        received = response_received(exchange, request, response)
        with self._lock:
            return exchange.receive(received)

    def _step(self, exchange: Exchange, event: TokenIssued | TokenFailed | None) -> Action:
        """Feed the token request's outcome (None: resume after ``WaitForToken``) under
        the lock; wake the waiters if that ended a token request."""
        upscope = exchange.upscope
        now = time.time()
        with self._lock:
            if event is None:
                return exchange.resume(now=now)
            action = exchange.receive(event)
            self._waits.wake(upscope)
            return action

    def _abandon(self, exchange: Exchange) -> None:
        """Abandon an unfinished exchange, handing over a token request it owned. (Its
        state is only changed by its own flow, which reads it without the lock.)"""
        with self._lock:
            exchange.abandon()
            self._waits.wake(exchange.upscope)

    def _run_sync(self, exchange: Exchange, action: Action, request: RequestT) -> Action:
        """Fetch and wait for tokens as the core asks, until it says send or end."""
        upscope = exchange.upscope
        while True:
            while isinstance(action, WaitForToken):
                self._waits.wait_sync(upscope, action)
                action = self._step(exchange, None)
            if not isinstance(action, RequestToken):
                return action
            try:  # outside the lock: other requests go on meanwhile
                via = OAuthClient.for_request(self.library, self._oauth_client, request)
                token = obtain_sync(self._tokens, action, via, self._flight)
            except Exception as exc:
                action = self._step(exchange, TokenFailed(error=exc))
            else:
                action = self._step(exchange, TokenIssued(token=token))

    async def _run_async(self, exchange: Exchange, action: Action, request: RequestT) -> Action:
        """``_run_sync`` for async flows: waits on the running library's own event."""
        upscope = exchange.upscope
        while True:
            while isinstance(action, WaitForToken):
                await self._waits.wait_async(upscope, action)
                action = self._step(exchange, None)
            if not isinstance(action, RequestToken):
                return action
            try:
                via = OAuthClient.for_request(self.library, self._oauth_client, request)
                token = await obtain_async(self._tokens, action, via, self._flight)
            except Exception as exc:
                action = self._step(exchange, TokenFailed(error=exc))
            else:
                action = self._step(exchange, TokenIssued(token=token))
