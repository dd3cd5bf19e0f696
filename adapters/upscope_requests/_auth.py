"""The requests adapter: ``UpscopeAuth``, a ``requests.auth.AuthBase`` for ``session.auth``.

Replays a challenged request as requests' ``HTTPDigestAuth`` does: record the body
position when the request is prepared, rewind it in the response hook, read and close the
old response, send a copy (with the cookies it set) through ``response.connection.send``,
keep the old response in ``history``. Every protocol decision is the core's.

Thread safety: every call into the (not thread-safe) core happens under one
``threading.Condition``, which threads waiting for another's token request wait on.
Per-request state lives in the prepared request's own response hook, never on ``self``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import IO, Any

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

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
    OnFirstResponse,
    authorize,
    body_position,
    discard_body,
    forget_proof,
    head_too_large,
    raise_head_too_large,
)
from ._tokens import DEFAULT_OAUTH_TIMEOUT, SyncTokenSource, obtain_token

__all__ = ["UpscopeAuth"]


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
        self._lock = threading.Condition()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        method, url, body = request.method or "GET", request.url or "", request.body
        position = body_position(body)
        replayable = body is None or isinstance(body, (bytes, str)) or position is not None
        with self._lock:
            exchange = self.upscopes.for_url(url).exchange(method, url, replayable=replayable)
        action = self._run(exchange, None, {})  # the call's options are not known yet
        if isinstance(action, GiveUp):
            raise action.error
        assert isinstance(action, Send)
        authorize(request, action)
        hook = OnFirstResponse(request, partial(self._on_response, exchange, position))
        request.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return request

    def _on_response(
        self,
        exchange: Exchange,
        position: int | None,
        response: requests.Response,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        while True:
            if head_too_large(response, self.max_header_size):
                with self._lock:
                    exchange.abandon()
                    self._lock.notify_all()
                raise_head_too_large(response, self.max_header_size)
            received = ResponseReceived(
                status_code=response.status_code,
                headers=response.headers.lower_items(),
                now=time.time(),
            )
            match self._run(exchange, received, kwargs):
                case Deliver():
                    forget_proof(response)
                    return response
                case GiveUp(error=error):
                    vars(response)["upscope_error"] = error
                    return response
                case Retry() as retry:
                    response = self._resend(response, position, retry, kwargs)

    def _resend(
        self,
        response: requests.Response,
        position: int | None,
        retry: Retry,
        kwargs: dict[str, Any],
    ) -> requests.Response:
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
        again: requests.Response = response.connection.send(copy, **kwargs)
        again.history.append(response)
        again.request = copy
        return again

    def _run(
        self, exchange: Exchange, response: ResponseReceived | None, options: dict[str, Any]
    ) -> Action:
        """Start the exchange (or feed it ``response``), then wait for and fetch tokens
        as the core asks, until it says send, deliver or give up. ``options`` are the
        caller's send options (``timeout``, ``verify``...), for an OAuth flow's requests.
        On any exception the exchange is abandoned: its token request is released, the
        waiters woken."""
        upscope = exchange.upscope
        event: ResponseReceived | TokenIssued | TokenFailed | None = response
        try:
            while True:
                with self._lock:
                    if event is None:
                        action = exchange.start(now=time.time())
                    else:
                        action = exchange.receive(event)
                    self._lock.notify_all()  # a token request may have ended
                    while isinstance(action, WaitForToken):
                        self._lock.wait_for(partial(upscope.token_request_ended, action))
                        action = exchange.resume(now=time.time())
                if not isinstance(action, RequestToken):
                    return action
                try:  # outside the lock: other origins and requests go on meanwhile
                    token = obtain_token(self._tokens, action, options, self.timeout, self._flight)
                    event = TokenIssued(token=token)
                except Exception as exc:
                    event = TokenFailed(error=exc)
        except BaseException:
            with self._lock:
                exchange.abandon()
                self._lock.notify_all()
            raise
