"""One test driver for every adapter: a scenario is written once and runs on each.

Used by the behaviour suite (tests/test_adapters.py), the hostile suite (tests/hostile/),
tests/test_secrets.py and the interop suite (tests/interop/). A test names a driver
(``"asyncio"``, ``"trio"``, ``"requests"``, ...) and calls ``run``::

    first, second = run("trio", [Call(url=a), Call(url=b, method="POST", body=b"x")], tokens)

**A scenario** runs on ONE fresh client (the steps share its tokens, as an application's
requests do). It is either a list of steps, each giving one result:

* ``Call``: one request; an ``Outcome`` (status, headers, body, or the error).
* ``Many(call, n)``: the same call ``n`` times at once (tasks, or threads for a sync
  client); a list of ``Outcome``.
* ``Stream(url, gate)``: read a ``text/event-stream`` body chunk by chunk (``Outcome.chunks``,
  ``first_chunk_early``: did chunk 1 arrive before the server was let on by ``gate``).
* ``Do(action)``: run a function between steps (revoke tokens, script the server); its
  return value.

or a generator that yields steps and receives each result, as the interop scenarios are
written. There, a ``Call`` that ends in an exception has the exception thrown in at the
``yield`` (catch it with ``pytest.raises``), and ``run`` returns the generator's return
value.

**What every driver does the same way**

* Every call runs under a timeout in the framework's own idiom (``asyncio.timeout``,
  ``trio.fail_after``, requests' ``timeout=``): ``Call.timeout``, else ``run(timeout=)``.
  The whole scenario runs in a worker thread with a hard deadline: 2 s past the sum of
  the timeouts of the calls it has started, it is reported as ``Hung`` (with the outcomes
  so far) instead of hanging the test run.
* An exception from a call becomes ``Outcome.error``; ``Outcome.seconds`` is how long the
  call took. A step-up give-up is an error on every driver: the requests adapter attaches
  it to the response it returns (``response.upscope_error``), and its driver raises it.
* Token sources: an OAuth source (``ClientCredentials``, ``AuthorizationCode``, anything
  with a ``flow`` method) goes to the client as it is. A plain callable
  ``(RequestToken) -> Token`` is blocking: a sync client calls it, an async client calls
  it in a worker thread (``asyncio.to_thread``, ``trio.to_thread.run_sync``). For those,
  ``run(token_delay=)`` waits before each token request (so concurrent calls pile up), and
  ``run(cancel_first_token_request=True)`` cancels the call that makes the first one after
  0.3 s: its task on asyncio and trio, with a ``BaseException`` raised out of the token
  source on a sync client (what an interrupt does to a thread); that call's outcome has
  ``cancelled=True``.
* ``policy`` and client ``options`` (keyword arguments of the client's constructor:
  ``resource_for``, ``max_header_size``...) go to the client, except ``verify``: a CA
  file to trust instead of the system's, which each driver says in its client's idiom
  (an ``ssl_context``, requests' ``verify=``); ``on_client`` sees the
  object that holds ``upscopes`` (the client, or the auth for requests) after the last
  step, before the client closes.

**Adding a driver** (a new adapter joins every suite): write one class and register an
instance at the end of this module. A sync client subclasses ``SyncDriver``; an async one
subclasses ``AsyncDriver`` and names its event loop, ``loop = ASYNCIO`` or ``TRIO`` (a
client that runs on both: a base class and one small subclass per loop, as
``AsyncioDriver`` and ``TrioDriver`` share ``_UpscopeAsyncClient``). Class attributes:

* ``name``: what tests parametrize on (``names()`` lists them);
* ``transport_errors``: what a failure below HTTP raises;
* ``timeout_errors``: what the caller's timeout raises;
* ``options``: the client options it accepts; a suite that needs one parametrizes on
  ``names(options=[...])``, so a driver without it is left out, not failed.

and three methods (``async def`` for an ``AsyncDriver``, whose timeout the loop applies
around ``send`` and ``stream``; a ``SyncDriver`` passes ``timeout`` to its client):

* ``open(tokens, policy, options)``: a context manager (async for ``AsyncDriver``) that
  yields an open client. ``tokens`` is already what the client takes (sync or async
  callable, or an OAuth source); ``options`` may hold ``verify``. ``holder(client)``
  (optional) returns the object with ``upscopes``, when that is not the client.
* ``send(client, call, timeout)`` (sync) / ``send(client, call)`` (async): send ``call``
  and return ``response_outcome(status, header pairs, body)``, or raise: the client's
  exception, or the core's ``StepUpError`` on a give-up (raise it when the client
  attaches it to a response instead). The body: ``call.body_bytes``, or for
  ``Body(kind="stream")`` ``body.chunks()`` / ``body.achunks()``, for ``kind="file"`` a
  seekable file where the client takes one (see ``_requests_body``). Follow one
  redirect only when ``call.follow_redirects`` is True, never when False, else do what
  the client does by default.
* ``stream(client, call, timeout)`` / ``stream(client, call)``: a context manager that
  yields ``(response_outcome(status, header pairs), iterator of body chunks)``.

A skeleton::

    class HttpxDriver(SyncDriver):
        name = "httpx"
        transport_errors = (httpx.TransportError,)
        timeout_errors = (httpx.TimeoutException,)
        options = frozenset({"resource_for", "verify"})

        @contextlib.contextmanager
        def open(self, tokens, policy, options):
            ...  # build the client with upscope_httpx.UpscopeAuth(tokens, policy=policy)
            yield client

        def holder(self, client):
            return client.auth

        def send(self, client, call, timeout):
            response = client.request(call.method, call.url, ..., timeout=timeout)
            return response_outcome(response.status_code, ..., response.content)

        @contextlib.contextmanager
        def stream(self, client, call, timeout):
            ...

    register(HttpxDriver())

tests/test_driver.py checks what every driver must do the same way (give-ups, errors
thrown into generator scenarios, ``on_client``, ``Hung``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, ClassVar, Literal, TypeVar, overload
from urllib.parse import urljoin

import attrs
import httpx
import httpx2
import requests
import trio

import upscope_asyncio
import upscope_httpx
import upscope_httpx2
import upscope_trio
from _upscope_io import TransportError
from sansio_upscope import Policy, RequestToken, Token
from sansio_upscope.oauth import TokenSource as OAuthSource
from upscope_requests import UpscopeAuth

__all__ = [
    "ASYNCIO",
    "DEFAULT_TIMEOUT",
    "DRIVERS",
    "TRIO",
    "AsyncDriver",
    "Body",
    "Call",
    "Do",
    "Driver",
    "Hung",
    "Many",
    "Outcome",
    "Scenario",
    "Step",
    "Stream",
    "SyncDriver",
    "TokenSource",
    "names",
    "register",
    "response_outcome",
    "run",
]

T = TypeVar("T")
R = TypeVar("R")

#: A call's timeout when neither it nor ``run(timeout=)`` sets one: on loopback, a call
#: that takes longer is stuck.
DEFAULT_TIMEOUT = 2.0

#: A plain blocking callable, or an OAuth token source (passed to the client as it is).
TokenSource = Callable[[RequestToken], Token] | OAuthSource


# -- scenarios -------------------------------------------------------------------------


@attrs.frozen
class Body:
    """A request body. ``bytes`` can be replayed; a ``file`` is a seekable file on a sync
    client (rewound for a retry) and bytes on an async one; a ``stream`` (a generator, or
    an async generator) cannot be replayed."""

    data: bytes
    kind: Literal["bytes", "file", "stream"] = "bytes"

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), 1000):
            yield self.data[start : start + 1000]

    async def achunks(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks():
            yield chunk


@attrs.frozen(kw_only=True)
class Call:
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    #: ``bytes`` (replayable) or a ``Body`` of another kind.
    body: bytes | Body | None = None
    #: Seconds, in the framework's idiom; None: ``run(timeout=)``.
    timeout: float | None = None
    #: True: follow one redirect with the same client; False: never; None: as the client
    #: does by default (requests follows, the async clients deliver the 3xx).
    follow_redirects: bool | None = None

    @property
    def body_bytes(self) -> bytes | None:
        """The body as bytes (what an async client sends for a ``file``)."""
        return self.body.data if isinstance(self.body, Body) else self.body


@attrs.frozen
class Many:
    call: Call
    n: int


@attrs.frozen
class Stream:
    url: str
    #: Set by the driver once the first chunk has arrived (with ``stop_after_first``: once
    #: the stream is left).
    gate: threading.Event
    timeout: float | None = None
    #: Leave the stream after the first chunk, the body half read.
    stop_after_first: bool = False


@attrs.frozen
class Do:
    action: Callable[[], object]


Step = Call | Many | Stream | Do


@attrs.frozen(kw_only=True)
class Outcome:
    """How one call ended: a response, or ``error``, or ``cancelled``."""

    status_code: int | None = None
    #: Header field names in lower case (the last value of a repeated field).
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content: bytes = b""
    error: BaseException | None = None
    cancelled: bool = False
    seconds: float = 0.0
    #: Stream: the chunks, and whether the first arrived before the server was let on.
    chunks: tuple[bytes, ...] = ()
    first_chunk_early: bool | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled and self.status_code == 200

    def json(self) -> Any:
        """The JSON body, or the one JSON-RPC message of a text/event-stream body."""
        if self.headers.get("content-type", "").startswith("text/event-stream"):
            data = [
                line[len("data:") :].strip()
                for line in self.content.decode().splitlines()
                if line.startswith("data:")
            ]
            assert len(data) == 1, self.content
            return json.loads(data[0])
        return json.loads(self.content)


def response_outcome(status_code: int, headers: Any, content: bytes = b"") -> Outcome:
    """An ``Outcome`` from a response's status, header pairs (or a mapping) and body."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    return Outcome(
        status_code=status_code,
        headers={str(name).lower(): str(value) for name, value in pairs},
        content=content,
    )


