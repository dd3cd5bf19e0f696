"""Memory over many exchanges: through the machine, through the h11 glue, and through the
asyncio client end to end (in-memory streams, no sockets), with hostile variants.

Python memory is traced (tracemalloc) after a warm-up; each line prints the traced memory
at 1%, 10% and 100% of the run and the growth from the 1% mark to the end, next to the
growth of a named baseline measured in the same run:

* ``baseline h11``: a bare ``h11.Connection`` doing the same keep-alive cycles, the least
  any HTTP/1.1 client does per request.

"Flat" means the growth is within a few KiB of the baseline's: no per-exchange leak.
Rows marked ``hostile`` show what a server that changes its challenge on every exchange
costs; see docs/security.md for what the policy bounds.

    python benchmarks/memory.py [--exchanges N] [--client-exchanges M]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from collections.abc import Callable

import h11

from _upscope_io import Http11
from sansio_upscope import (
    Deliver,
    GiveUp,
    Policy,
    RequestToken,
    ResponseReceived,
    Retry,
    Token,
    TokenIssued,
    Upscope,
)

URL = "http://127.0.0.1:8000/api"
OK_BYTES = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
RENEW_BYTES = (
    b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error="invalid_token"\r\n'
    b"Content-Length: 0\r\n\r\n"
)
OK = ResponseReceived(status_code=200, headers=[(b"content-length", b"2")])
RENEW = ResponseReceived(
    status_code=401, headers=[(b"www-authenticate", b'Bearer error="invalid_token"')]
)

Marks = list[tuple[int, int]]


def trace(step: Callable[[int], None], total: int) -> Marks:
    """Traced memory after 1%, 10% and 100% of ``total`` calls of ``step(i)``."""
    for i in range(min(1000, total)):  # warm-up: caches, interned strings, free lists
        step(-1 - i)
    gc.collect()
    tracemalloc.start()
    marks: Marks = []
    checkpoints = {max(1, total // 100), max(1, total // 10), total}
    try:
        for i in range(1, total + 1):
            step(i)
            if i in checkpoints:
                gc.collect()
                marks.append((i, tracemalloc.get_traced_memory()[0]))
    finally:
        tracemalloc.stop()
    return marks


def slowdown(step: Callable[[int], None], total: int) -> tuple[float, float]:
    """Seconds per call over the first and the last tenth of ``total`` calls."""
    tenth = max(1, total // 10)
    times = []
    for i in range(1, total + 1):
        if i in (1, total - tenth + 1):
            started = time.perf_counter()
        step(i)
        if i in (tenth, total):
            times.append((time.perf_counter() - started) / tenth)
    return times[0], times[1]


def growth(marks: Marks) -> int:
    return marks[-1][1] - marks[0][1]


def report(name: str, marks: Marks, baseline: int | None) -> None:
    text = "  ".join(f"{n:>8}: {b / 1024:8.1f} KiB" for n, b in marks)
    extra = "" if baseline is None else f"  (baseline growth {baseline / 1024:+.1f} KiB)"
    per = growth(marks) / max(1, marks[-1][0] - marks[0][0])
    total = f"growth {growth(marks) / 1024:+8.1f} KiB = {per:6.2f} B/exchange"
    print(f"{name:44} {text}  {total}{extra}")


# -- the baseline and the h11 glue ------------------------------------------------------


def bare_h11() -> Callable[[int], None]:
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(method="GET", target="/api", headers=[("Host", "127.0.0.1")])

    def step(_i: int) -> None:
        conn.send(request)
        conn.send(h11.EndOfMessage())
        conn.receive_data(OK_BYTES)
        while not isinstance(conn.next_event(), h11.EndOfMessage):
            pass
        conn.start_next_cycle()

    return step


def glue() -> Callable[[int], None]:
    """One keep-alive connection of ``_upscope_io.Http11``: request bytes, response, reuse."""
    http = Http11()
    headers = [("Authorization", "Bearer t")]

    def step(_i: int) -> None:
        http.request("GET", URL, headers, content_length=0)
        http.end()
        http.receive_data(OK_BYTES)
        assert http.read_head() is not None and http.read_body([])
        assert http.reusable

    return step


def glue_and_machine() -> Callable[[int], None]:
    """Http11 + the machine on one Upscope: each exchange is 401 invalid_token, a new
    token, the retry, 200 (the renewal path adapters run)."""
    http = Http11()
    upscope = Upscope(URL)

    def roundtrip(data: bytes, authorization: str | None) -> ResponseReceived:
        headers = [] if authorization is None else [("Authorization", authorization)]
        http.request("GET", URL, headers, content_length=0)
        http.end()
        http.receive_data(data)
        head = http.read_head()
        assert head is not None and http.read_body([]) and http.reusable
        return ResponseReceived(status_code=head.status_code, headers=head.headers)

    def step(i: int) -> None:
        exchange = upscope.exchange("GET", URL)
        action = exchange.start()
        action = exchange.receive(roundtrip(RENEW_BYTES, getattr(action, "authorization", None)))
        if isinstance(action, RequestToken):
            action = exchange.receive(TokenIssued(token=Token(f"t{i}")))
        assert isinstance(action, Retry), action
        assert isinstance(exchange.receive(roundtrip(OK_BYTES, action.authorization)), Deliver)

    return step


# -- the machine alone, hostile servers ---------------------------------------------------


def fresh_scope_per_exchange(policy: Policy | None) -> Callable[[int], None]:
    """Hostile: every exchange meets 403 insufficient_scope for a scope never seen before
    (the machine's memory of answered challenges, and the scope union, are per resource)."""
    upscope = Upscope(URL, policy=policy)

    def step(i: int) -> None:
        challenge = f'Bearer error="insufficient_scope", scope="s{i}"'.encode()
        exchange = upscope.exchange("GET", URL)
        exchange.start()
        action = exchange.receive(
            ResponseReceived(status_code=403, headers=[(b"www-authenticate", challenge)])
        )
        if isinstance(action, RequestToken):
            action = exchange.receive(
                TokenIssued(token=Token(f"t{i}", scopes=action.scopes | {f"s{i}"}))
            )
            assert isinstance(action, Retry)
            action = exchange.receive(OK)
        assert isinstance(action, Deliver | GiveUp), action

    return step


def same_challenge_forever() -> Callable[[int], None]:
    """Hostile: the same 403 on every request of every exchange (loop guard gives up)."""
    upscope = Upscope(URL)
    forbidden = ResponseReceived(
        status_code=403,
        headers=[(b"www-authenticate", b'Bearer error="insufficient_scope", scope="x"')],
    )

    def step(i: int) -> None:
        exchange = upscope.exchange("GET", URL)
        exchange.start()
        action = exchange.receive(forbidden)
        if isinstance(action, RequestToken):
            action = exchange.receive(TokenIssued(token=Token(f"t{i}", scopes={"x"})))
            action = exchange.receive(forbidden)
        assert isinstance(action, GiveUp), action

    return step


# -- the asyncio client end to end, over in-memory streams --------------------------------


class _LoopbackStream:
    """An in-memory ByteStream: answers 200 to a token's first use, 401 invalid_token to
    any later use, so every exchange renews its token (the whole adapter path)."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._last_token = b""

    async def send_all(self, data: bytes) -> None:
        token = data.partition(b"Authorization: Bearer ")[2].partition(b"\r\n")[0]
        fresh = bool(token) and token != self._last_token
        self._last_token = token
        self._pending.append(OK_BYTES if fresh else RENEW_BYTES)

    async def receive_some(self) -> bytes:
        return self._pending.pop(0)

    async def aclose(self) -> None:
        pass


def client_end_to_end(total: int) -> Marks:
    import upscope_asyncio

    counter = 0

    async def tokens(_request: RequestToken) -> Token:
        nonlocal counter
        counter += 1
        return Token(f"token-{counter}")

    async def main() -> Marks:
        async with upscope_asyncio.Client(tokens) as client:

            async def connect(_origin: object) -> _LoopbackStream:
                return _LoopbackStream()

            client._pool._connect = connect  # in-memory streams instead of sockets
            loop_marks: Marks = []
            checkpoints = {max(1, total // 100), max(1, total // 10), total}
            for _ in range(1000):  # warm-up
                await client.request("GET", URL)
            gc.collect()
            tracemalloc.start()
            for i in range(1, total + 1):
                response = await client.request("GET", URL)
                assert response.status_code == 200
                if i in checkpoints:
                    gc.collect()
                    loop_marks.append((i, tracemalloc.get_traced_memory()[0]))
            tracemalloc.stop()
            return loop_marks

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exchanges", type=int, default=10**6)
    parser.add_argument("--client-exchanges", type=int, default=10**5)
    args = parser.parse_args()
    n = args.exchanges

    base = trace(bare_h11(), n)
    report("baseline h11 (keep-alive cycles)", base, None)
    report("_upscope_io.Http11 (keep-alive cycles)", trace(glue(), n), growth(base))
    report("Http11 + machine (401, token, retry, 200)", trace(glue_and_machine(), n), growth(base))
    report("hostile: same 403 forever (loop guard)", trace(same_challenge_forever(), n), None)
    ceiling = Policy(allowed_scopes={"read"})
    report(
        "hostile: new scope each time, allowed_scopes",
        trace(fresh_scope_per_exchange(ceiling), n),
        None,
    )
    # Each token request asks for the union of every scope seen, until Policy.max_scopes
    # (64) stops it: then every request gives up before a token request. Kept short.
    unbounded = min(n, 2000)
    report(
        "hostile: new scope each time, no ceiling",
        trace(fresh_scope_per_exchange(None), unbounded),
        None,
    )
    first, last = slowdown(fresh_scope_per_exchange(None), unbounded)
    print(
        f"{'  ... time per exchange, first vs last 10%':44} {first * 1e6:8.1f} us -> "
        f"{last * 1e6:8.1f} us = {last / first:6.1f}x"
    )
    report(
        f"asyncio Client end to end ({args.client_exchanges} x renewal)",
        client_end_to_end(args.client_exchanges),
        None,
    )


if __name__ == "__main__":
    main()
