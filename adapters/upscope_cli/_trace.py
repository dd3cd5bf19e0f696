"""A readable trace of what a client and the state machine do, for ``demo`` and ``request``.

The trace watches the machine from outside: ``traced(upscopes, trace)`` wraps the
``Upscopes`` an adapter drives so that every input an ``Exchange`` takes and every action
it returns is printed, as it happens. Nothing is decided here and nothing is changed:
the wrappers hand each call on to the real object and return its answer.

Secrets: a ``Send``/``Retry`` prints only the scheme of its ``Authorization`` value, a
token only its type, scopes and lifetime, and every URL goes through ``redact``.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from typing import Any, TextIO, cast

from sansio_upscope import (
    Action,
    BearerChallenge,
    Deliver,
    Event,
    Exchange,
    GiveUp,
    RequestToken,
    ResponseReceived,
    Retry,
    Send,
    TokenIssued,
    Upscope,
    Upscopes,
    WaitForToken,
    parse_www_authenticate,
)
from sansio_upscope.redaction import redact
from sansio_upscope.scopes import format_scope

__all__ = ["Trace", "describe_challenge", "traced"]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _scopes(scopes: frozenset[str] | None) -> str:
    if scopes is None:
        return "(as requested)"
    return format_scope(scopes) or "(none)"


def describe_challenge(challenge: BearerChallenge) -> str:
    """One line: the parts of a Bearer/DPoP challenge the machine reads."""
    parts = [challenge.scheme, f"error={challenge.error or '(none)'}"]
    if challenge.scope is not None:
        parts.append(f"scope={_scopes(challenge.scope)}")
    if challenge.resource_metadata:
        parts.append(f"resource_metadata={challenge.resource_metadata}")
    if challenge.acr_values:
        parts.append(f"acr_values={' '.join(challenge.acr_values)}")
    if challenge.max_age is not None:
        parts.append(f"max_age={challenge.max_age}")
    if challenge.error_description:
        parts.append(f"error_description={challenge.error_description!r}")
    return "  ".join(parts)


class Trace:
    """Prints trace lines to ``out``. ``after_token`` may add lines after each issued
    token (the demo reports what its authorization server saw)."""

    def __init__(self, out: TextIO, *, after_token: Callable[[], list[str]] | None = None) -> None:
        self.out = out
        self.after_token = after_token

    def line(self, text: str, indent: int = 2) -> None:
        self.out.write(" " * indent + text + "\n")
        self.out.flush()

    def wrapped(self, text: str, indent: int) -> None:
        for piece in textwrap.wrap(text, 100 - indent):
            self.line(piece, indent)

    def event(self, exchange: Exchange, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            self.line(f"<- {event.status_code}")
            values = [
                _text(value)
                for name, value in event.headers
                if _text(name).lower() == "www-authenticate"
            ]
            for value in values:
                self.line(f"WWW-Authenticate: {value}", 6)
            for challenge in parse_www_authenticate(values):
                if challenge.scheme in ("bearer", "dpop"):
                    view = BearerChallenge.from_challenge(challenge)
                    self.line("parsed: " + describe_challenge(view), 6)
                else:
                    self.line(f"parsed: {challenge.scheme} (not a scheme the machine follows)", 6)
        elif isinstance(event, TokenIssued):
            token = event.token
            lifetime = ""
            if token.expires_at is not None:
                lifetime = f", expires in {max(0, round(token.expires_at - time.time()))} s"
            self.line(
                f"<= token issued: {token.token_type}, granted {_scopes(token.scopes)}{lifetime}"
            )
            for extra in self.after_token() if self.after_token is not None else []:
                self.line(extra, 6)
        else:
            what = "cancelled" if event.cancelled else type(event.error).__name__
            self.line(f"<= token request failed: {what}")
            if event.error is not None:
                self.wrapped(redact(str(event.error)), 6)

    def action(self, exchange: Exchange, action: Action) -> None:
        if isinstance(action, Send | Retry):
            auth = "no Authorization"
            if action.authorization is not None:
                scheme = action.authorization.split(" ", 1)[0]
                auth = f"Authorization: {scheme} <redacted>"
            url = redact(exchange.url)
            self.line(f"=> {type(action).__name__}: {exchange.method} {url}  ({auth})")
        elif isinstance(action, RequestToken):
            grant = "a refresh can serve" if action.can_refresh else "a new grant"
            self.line(
                f"=> RequestToken: scopes {_scopes(action.scopes)}; reason "
                f"{action.reason.value}; {grant}"
            )
            self.line(f"resource {action.resource}", 6)
        elif isinstance(action, WaitForToken):
            self.line("=> WaitForToken: another request is already getting a token")
        elif isinstance(action, Deliver):
            self.line("=> Deliver")
        elif isinstance(action, GiveUp):
            self.line(f"=> GiveUp: {type(action.error).__name__}")
            self.wrapped(str(action.error), 6)


class _TracedExchange:
    """Hands every call on to ``exchange`` and prints the input and the action."""

    def __init__(self, exchange: Exchange, trace: Trace) -> None:
        self._exchange = exchange
        self._trace = trace

    def start(self, *, now: float | None = None) -> Action:
        action = self._exchange.start(now=now)
        self._trace.action(self._exchange, action)
        return action

    def receive(self, event: Event) -> Action:
        self._trace.event(self._exchange, event)
        action = self._exchange.receive(event)
        self._trace.action(self._exchange, action)
        return action

    def resume(self, *, now: float | None = None) -> Action:
        action = self._exchange.resume(now=now)
        self._trace.action(self._exchange, action)
        return action

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exchange, name)


class _TracedUpscope:
    def __init__(self, upscope: Upscope, trace: Trace) -> None:
        self._upscope = upscope
        self._trace = trace

    def exchange(self, method: str, url: str, *, replayable: bool = True) -> _TracedExchange:
        return _TracedExchange(
            self._upscope.exchange(method, url, replayable=replayable), self._trace
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._upscope, name)


class _TracedUpscopes:
    def __init__(self, upscopes: Upscopes, trace: Trace) -> None:
        self._upscopes = upscopes
        self._trace = trace
        # One wrapper per Upscope, so that adapters can key their own state on it.
        self._wrappers: dict[int, _TracedUpscope] = {}

    def for_url(self, url: str) -> _TracedUpscope:
        upscope = self._upscopes.for_url(url)
        wrapper = self._wrappers.get(id(upscope))
        if wrapper is None:
            wrapper = self._wrappers[id(upscope)] = _TracedUpscope(upscope, self._trace)
        return wrapper

    def exchange(self, method: str, url: str, *, replayable: bool = True) -> _TracedExchange:
        return self.for_url(url).exchange(method, url, replayable=replayable)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._upscopes, name)


def traced(upscopes: Upscopes, trace: Trace) -> Upscopes:
    """``upscopes`` as seen through ``trace``: same answers, every step printed."""
    # Duck-typed: the adapters only call exchange(), for_url() and what they return.
    return cast(Upscopes, _TracedUpscopes(upscopes, trace))