#: A scenario written as a generator of calls: each ``yield`` receives the ``Outcome``,
#: or has its error thrown in. (Yielding other steps: ``Generator[Step, Any, R]``.)
Scenario = Generator[Call, Outcome, None]


class Hung(AssertionError):
    """The scenario did not finish long after the timeouts of its calls had passed."""


# -- drivers ---------------------------------------------------------------------------


class Driver:
    """What every driver declares (see the module docstring)."""

    name: ClassVar[str]
    kind: ClassVar[Literal["sync", "async"]]
    transport_errors: ClassVar[tuple[type[BaseException], ...]]
    timeout_errors: ClassVar[tuple[type[BaseException], ...]]
    options: ClassVar[frozenset[str]] = frozenset()

    def holder(self, client: Any) -> Any:
        """The object that holds ``upscopes``."""
        return client

    def __repr__(self) -> str:
        return f"<driver {self.name}>"


class SyncDriver(Driver):
    kind = "sync"

    def open(
        self, tokens: Any, policy: Policy | None, options: Mapping[str, Any]
    ) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def send(self, client: Any, call: Call, timeout: float) -> Outcome:
        raise NotImplementedError

    def stream(
        self, client: Any, call: Call, timeout: float
    ) -> contextlib.AbstractContextManager[tuple[Outcome, Iterator[bytes]]]:
        raise NotImplementedError


