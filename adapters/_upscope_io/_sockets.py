"""A socket-level check both async adapters share (no event loop imported)."""

from __future__ import annotations

import select
from typing import Protocol

__all__ = ["socket_is_readable"]


class _Socket(Protocol):
    """A ``socket.socket``, a ``trio.socket.SocketType``: anything with a descriptor."""

    def fileno(self) -> int: ...


def socket_is_readable(sock: _Socket | None) -> bool:
    """True when ``sock`` has something to read right now, or is closed: for an idle
    keep-alive connection that means the server closed it (or sent what nobody asked
    for), so it must not carry another request. Never blocks. None (no socket to look
    at) counts as alive."""
    if sock is None:
        return False
    if sock.fileno() < 0:
        return True
    if hasattr(select, "poll"):  # no FD_SETSIZE limit, unlike select()
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)  # pragma: no cover - Windows
    return bool(readable)  # pragma: no cover - Windows
