"""The trio client reads and writes a plain TCP socket itself (trio only waits for it):
each read and write is still a trio checkpoint, as on a trio stream. A cancelled scope
stops it before any byte moves and loses nothing already received, and a task whose
socket always has bytes waiting still lets the other tasks run. Over real sockets (a
connected pair, and a listening socket on 127.0.0.1 for the client)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable

import trio
import trio.testing

import upscope_trio
from sansio_upscope import RequestToken, Token
from upscope_trio._client import _SocketStream

#: A test of the stream: given the client's stream over one end of a connected pair of
#: sockets, and the other end (blocking, with a timeout).
PairTest = Callable[[_SocketStream, socket.socket], Awaitable[None]]


def _run_on_a_pair(test: PairTest) -> None:
    async def main() -> None:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.settimeout(5)
        stream = _SocketStream(ours)
        try:
            await test(stream, theirs)
        finally:
            await stream.aclose()
            theirs.close()

    trio.run(main)


def _nothing_waiting(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(1)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(5)
    return False


def test_a_cancelled_read_raises_cancelled_and_loses_nothing() -> None:
    async def test(stream: _SocketStream, theirs: socket.socket) -> None:
        theirs.sendall(b"already here")
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.receive_some()
        assert scope.cancelled_caught
        assert await stream.receive_some() == b"already here"

    _run_on_a_pair(test)


def test_a_cancelled_write_raises_cancelled_and_sends_nothing() -> None:
    async def test(stream: _SocketStream, theirs: socket.socket) -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.send_all(b"GET / HTTP/1.1\r\n\r\n")
        assert scope.cancelled_caught
        assert _nothing_waiting(theirs)
        await stream.send_all(b"sent")
        assert theirs.recv(16) == b"sent"

    _run_on_a_pair(test)


async def _lets_another_task_run(calls: int, call: Callable[[int], Awaitable[object]]) -> None:
    """``call(i)`` for i in range(calls), none of which waits for the socket, lets a task
    started before the first one run before the last one returns."""
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        for index in range(calls):
            await call(index)
        assert ran == ["other"]


def test_reads_that_never_wait_still_let_other_tasks_run() -> None:
    async def test(stream: _SocketStream, theirs: socket.socket) -> None:
        async def read(index: int) -> None:
            theirs.sendall(b"%d" % index)  # already there when read
            assert await stream.receive_some() == b"%d" % index

        await _lets_another_task_run(2, read)

    _run_on_a_pair(test)


def test_writes_that_never_wait_still_let_other_tasks_run() -> None:
    async def test(stream: _SocketStream, theirs: socket.socket) -> None:
        async def write(index: int) -> None:
            await stream.send_all(b"%d" % index)  # fits in the socket's buffer

        await _lets_another_task_run(2, write)
        assert theirs.recv(16) == b"01"

    _run_on_a_pair(test)


def test_closing_wakes_a_task_waiting_to_read_and_closing_again_is_harmless() -> None:
    async def test(stream: _SocketStream, theirs: socket.socket) -> None:
        failures: list[BaseException] = []

        async def reader() -> None:
            try:
                await stream.receive_some()
            except trio.ClosedResourceError as exc:  # trio's notify_closing()
                failures.append(exc)

        with trio.fail_after(5):  # a reader nobody wakes would wait for ever
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                await trio.testing.wait_all_tasks_blocked()
                await stream.aclose()
        assert len(failures) == 1
        await stream.aclose()  # and once more when the test ends

    _run_on_a_pair(test)


async def _never(request: RequestToken) -> Token:
    raise AssertionError("the server never challenges")


def test_a_request_cancelled_before_it_starts_sends_nothing_and_the_next_one_goes_out() -> None:
    """Through the client, to a server on 127.0.0.1 that records the requests each
    connection carries: a request whose scope is already cancelled, given the idle
    connection of the one before, sends nothing on it and closes it; the next request
    goes out on a new connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    carried: list[list[bytes]] = []

    def serve() -> None:
        listener.settimeout(5)
        for _ in range(2):
            connection, _ = listener.accept()
            requests: list[bytes] = []
            carried.append(requests)
            with connection:
                connection.settimeout(5)
                data = b""
                while chunk := connection.recv(65536):  # until the client closes it
                    data += chunk
                    while b"\r\n\r\n" in data:
                        head, data = data.split(b"\r\n\r\n", 1)
                        requests.append(head)
                        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def main() -> None:
        async with upscope_trio.Client(_never) as client:
            url = f"http://127.0.0.1:{port}/"
            assert (await client.request("GET", url)).content == b"ok"
            with trio.CancelScope() as scope:
                scope.cancel()
                await client.request("GET", url)
            assert scope.cancelled_caught
            assert (await client.request("GET", url)).content == b"ok"

    trio.run(main)
    thread.join(5)
    listener.close()
    assert [len(requests) for requests in carried] == [1, 1]
