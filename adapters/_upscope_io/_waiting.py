"""Waiting for a token request from async code that may run on asyncio or on trio.

``anyio`` (a dependency of httpx and httpx2) picks the running library's own event:
a ``trio.Event`` under trio, an ``asyncio.Event`` under asyncio, so no asyncio
primitive is ever made where trio runs. The token request may end in another thread
(a sync ``Client`` sharing the same auth, or another event loop), so ``wake()`` sets
the event from the waiter's own loop thread, scheduled without blocking.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

__all__ = ["Waiter", "run_in_thread"]


class Waiter:
    """One async flow waiting until a token request ends. Made in the waiting task."""

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._thread = threading.get_ident()
        # asyncio: the running loop; trio: the run's TrioToken.
        self._loop: object = anyio.lowlevel.current_token().native_token

    async def wait(self) -> None:
        await self._event.wait()

    def wake(self) -> None:
        """Set the event; safe from any thread, never blocks."""
        if threading.get_ident() == self._thread:
            self._event.set()
            return
        loop: Any = self._loop
        schedule = getattr(loop, "call_soon_threadsafe", None) or loop.run_sync_soon
        with contextlib.suppress(RuntimeError):  # that loop or run has finished
            schedule(self._event.set)


def run_in_thread(call: Callable[[], str]) -> Awaitable[str]:
    """Run a blocking call (waiting for the browser) off the running event loop; a
    cancelled request does not wait for it to come back."""
    return anyio.to_thread.run_sync(call, abandon_on_cancel=True)
