"""A socket-level check both async adapters share (no event loop imported)."""

from __future__ import annotations

import functools
import select
from collections.abc import Callable
from typing import Protocol

__all__ = ["readable_probe"]


class _Socket(Protocol):
    """A ``socket.socket``, a ``trio.socket.SocketType``: anything with a descriptor."""

    def fileno(self) -> int: ...


def readable_probe(sock: _Socket | None) -> Callable[[], object]:
    """A check, true when ``sock`` has something to read right now or is closed: for an
    idle keep-alive connection that means the server closed it (or sent what nobody
    asked for), so it must not carry another request. Never blocks. No socket (None):
    always false, nothing to look at counts as alive.

    Made once per connection; a check is one ``poll`` call on the descriptor, with no
    Python frame around it. A descriptor closed since reports ``POLLNVAL`` (true); the
    pool never probes a connection it has closed, so the number cannot have been given to
    another file in between."""
    if sock is None:
        return bool
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return functools.partial(_select_readable, sock)
    poller = select.poll()  # no FD_SETSIZE limit, unlike select()
    poller.register(sock, select.POLLIN)
    return functools.partial(poller.poll, 0)


def _select_readable(sock: _Socket) -> bool:  # pragma: no cover - Windows
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
