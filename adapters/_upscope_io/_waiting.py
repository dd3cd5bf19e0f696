"""Waiting for a token request, from threads and from async code on asyncio or trio.

``TokenRequestWaits`` holds the one ``threading.Condition`` under which every call into
the (not thread-safe) core is made; it is held only for those calls. Sync code waits on
the condition. Async code waits on an event that ``anyio`` (a dependency of httpx and
httpx2) makes for the running library: a ``trio.Event`` under trio, an ``asyncio.Event``
under asyncio, so no asyncio primitive is ever made where trio runs. The token request
may end in another thread (a sync ``Client`` sharing the auth, another event loop), so
an event is set from its own loop's thread, scheduled without blocking.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

from sansio_upscope import Upscope, WaitForToken

__all__ = ["TokenRequestWaits", "run_in_thread"]


class _Waiter:
    """One async flow waiting until a token request ends. Made in the waiting task."""

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._thread = threading.get_ident()
        # asyncio: the running loop; trio: the run's TrioToken.
        self._loop: Any = anyio.lowlevel.current_token().native_token

    async def wait(self) -> None:
        await self._event.wait()

    def wake(self) -> None:
        """Set the event; safe from any thread, never blocks."""
        if threading.get_ident() == self._thread:
            self._event.set()
            return
        schedule = getattr(self._loop, "call_soon_threadsafe", None) or self._loop.run_sync_soon
        with contextlib.suppress(RuntimeError):  # that loop or run has finished
            schedule(self._event.set)


class TokenRequestWaits:
    """The lock around the core, and the flows waiting for a token request to end."""

    def __init__(self) -> None:
        # Re-entrant: the garbage collector may close an abandoned flow (its finally
        # takes the lock) in a thread that holds it. Entered directly (C code) on the
        # fast path; the condition over it is for sync waiters only.
        self.lock = threading.RLock()
        self._condition = threading.Condition(self.lock)
        self._sync_waiting = 0
        self._waiters: dict[Upscope, set[_Waiter]] = {}

    def wake(self, upscope: Upscope) -> None:
        """Under the lock, after a step that may have ended a token request (a token
        issued or failed, an exchange abandoned): wake the flows waiting on
        ``upscope`` (each asks the core whether its wait is over)."""
        if self._sync_waiting:
            self._condition.notify_all()
        if self._waiters:
            for waiter in self._waiters.pop(upscope, ()):
                waiter.wake()

    def wait_sync(self, upscope: Upscope, wait: WaitForToken) -> None:
        """Block until the token request ``wait`` names has ended."""
        with self.lock:
            self._sync_waiting += 1
            try:
                self._condition.wait_for(lambda: upscope.token_request_ended(wait))
            finally:
                self._sync_waiting -= 1

    async def wait_async(self, upscope: Upscope, wait: WaitForToken) -> None:
        """``wait_sync`` for async code (cancellable, on the running library)."""
        while True:
            with self.lock:
                if upscope.token_request_ended(wait):
                    return
                waiter = _Waiter()
                self._waiters.setdefault(upscope, set()).add(waiter)
            try:
                await waiter.wait()
            finally:
                with self.lock:
                    waiting = self._waiters.get(upscope)
                    if waiting is not None:
                        waiting.discard(waiter)
                        if not waiting:
                            del self._waiters[upscope]


def run_in_thread(call: Callable[[], str]) -> Awaitable[str]:
    """Run a blocking call (waiting for the browser) off the running event loop; a
    cancelled request does not wait for it to come back."""
    return anyio.to_thread.run_sync(call, abandon_on_cancel=True)
