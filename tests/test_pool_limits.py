"""The async clients' connection limits, over real sockets on 127.0.0.1.

Defaults as httpx and aiohttp: at most 100 connections open at once across all origins,
every one of them kept alive for reuse, no per-origin cap unless one is asked for. The
servers here count what they see (connections open at once, requests in flight), so each
test asserts a limit from the server's side, never a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest
import trio

import upscope_asyncio
import upscope_trio
from _upscope_io import AsyncClient
from sansio_upscope import RequestToken, Token

FRAMEWORKS = ("asyncio", "trio")
CLIENTS: dict[str, Callable[..., AsyncClient]] = {
    "asyncio": upscope_asyncio.Client,
    "trio": upscope_trio.Client,
}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Tally:
    """What one or more servers saw, counted under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = self.peak_open = self.connections = 0
        self.in_flight = self.peak_in_flight = 0

    def change(self, name: str, delta: int) -> None:
        with self.lock:
            value = getattr(self, name) + delta
            setattr(self, name, value)
            peak = "peak_" + name
            if hasattr(self, peak):
                setattr(self, peak, max(getattr(self, peak), value))


class CountingServer:
    """Answers every GET with 200 after ``hold()`` returns; counts into ``tally``."""

    def __init__(self, tally: Tally, hold: Callable[[], object] = lambda: None) -> None:
        self.tally, self.hold = tally, hold
        self.open_here = 0
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/"
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        self.tally.change("open", 1)
        self.tally.change("connections", 1)
        with self.tally.lock:
            self.open_here += 1
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
                self.tally.change("in_flight", 1)
                try:
                    self.hold()
                finally:
                    self.tally.change("in_flight", -1)
                sock.sendall(OK)
        except (OSError, threading.BrokenBarrierError):
            return  # closed, or held past the end of its test
        finally:
            with self.tally.lock:
                self.open_here -= 1
            self.tally.change("open", -1)
            sock.close()

    def close(self) -> None:
        # shutdown() first: close() alone leaves the thread blocked in accept() holding a
        # listening socket that outlives the test (and serves whoever connects to it).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def serving(tally: Tally, hold: Callable[[], object] = lambda: None) -> Iterator[CountingServer]:
    server = CountingServer(tally, hold)
    try:
        yield server
    finally:
        server.close()


async def no_tokens(request: RequestToken) -> Token:
    raise AssertionError("these servers never challenge")


def run(framework: str, main: Callable[[], Awaitable[None]]) -> None:
    if framework == "asyncio":
        asyncio.run(main())  # type: ignore[arg-type]
    else:
        trio.run(main)


async def all_at_once(framework: str, calls: list[Callable[[], Awaitable[object]]]) -> None:
    if framework == "asyncio":
        await asyncio.gather(*(call() for call in calls))
    else:
        async with trio.open_nursery() as nursery:
            for call in calls:
                nursery.start_soon(call)


def get(client: AsyncClient, url: str) -> Callable[[], Awaitable[object]]:
    async def call() -> None:
        response = await client.request("GET", url)
        assert response.status_code == 200

    return call


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_defaults_let_fifty_requests_to_one_origin_run_at_once_then_reuse_them(
    framework: str,
) -> None:
    # The server answers nothing until 50 requests are in flight together: a client
    # that opens fewer than 50 connections to one origin breaks the barrier (500s).
    barrier = threading.Barrier(50, timeout=20)
    tally = Tally()
    with serving(tally, hold=barrier.wait) as server:

        async def main() -> None:
            async with CLIENTS[framework](no_tokens) as client:
                await all_at_once(framework, [get(client, server.url)] * 50)
                assert tally.connections == 50
                await all_at_once(framework, [get(client, server.url)] * 50)

        run(framework, main)
    assert tally.peak_in_flight == 50
    assert tally.connections == 50  # the second 50 reused every kept-alive connection


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_max_connections_counts_every_origin_and_idle_connections_make_room(
    framework: str,
) -> None:
    tally = Tally()
    with serving(tally) as first, serving(tally) as second:

        async def main() -> None:
            async with CLIENTS[framework](no_tokens, max_connections=3) as client:
                await all_at_once(framework, [get(client, first.url)] * 12)
                assert 1 <= first.open_here <= 3  # kept alive, idle
                # Three connections to the second origin: the idle ones to the first
                # are closed to make room (max_connections counts idle ones too).
                barrier = threading.Barrier(3, timeout=20)
                second.hold = barrier.wait
                await all_at_once(framework, [get(client, second.url)] * 3)
                assert closed_within(first, seconds=10)
                second.hold = lambda: None
                await all_at_once(framework, [get(client, first.url), get(client, second.url)] * 6)

        run(framework, main)
    assert tally.peak_in_flight <= 3


def closed_within(server: CountingServer, *, seconds: float) -> bool:
    """The server has seen every connection to it closed (it learns that a moment
    after the client closes, on its own thread)."""
    done = threading.Event()
    for _ in range(int(seconds * 100)):
        if server.open_here == 0:
            return True
        done.wait(0.01)
    return False


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_max_connections_per_origin_caps_each_origin_on_its_own(framework: str) -> None:
    # Two requests per origin may be in flight; the server holds each request until
    # four are in flight, so the total (4) shows the caps are per origin, not shared.
    barrier = threading.Barrier(4, timeout=20)
    first_tally, second_tally = Tally(), Tally()
    with (
        serving(first_tally, hold=barrier.wait) as first,
        serving(second_tally, hold=barrier.wait) as second,
    ):

        async def main() -> None:
            async with CLIENTS[framework](no_tokens, max_connections_per_origin=2) as client:
                await all_at_once(framework, [get(client, first.url), get(client, second.url)] * 4)

        run(framework, main)
    for tally in (first_tally, second_tally):
        assert tally.peak_in_flight == 2
        assert tally.connections == 2


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_connections": 0}, "max_connections must be at least 1"),
        ({"max_connections_per_origin": 0}, "max_connections_per_origin must be at least 1"),
    ],
)
def test_limits_below_one_are_refused(
    framework: str, options: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CLIENTS[framework](no_tokens, **options)
