"""A counting semaphore built on the framework's own event type (no event loop imported).

The pool takes a slot for every request on the way out; asyncio's ``Semaphore`` and
trio's cost more than the rest of the pool's work there (trio's yields to the scheduler
on every ``acquire``, even when a slot is free). Here a free slot is taken without
awaiting anything; only a request that must wait awaits an event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["Event", "Slots"]


class Event(Protocol):
    """``asyncio.Event`` or ``trio.Event``."""

    def set(self) -> None: ...

    async def wait(self) -> object: ...


class Slots:
    """At most ``count`` holders at once; waiters are served first come, first served."""

    def __init__(self, count: int, new_event: Callable[[], Event]) -> None:
        self._free = count
        self._new_event = new_event
        self._waiting: deque[Event] = deque()

    async def acquire(self) -> None:
        """Take a slot, waiting for one if none is free. Cancellation safe: a waiter
        cancelled after a slot was handed to it passes the slot on."""
        if self.try_acquire():
            return
        turn = self._new_event()
        self._waiting.append(turn)
        try:
            await turn.wait()
        except BaseException:
            try:
                self._waiting.remove(turn)  # still waiting: no slot was handed over
            except ValueError:
                self.release()  # handed a slot while being cancelled
            raise

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits for one; False otherwise."""
        if self._free and not self._waiting:
            self._free -= 1
            return True
        return False

    def release(self) -> None:
        """Give a slot back, to the longest waiter if there is one."""
        if self._waiting:
            self._waiting.popleft().set()
        else:
            self._free += 1
