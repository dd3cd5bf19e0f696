"""Cost of the step-up machine per exchange, and its memory over 10^6 exchanges.

Baseline (measured in the same run): h11 parsing one small HTTP/1.1 response, the work
every adapter does per request anyway. Ratios say what the machine adds on top.

    python benchmarks/machine.py [--exchanges N]
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable

import h11

from sansio_upscope import ResponseReceived, Token, TokenIssued, Upscope

URL = "https://rs.example/mcp"
OK = ResponseReceived(status_code=200, headers=[(b"content-length", b"2")])
STEP_UP = ResponseReceived(
    status_code=403,
    headers=[
        (
            b"www-authenticate",
            b'Bearer error="insufficient_scope", error_description="Insufficient scope", '
            b'scope="read write", resource_metadata="https://rs.example/.well-known/'
            b'oauth-protected-resource/mcp"',
        )
    ],
)
RENEW = ResponseReceived(status_code=401, headers=[(b"www-authenticate", b"Bearer")])
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
REQUEST = h11.Request(method="GET", target="/mcp", headers=[("Host", "rs.example")])


def h11_response() -> None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(REQUEST)
    conn.send(h11.EndOfMessage())
    conn.receive_data(RESPONSE)
    while not isinstance(conn.next_event(), h11.EndOfMessage):
        pass


def fast_path(upscope: Upscope) -> Callable[[], None]:
    def run() -> None:
        ex = upscope.exchange("GET", URL)
        ex.start()
        ex.receive(OK)

    return run


def step_up() -> None:
    upscope = Upscope(URL)
    upscope.token = Token("t0", scopes={"read"})
    upscope.generation = 1
    upscope.granted_scopes = frozenset({"read"})
    ex = upscope.exchange("GET", URL)
    ex.start()
    ex.receive(STEP_UP)
    ex.receive(TokenIssued(token=Token("t1", scopes={"read", "write"})))
    ex.receive(OK)


def renewal(upscope: Upscope) -> Callable[[], None]:
    token = Token("t", scopes={"read"})

    def run() -> None:
        ex = upscope.exchange("GET", URL)
        ex.start()
        ex.receive(RENEW)
        ex.receive(TokenIssued(token=token))
        ex.receive(OK)

    return run


def per_call(fn: Callable[[], None], number: int = 20000, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def memory_after(fn: Callable[[], None], total: int) -> list[tuple[int, int]]:
    gc.collect()
    tracemalloc.start()
    marks = []
    checkpoints = {total // 100, total // 10, total}
    for i in range(1, total + 1):
        fn()
        if i in checkpoints:
            gc.collect()
            marks.append((i, tracemalloc.get_traced_memory()[0]))
    tracemalloc.stop()
    return marks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exchanges", type=int, default=10**6)
    args = parser.parse_args()
    authed = Upscope(URL)
    authed.token, authed.generation = Token("t"), 1

    baseline = per_call(h11_response)
    print(f"baseline  h11 parse of one response      {baseline * 1e6:8.2f} us")
    for name, fn in [
        ("200 fast path (start, 200, Deliver)", fast_path(authed)),
        ("403 step-up (403, token, retry, 200)", step_up),
        ("401 renewal (401, token, retry, 200)", renewal(Upscope(URL))),
    ]:
        cost = per_call(fn)
        print(f"machine   {name:38} {cost * 1e6:8.2f} us  = {cost / baseline:5.2f}x baseline")

    for name, fn in [("fast path", fast_path(authed)), ("renewal", renewal(Upscope(URL)))]:
        marks = memory_after(fn, args.exchanges)
        text = ", ".join(f"{n:>8} exchanges: {b / 1024:7.1f} KiB" for n, b in marks)
        growth = marks[-1][1] - marks[0][1]
        print(f"memory    {name:10} {text}; growth {growth / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