class AsyncDriver(Driver):
    kind = "async"
    loop: ClassVar[Loop]

    def open(
        self, tokens: Any, policy: Policy | None, options: Mapping[str, Any]
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def send(self, client: Any, call: Call) -> Outcome:
        raise NotImplementedError

    def stream(
        self, client: Any, call: Call
    ) -> contextlib.AbstractAsyncContextManager[tuple[Outcome, AsyncIterator[bytes]]]:
        raise NotImplementedError


DRIVERS: dict[str, Driver] = {}


def register(driver: Driver) -> Driver:
    assert driver.name not in DRIVERS, driver.name
    DRIVERS[driver.name] = driver
    return driver


def names(
    *, options: Sequence[str] = (), kind: Literal["sync", "async"] | None = None
) -> list[str]:
    """The registered drivers (for ``pytest.mark.parametrize``) that accept every client
    option in ``options`` and are of ``kind`` (when given)."""
    return [
        name
        for name, driver in DRIVERS.items()
        if set(options) <= driver.options and kind in (None, driver.kind)
    ]


# -- event loops -----------------------------------------------------------------------

#: Cancels the call (task) that is running now: set by ``Loop.cancellable``.
_cancel_current: contextvars.ContextVar[Callable[[], object]] = contextvars.ContextVar("cancel")


class Loop:
    """An event loop's idioms, as the async drivers need them."""

    name: str

    def run(self, main: Callable[[], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def within(self, seconds: float, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` under the caller's timeout, as the adapter's docs say to set it."""
        raise NotImplementedError

    async def gather(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        raise NotImplementedError

    async def cancellable(self, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        """``call()``, which ``_cancel_current`` cancels (then ``cancelled=True``)."""
        raise NotImplementedError

    async def to_thread(self, function: Callable[[T], R], argument: T) -> R:
        raise NotImplementedError


class _Asyncio(Loop):
    name = "asyncio"

    def run(self, main: Callable[[], Awaitable[T]]) -> T:
        async def go() -> T:
            return await main()

        return asyncio.run(go())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def within(self, seconds: float, call: Callable[[], Awaitable[T]]) -> T:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(seconds):
                return await call()
        return await asyncio.wait_for(call(), seconds)  # pragma: no cover - Python 3.10

    async def gather(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        return list(await asyncio.gather(*(call() for call in calls)))

    async def cancellable(self, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        tasks: list[asyncio.Task[Outcome]] = []
        reset = _cancel_current.set(lambda: tasks[0].cancel())
        tasks.append(asyncio.ensure_future(call()))  # the task copies the context now
        _cancel_current.reset(reset)
        try:
            return await tasks[0]
        except asyncio.CancelledError:
            if not tasks[0].cancelled():
                raise
            return Outcome(cancelled=True)

    async def to_thread(self, function: Callable[[T], R], argument: T) -> R:
        return await asyncio.to_thread(function, argument)


class _Trio(Loop):
    name = "trio"

    def run(self, main: Callable[[], Awaitable[T]]) -> T:
        return trio.run(main)

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def within(self, seconds: float, call: Callable[[], Awaitable[T]]) -> T:
        with trio.fail_after(seconds):
            return await call()

    async def gather(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        results: dict[int, T] = {}

        async def one(index: int) -> None:
            results[index] = await calls[index]()

        async with trio.open_nursery() as nursery:
            for index in range(len(calls)):
                nursery.start_soon(one, index)
        return [results[index] for index in range(len(calls))]

    async def cancellable(self, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        with trio.CancelScope() as scope:
            reset = _cancel_current.set(scope.cancel)
            try:
                return await call()
            finally:
                _cancel_current.reset(reset)
        return Outcome(cancelled=True)

    async def to_thread(self, function: Callable[[T], R], argument: T) -> R:
        return await trio.to_thread.run_sync(function, argument)


ASYNCIO: Loop = _Asyncio()
TRIO: Loop = _Trio()


# -- running a scenario ----------------------------------------------------------------


class _Interrupted(BaseException):
    """What an interrupt does to a thread in the middle of a token request."""


@attrs.define
class _Run:
    """One scenario's inputs and progress, shared with the watching thread."""

    driver: Driver
    tokens: Any
    policy: Policy | None
    options: Mapping[str, Any]
    timeout: float
    token_delay: float
    cancel_first: bool
    on_client: Callable[[Any], None] | None
    #: Seconds the run may take: the timeouts of the steps started so far (+ a grace).
    budget: float = 2.0
    results: list[Any] = attrs.field(factory=list)
    token_requests: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def timeout_of(self, step: Call | Stream) -> float:
        return self.timeout if step.timeout is None else step.timeout

    def started(self, step: Step) -> None:
        if isinstance(step, Many):
            self.budget += self.timeout_of(step.call)
        elif isinstance(step, Call | Stream):
            self.budget += self.timeout_of(step)

    def first_token_request(self) -> bool:
        with self.lock:
            self.token_requests += 1
            return self.token_requests == 1

    # The token source as each kind of client takes it.

    def sync_tokens(self) -> Any:
        if _is_oauth(self.tokens):
            return self.tokens
        blocking: Callable[[RequestToken], Token] = self.tokens

        def tokens(request: RequestToken) -> Token:
            if self.first_token_request() and self.cancel_first:
                threading.Event().wait(0.3)  # let the other requests start waiting
                raise _Interrupted()
            if self.token_delay:
                threading.Event().wait(self.token_delay)
            return blocking(request)

        return tokens

    def async_tokens(self, loop: Loop) -> Any:
        if _is_oauth(self.tokens):
            return self.tokens
        blocking: Callable[[RequestToken], Token] = self.tokens

        async def tokens(request: RequestToken) -> Token:
            if self.first_token_request() and self.cancel_first:
                await loop.sleep(0.3)  # let the other requests start waiting for this one
                _cancel_current.get()()
                await loop.sleep(30)  # the cancellation lands here
            if self.token_delay:
                await loop.sleep(self.token_delay)
            return await loop.to_thread(blocking, request)

        return tokens


def _is_oauth(tokens: object) -> bool:
    return isinstance(tokens, OAuthSource) or hasattr(tokens, "flow")


def _script(
    steps: Sequence[Step] | Generator[Step, Any, Any],
) -> tuple[Generator[Step, Any, Any], bool]:
    """The steps as a generator, and whether a call's error is thrown into it."""
    if isinstance(steps, Generator):
        return steps, True

    def each() -> Generator[Step, Any, list[Any]]:
        results = []
        for step in steps:
            results.append((yield step))
        return results

    return each(), False


def _next(script: Generator[Step, Any, Any], reply: Any, throw: bool) -> Step:
    """The script's next step after ``reply``; raises ``StopIteration`` at the end."""
    if throw and isinstance(reply, Outcome) and reply.error is not None:
        return script.throw(reply.error)
    return script.send(reply)


def _timed(started: float, outcome: Outcome) -> Outcome:
    return attrs.evolve(outcome, seconds=time.monotonic() - started)


def _run_sync(driver: SyncDriver, script: Generator[Step, Any, Any], throw: bool, r: _Run) -> Any:
    def call(client: Any, one: Call) -> Outcome:
        started = time.monotonic()
        try:
            return _timed(started, driver.send(client, one, r.timeout_of(one)))
        except _Interrupted:
            return Outcome(cancelled=True, seconds=time.monotonic() - started)
        except Exception as exc:
            return Outcome(error=exc, seconds=time.monotonic() - started)

    def stream(client: Any, step: Stream) -> Outcome:
        started = time.monotonic()
        try:
            with driver.stream(client, Call(url=step.url), r.timeout_of(step)) as (head, chunks):
                first = next(chunks)
                early = not step.gate.is_set()
                if not step.stop_after_first:
                    step.gate.set()
                rest = [] if step.stop_after_first else list(chunks)
            step.gate.set()
        except Exception as exc:
            return Outcome(error=exc, seconds=time.monotonic() - started)
        return _streamed(started, head, first, rest, early)

    reply: Any = None
    with driver.open(r.sync_tokens(), r.policy, r.options) as client:
        while True:
            try:
                step = _next(script, reply, throw)
            except StopIteration as stop:
                result = stop.value
                break
            r.started(step)
            if isinstance(step, Call):
                reply = call(client, step)
            elif isinstance(step, Many):
                with ThreadPoolExecutor(min(step.n, 50)) as pool:
                    reply = list(pool.map(call, [client] * step.n, [step.call] * step.n))
            elif isinstance(step, Stream):
                reply = stream(client, step)
            else:
                reply = step.action()
            r.results.append(reply)
        if r.on_client is not None:
            r.on_client(driver.holder(client))
    return result


def _streamed(
    started: float, head: Outcome, first: bytes, rest: list[bytes], early: bool
) -> Outcome:
    return attrs.evolve(
        head,
        content=first + b"".join(rest),
        chunks=(first, *rest),
        first_chunk_early=early,
        seconds=time.monotonic() - started,
    )


def _run_async(driver: AsyncDriver, script: Generator[Step, Any, Any], throw: bool, r: _Run) -> Any:
    loop = driver.loop

    async def call(client: Any, one: Call) -> Outcome:
        started = time.monotonic()
        try:
            outcome = await loop.within(r.timeout_of(one), partial(driver.send, client, one))
        except Exception as exc:
            return Outcome(error=exc, seconds=time.monotonic() - started)
        return _timed(started, outcome)

    async def stream(client: Any, step: Stream) -> Outcome:
        started = time.monotonic()

        async def read() -> Outcome:
            async with driver.stream(client, Call(url=step.url)) as (head, chunks):
                first = await chunks.__anext__()
                early = not step.gate.is_set()
                if not step.stop_after_first:
                    step.gate.set()
                rest = [] if step.stop_after_first else [chunk async for chunk in chunks]
            step.gate.set()
            return _streamed(started, head, first, rest, early)

        try:
            return await loop.within(r.timeout_of(step), read)
        except Exception as exc:
            return Outcome(error=exc, seconds=time.monotonic() - started)

    async def main() -> Any:
        reply: Any = None
        async with driver.open(r.async_tokens(loop), r.policy, r.options) as client:
            while True:
                try:
                    step = _next(script, reply, throw)
                except StopIteration as stop:
                    result = stop.value
                    break
                r.started(step)
                if isinstance(step, Call):
                    reply = await loop.cancellable(partial(call, client, step))
                elif isinstance(step, Many):
                    one = partial(loop.cancellable, partial(call, client, step.call))
                    reply = await loop.gather([one] * step.n)
                elif isinstance(step, Stream):
                    reply = await stream(client, step)
                else:
                    reply = step.action()
                r.results.append(reply)
            if r.on_client is not None:
                r.on_client(driver.holder(client))
        return result

    return loop.run(main)


@overload
def run(
    driver: str | Driver,
    steps: Generator[Step, Any, R],
    tokens: TokenSource,
    *,
    policy: Policy | None = None,
    options: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    token_delay: float = 0.0,
    cancel_first_token_request: bool = False,
    on_client: Callable[[Any], None] | None = None,
) -> R: ...


@overload
def run(
    driver: str | Driver,
    steps: Sequence[Call],
    tokens: TokenSource,
    *,
    policy: Policy | None = None,
    options: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    token_delay: float = 0.0,
    cancel_first_token_request: bool = False,
    on_client: Callable[[Any], None] | None = None,
) -> list[Outcome]: ...


@overload
def run(
    driver: str | Driver,
    steps: Sequence[Step],
    tokens: TokenSource,
    *,
    policy: Policy | None = None,
    options: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    token_delay: float = 0.0,
    cancel_first_token_request: bool = False,
    on_client: Callable[[Any], None] | None = None,
) -> list[Any]: ...


def run(
    driver: str | Driver,
    steps: Sequence[Step] | Generator[Step, Any, Any],
    tokens: TokenSource,
    *,
    policy: Policy | None = None,
    options: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    token_delay: float = 0.0,
    cancel_first_token_request: bool = False,
    on_client: Callable[[Any], None] | None = None,
) -> Any:
    """Run ``steps`` on one fresh client of ``driver`` (see the module docstring): the
    list of results, or what the generator returns. Raises ``Hung`` when the run outlives
    the timeouts of the calls it has started by 2 s, and any exception the scenario
    itself raised (an assertion in a generator, a failing ``Do``)."""
    chosen = DRIVERS[driver] if isinstance(driver, str) else driver
    r = _Run(
        driver=chosen,
        tokens=tokens,
        policy=policy,
        options=dict(options or {}),
        timeout=timeout,
        token_delay=token_delay,
        cancel_first=cancel_first_token_request,
        on_client=on_client,
    )
    script, throw = _script(steps)
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            if isinstance(chosen, SyncDriver):
                result.append(_run_sync(chosen, script, throw, r))
            else:
                assert isinstance(chosen, AsyncDriver)
                result.append(_run_async(chosen, script, throw, r))
        except BaseException as exc:  # reported in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"scenario-{chosen.name}", daemon=True)
    started = time.monotonic()
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
        elapsed = time.monotonic() - started
        if thread.is_alive() and elapsed > r.budget:
            raise Hung(
                f"{chosen.name}: the scenario was still running {elapsed:.1f}s after it "
                f"started, past the timeouts of its calls (results so far: {r.results!r})"
            )
    if failure:
        raise failure[0]
    return result[0]


# -- the drivers -----------------------------------------------------------------------


class _UpscopeAsyncClient(AsyncDriver):
    """``upscope_asyncio.Client`` and ``upscope_trio.Client`` (one shared shell)."""

    transport_errors = (TransportError,)
    options = frozenset(
        {"resource_for", "max_header_size", "max_connections_per_origin", "ssl_context", "verify"}
    )
    client: ClassVar[Callable[..., Any]]

    def open(
        self, tokens: Any, policy: Policy | None, options: Mapping[str, Any]
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        kwargs = dict(options)
        if "verify" in kwargs:
            kwargs["ssl_context"] = ssl.create_default_context(cafile=kwargs.pop("verify"))
        client: contextlib.AbstractAsyncContextManager[Any] = self.client(
            tokens, policy=policy, **kwargs
        )
        return client

    async def send(self, client: Any, call: Call) -> Outcome:
        response = await client.request(
            call.method, call.url, headers=list(call.headers), content=_async_content(call)
        )
        location = response.header("location")
        if call.follow_redirects and 300 <= response.status_code < 400 and location:
            response = await client.request("GET", urljoin(call.url, location))
        return response_outcome(response.status_code, response.headers, response.content)

    @contextlib.asynccontextmanager
    async def stream(self, client: Any, call: Call) -> AsyncIterator[tuple[Outcome, Any]]:
        async with client.stream(
            call.method, call.url, headers=list(call.headers), content=_async_content(call)
        ) as response:
            yield response_outcome(response.status_code, response.headers), response.aiter_bytes()


def _async_content(call: Call) -> bytes | AsyncIterator[bytes] | None:
    if isinstance(call.body, Body) and call.body.kind == "stream":
        return call.body.achunks()
    return call.body_bytes


class AsyncioDriver(_UpscopeAsyncClient):
    name = "asyncio"
    loop = ASYNCIO
    timeout_errors = (asyncio.TimeoutError,)
    client = upscope_asyncio.Client


class TrioDriver(_UpscopeAsyncClient):
    name = "trio"
    loop = TRIO
    timeout_errors = (trio.TooSlowError,)
    client = upscope_trio.Client


class RequestsDriver(SyncDriver):
    """``upscope_requests.UpscopeAuth`` on a ``requests.Session`` (pool of 50, for ``Many``)."""

    name = "requests"
    transport_errors = (requests.RequestException,)
    timeout_errors = (requests.Timeout,)
    options = frozenset({"resource_for", "max_header_size", "timeout", "verify"})

    @contextlib.contextmanager
    def open(self, tokens: Any, policy: Policy | None, options: Mapping[str, Any]) -> Iterator[Any]:
        kwargs = dict(options)
        with requests.Session() as session:
            session.verify = kwargs.pop("verify", True)
            session.auth = UpscopeAuth(tokens, policy=policy, **kwargs)
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=50))
            yield session

    def holder(self, client: Any) -> Any:
        return client.auth

    def send(self, client: Any, call: Call, timeout: float) -> Outcome:
        with _requests_body(call.body) as data:
            response = client.request(
                call.method,
                call.url,
                headers=dict(call.headers),
                data=data,
                timeout=timeout,
                allow_redirects=call.follow_redirects is not False,
                verify=client.verify,  # else REQUESTS_CA_BUNDLE would override session.verify
            )
        error = vars(response).get("upscope_error")
        if error is not None:
            raise error  # the give-up the adapter attached to the response
        return response_outcome(response.status_code, response.headers, response.content)

    @contextlib.contextmanager
    def stream(
        self, client: Any, call: Call, timeout: float
    ) -> Iterator[tuple[Outcome, Iterator[bytes]]]:
        with (
            _requests_body(call.body) as data,
            client.request(
                call.method,
                call.url,
                headers=dict(call.headers),
                data=data,
                timeout=timeout,
                stream=True,
                verify=client.verify,
            ) as response,
        ):
            head = response_outcome(response.status_code, response.headers)
            yield head, response.iter_content(chunk_size=None)


@contextlib.contextmanager
def _requests_body(body: bytes | Body | None) -> Iterator[Any]:
    """The body as requests takes it: bytes, an open temporary file, or a generator."""
    if not isinstance(body, Body) or body.kind == "bytes":
        yield body.data if isinstance(body, Body) else body
    elif body.kind == "stream":
        yield body.chunks()
    else:
        with tempfile.TemporaryFile() as file:
            file.write(body.data)
            file.seek(0)
            yield file


class _Httpx:
    """``upscope_httpx.UpscopeAuth`` / ``upscope_httpx2.UpscopeAuth`` on a client of its
    library: the parts the sync and async drivers share. A give-up is raised from the
    response it is attached to, as for requests. A ``file`` body goes as bytes: httpx
    streams a file object and cannot rewind it, so it would not be replayed."""

    library: ClassVar[Any]
    adapter: ClassVar[Any]
    options = frozenset({"resource_for", "ssl_context", "verify"})

    def holder(self, client: Any) -> Any:
        return client.auth

    def _client_options(self, options: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """(the auth's options, the client's ``verify``)."""
        auth = {k: v for k, v in options.items() if k not in ("ssl_context", "verify")}
        if "verify" in options:
            return auth, ssl.create_default_context(cafile=options["verify"])
        return auth, options.get("ssl_context", True)

    def _arguments(self, call: Call, content: Any) -> dict[str, Any]:
        return {
            "method": call.method,
            "url": call.url,
            "headers": list(call.headers),
            "content": content,
            "follow_redirects": bool(call.follow_redirects),
        }

    def _outcome(self, response: Any, content: bytes = b"") -> Outcome:
        error = vars(response).get("upscope_error")
        if error is not None:
            raise error  # the give-up the adapter attached to the response
        return response_outcome(response.status_code, response.headers.multi_items(), content)


class _HttpxSync(_Httpx, SyncDriver):
    @contextlib.contextmanager
    def open(self, tokens: Any, policy: Policy | None, options: Mapping[str, Any]) -> Iterator[Any]:
        auth, verify = self._client_options(options)
        with contextlib.ExitStack() as stack:
            if verify is not True:  # the OAuth requests need the test's CA too
                auth["oauth_client"] = stack.enter_context(self.library.Client(verify=verify))
            yield stack.enter_context(
                self.library.Client(
                    auth=self.adapter.UpscopeAuth(tokens, policy, **auth), verify=verify
                )
            )

    def send(self, client: Any, call: Call, timeout: float) -> Outcome:
        content = _sync_content(call)
        response = client.request(**self._arguments(call, content), timeout=timeout)
        return self._outcome(response, response.content)

    @contextlib.contextmanager
    def stream(
        self, client: Any, call: Call, timeout: float
    ) -> Iterator[tuple[Outcome, Iterator[bytes]]]:
        arguments = self._arguments(call, _sync_content(call))
        with client.stream(**arguments, timeout=timeout) as response:
            yield self._outcome(response), response.iter_bytes()


class _HttpxAsync(_Httpx, AsyncDriver):
    @contextlib.asynccontextmanager
    async def open(
        self, tokens: Any, policy: Policy | None, options: Mapping[str, Any]
    ) -> AsyncIterator[Any]:
        auth, verify = self._client_options(options)
        async with contextlib.AsyncExitStack() as stack:
            if verify is not True:  # the OAuth requests need the test's CA too
                oauth_client = self.library.AsyncClient(verify=verify)
                auth["oauth_client"] = await stack.enter_async_context(oauth_client)
            client = self.library.AsyncClient(
                auth=self.adapter.UpscopeAuth(tokens, policy, **auth),
                verify=verify,
                timeout=None,  # the loop's own timeout bounds each call
            )
            yield await stack.enter_async_context(client)

    async def send(self, client: Any, call: Call) -> Outcome:
        response = await client.request(**self._arguments(call, _async_content(call)))
        return self._outcome(response, response.content)

    @contextlib.asynccontextmanager
    async def stream(self, client: Any, call: Call) -> AsyncIterator[tuple[Outcome, Any]]:
        async with client.stream(**self._arguments(call, _async_content(call))) as response:
            yield self._outcome(response), response.aiter_bytes()


def _sync_content(call: Call) -> bytes | Iterator[bytes] | None:
    if isinstance(call.body, Body) and call.body.kind == "stream":
        return call.body.chunks()
    return call.body_bytes


def _httpx_drivers(library: Any, adapter: Any) -> list[Driver]:
    """The three drivers of one library: sync ``Client``, ``AsyncClient`` on each loop."""
    base = {"library": library, "adapter": adapter, "transport_errors": (library.TransportError,)}
    name = library.__name__
    sync = type(
        f"{name}Sync",
        (_HttpxSync,),
        {**base, "name": f"{name}-sync", "timeout_errors": (library.TimeoutException,)},
    )
    on_asyncio = type(
        f"{name}Asyncio",
        (_HttpxAsync,),
        {
            **base,
            "name": f"{name}-asyncio",
            "loop": ASYNCIO,
            "timeout_errors": (asyncio.TimeoutError,),
        },
    )
    on_trio = type(
        f"{name}Trio",
        (_HttpxAsync,),
        {**base, "name": f"{name}-trio", "loop": TRIO, "timeout_errors": (trio.TooSlowError,)},
    )
    return [sync(), on_asyncio(), on_trio()]


register(AsyncioDriver())
register(TrioDriver())
register(RequestsDriver())
for _driver in [*_httpx_drivers(httpx, upscope_httpx), *_httpx_drivers(httpx2, upscope_httpx2)]:
    register(_driver)
