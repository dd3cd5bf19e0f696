"""A socket-level check both async adapters share (no event loop imported)."""

from __future__ import annotations

import select
from typing import Protocol

__all__ = ["ReadableProbe"]


class _Socket(Protocol):
    """A ``socket.socket``, a ``trio.socket.SocketType``: anything with a descriptor."""

    def fileno(self) -> int: ...


class ReadableProbe:
    """Calling it says whether ``sock`` has something to read right now, or is closed:
    for an idle keep-alive connection that means the server closed it (or sent what
    nobody asked for), so it must not carry another request. Never blocks. A probe of
    no socket (None) says False: nothing to look at counts as alive.

    Made once per connection, so a check costs one ``poll`` call, not a new poller."""

    def __init__(self, sock: _Socket | None) -> None:
        self._sock = sock
        self._poller: select.poll | None = None
        if sock is not None and hasattr(select, "poll"):  # no FD_SETSIZE limit, unlike select()
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)

    def __call__(self) -> bool:
        sock = self._sock
        if sock is None:
            return False
        if sock.fileno() < 0:
            return True
        if self._poller is not None:
            return bool(self._poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)  # pragma: no cover - Windows
        return bool(readable)  # pragma: no cover - Windows
