"""The requests adapter: ``UpscopeAuth``, a ``requests.auth.AuthBase`` for ``session.auth``.

Replays a challenged request as requests' ``HTTPDigestAuth`` does: record the body
position when the request is prepared, rewind it in the response hook, read and close the
old response, send a copy (with the cookies it set) through ``response.connection.send``,
keep the old response in ``history``. Every protocol decision is the core's.

Thread safety: every call into the (not thread-safe) core happens under one lock, held
once per step (never while a token is fetched), but for a response the core receives
touching nothing shared (``Exchange.receives_alone``: a 200 on the fast path); threads
waiting for another's token request wait on a ``threading.Condition`` of that lock.
Per-request state lives on the prepared request itself until its first response, never
on ``self``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import requests
from requests.auth import AuthBase

from _upscope_io._tokens import flight_for
from sansio_upscope import (
    Action,
    Deliver,
    Exchange,
    GiveUp,
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
from upscope_store import TokenStore

from ._prepared import (
    authorize,
    body_position,
    forget_proof,
    head_too_large,
    raise_head_too_large,
    resend,
    response_received,
)
from ._tokens import DEFAULT_OAUTH_TIMEOUT, SyncTokenSource, obtain_token

__all__ = ["UpscopeAuth"]

#: Where a prepared request keeps its exchange, body position and credentials until its
#: first response: requests gives a redirect's copy of a request the same hooks, and a
#: prepared request may be sent twice; only the first response to it is answered.
_PENDING = "_upscope_pending"


class UpscopeAuth(AuthBase):
    """Answers OAuth step-up challenges for a ``requests.Session``: ``session.auth = ...``.

    ``tokens`` is ``def tokens(request: RequestToken) -> Token`` or an OAuth token source
    from ``sansio_upscope.oauth`` (driven over a private session without this auth).
    When the step-up gives up after a response, the last response is returned, as
    requests' own auth classes do, with the core's ``StepUpError`` in
    ``response.upscope_error``; ``raise_for_step_up(response)`` raises it. When it gives
    up before anything was sent (the token request failed), ``StepUpError`` is raised.

    ``timeout`` bounds an OAuth flow's requests when the call's ``timeout=`` is None or
    not known yet (a token renewed before sending: requests calls the auth first).
    ``store``: an ``upscope_store`` store shared with other processes (docs/stores.md).
    """

    def __init__(
        self,
        tokens: SyncTokenSource,
        *,
        policy: Policy | None = None,
        max_header_size: int | None = None,
        resource_for: Callable[[str], str] | None = None,
        timeout: float | tuple[float, float] | None = DEFAULT_OAUTH_TIMEOUT,
        store: TokenStore | None = None,
    ) -> None:
        if max_header_size is not None and max_header_size < 1:
            raise ValueError(f"max_header_size must be at least 1, not {max_header_size}")
        self.timeout = timeout
        self.max_header_size = max_header_size
        self.upscopes = Upscopes(policy, resource_for=resource_for)
        self._tokens = tokens
        self._flight = flight_for(store)
        self._lock = threading.Lock()
        #: Notified under ``_lock`` when a token request ends; its waiters wait on it.
        self._token_request_ended = threading.Condition(self._lock)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        method, url, body = request.method or "GET", request.url or "", request.body
        if body is None:
            position, replayable = None, True
        else:
            position = body_position(body)
            replayable = isinstance(body, (bytes, str)) or position is not None
        with self._lock:
            exchange = self.upscopes.exchange(method, url, replayable=replayable)
            action = exchange.start(now=time.time())
            send = action if type(action) is Send else self._first_send(exchange, action)
        if send.authorization is not None:
            authorize(request, send)
        vars(request)[_PENDING] = (exchange, position, send)
        request.hooks["response"].append(self._on_response)
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request  # None only from a transport adapter that sets none
        pending = None if request is None else vars(request).pop(_PENDING, None)
        if pending is None:  # a redirect's copy of a request, or a request sent again
            return response
        exchange, position, sent = pending
        while True:
            if self.max_header_size is not None and head_too_large(response, self.max_header_size):
                with self._lock:
                    self._abandon(exchange)
                raise_head_too_large(response, self.max_header_size)
            status = response.status_code
            if exchange.receives_alone(status):  # it touches nothing shared: no lock
                action = exchange.receive(ResponseReceived.status_only(status))
            else:
                action = self._receive(exchange, response, kwargs)
            match action:
                case Deliver():
                    if sent.dpop_key is not None:
                        forget_proof(response)
                    return response
                case GiveUp(error=error):
                    vars(response)["upscope_error"] = error
                    return response
                case Retry() as retry:
                    response, sent = resend(response, position, retry, kwargs), retry

    def _first_send(self, exchange: Exchange, action: Action) -> Send:
        """Under the lock: the token request or wait ``start()`` asked for, then the
        first send (the call's send options are not known yet)."""
        action = self._run(exchange, action, {})
        if isinstance(action, GiveUp):
            raise action.error
        assert isinstance(action, Send)
        return action

    def _receive(
        self, exchange: Exchange, response: requests.Response, options: dict[str, Any]
    ) -> Action:
        """Feed ``response`` under the lock, then carry out what the core says."""
        received = response_received(exchange, response)
        with self._lock:
            action = exchange.receive(received)
            return action if type(action) is Deliver else self._run(exchange, action, options)

    def _run(self, exchange: Exchange, action: Action, options: dict[str, Any]) -> Action:
        """Under the lock: carry out ``action``, the core's answer to a start or a
        response: wait for and fetch tokens as the core asks, until it says send, deliver
        or give up. ``options`` are the caller's send options (``timeout``, ``verify``...),
        for an OAuth flow's requests. On any exception the exchange is abandoned: its
        token request is released, the waiters woken."""
        try:
            while True:
                while isinstance(action, WaitForToken):
                    ended = partial(exchange.upscope.token_request_ended, action)
                    self._token_request_ended.wait_for(ended)
                    action = exchange.resume(now=time.time())
                if not isinstance(action, RequestToken):
                    return action
                action = exchange.receive(self._obtain_token(action, options))
                self._token_request_ended.notify_all()
        except BaseException:
            self._abandon(exchange)
            raise

    def _obtain_token(
        self, request: RequestToken, options: dict[str, Any]
    ) -> TokenIssued | TokenFailed:
        """Ask for a token outside the lock: other origins and requests go on meanwhile."""
        self._lock.release()
        try:
            token = obtain_token(self._tokens, request, options, self.timeout, self._flight)
            return TokenIssued(token=token)
        except Exception as exc:
            return TokenFailed(error=exc)
        finally:
            self._lock.acquire()

    def _abandon(self, exchange: Exchange) -> None:
        """Under the lock: give up on ``exchange``; a token request it owned is
        released and the threads waiting for it are woken."""
        exchange.abandon()
        self._token_request_ended.notify_all()
