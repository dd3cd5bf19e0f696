"""Cost of the step-up machine per exchange, and its memory over 10^6 exchanges.

Baseline (measured in the same run): h11 parsing one small HTTP/1.1 response, the work
every adapter does per request anyway. Ratios say what the machine adds on top. The
targets (issue 15): the fast path at most 2 us (with a plain token, and with a token
that names its protected resource, as OAuth tokens do: each URL is then matched to that
resource), the 403 step-up cycle at most 1.0x the baseline. Every Upscope is brought to
its state through the public API (a first request, 401, a token, the retry), outside the
timed part.

A real client meets the machine with cold caches: between two requests the event loop,
h11 and the kernel run, and evict most of what the exchange touches. The "cold" lines
time one call at a time after ``EVICTED`` bytes were written, for the fast path and for
the baseline alike, so they show what the hot-loop figures leave out (no target).

    python benchmarks/machine.py [--exchanges N] [--rounds R] [--cold-calls N]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable

import h11

from sansio_upscope import (
    Deliver,
    RequestToken,
    ResponseReceived,
    Retry,
    Token,
    TokenIssued,
    Upscope,
    Upscopes,
)

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
READ_TOKEN = Token("t0", scopes={"read"})
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
REQUEST = h11.Request(method="GET", target="/mcp", headers=[("Host", "rs.example")])


def h11_response() -> None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(REQUEST)
    conn.send(h11.EndOfMessage())
    conn.receive_data(RESPONSE)
    while not isinstance(conn.next_event(), h11.EndOfMessage):
        pass


def with_token(token: Token) -> Upscope:
    """An Upscope that holds ``token``, got there as a driver gets there: a first request,
    401, a token request, the retry, 200."""
    upscope = Upscope(URL)
    ex = upscope.exchange("GET", URL)
    ex.start()
    assert isinstance(ex.receive(RENEW), RequestToken)
    assert isinstance(ex.receive(TokenIssued(token=token)), Retry)
    assert isinstance(ex.receive(OK), Deliver)
    return upscope


def learned_resource() -> Upscopes:
    """Upscopes whose token names its protected resource (as the OAuth sources' tokens
    do, from RFC 9728 metadata): URLs are matched to it and checked against it."""
    upscopes = Upscopes()
    ex = upscopes.exchange("GET", URL)
    ex.start()
    assert isinstance(ex.receive(RENEW), RequestToken)
    assert isinstance(ex.receive(TokenIssued(token=Token("t", resource=URL))), Retry)
    assert isinstance(ex.receive(OK), Deliver)
    return upscopes


def fast_path_under_resource(upscopes: Upscopes) -> Callable[[], None]:
    url = URL + "/tools?page=2"

    def run() -> None:
        ex = upscopes.exchange("GET", url)
        ex.start()
        ex.receive(OK)

    return run


def fast_path(upscope: Upscope) -> Callable[[], None]:
    def run() -> None:
        ex = upscope.exchange("GET", URL)
        ex.start()
        ex.receive(OK)

    return run


def step_up(upscope: Upscope) -> None:
    """One 403 cycle on an Upscope that holds a "read" token (made outside the timing)."""
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


def batch(fn: Callable[[], None], number: int) -> Callable[[], float]:
    """A timed batch of ``number`` calls of ``fn``: seconds per call."""

    def run() -> float:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number

    return run


def prepared_batch(
    fn: Callable[[Upscope], None], prepare: Callable[[], Upscope], number: int
) -> Callable[[], float]:
    """Like ``batch``, for a run that needs an Upscope of its own each time: the
    Upscopes are prepared before the clock starts."""

    def run() -> float:
        prepared = [prepare() for _ in range(number)]
        start = time.perf_counter()
        for upscope in prepared:
            fn(upscope)
        return (time.perf_counter() - start) / number

    return run


def best_of(batches: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """The best batch of each. The batches take turns, round after round, so that a
    change in the machine's load (other processes) hits the baseline and the machine
    alike, and the ratios stay meaningful on a busy machine."""
    best = dict.fromkeys(batches, float("inf"))
    for _ in range(rounds):
        for name, run in batches.items():
            best[name] = min(best[name], run())
    return best


#: Written before each cold call: more than the L2 cache of common CPUs (2 MiB a core on
#: the project's machine), and than most L3 caches.
EVICTED = 32 * 1024 * 1024
_EVICTION = bytearray(EVICTED)


def evict_caches() -> None:
    _EVICTION[::64] = bytes(EVICTED // 64)  # one byte in every 64-byte cache line


def empty_call() -> None:
    pass


def cold(calls: dict[str, Callable[[], None]], number: int) -> dict[str, float]:
    """The median seconds of one call of each, each call made right after
    ``evict_caches()``; the calls take turns, as in ``best_of``."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(number):
        for name, fn in calls.items():
            evict_caches()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(each) for name, each in times.items()}


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
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cold-calls", type=int, default=2000)
    args = parser.parse_args()
    authed = with_token(Token("t"))

    costs = best_of(
        {
            "baseline": batch(h11_response, 2000),
            "fast": batch(fast_path(authed), 20000),
            "fast-resource": batch(fast_path_under_resource(learned_resource()), 20000),
            "step-up": prepared_batch(step_up, lambda: with_token(READ_TOKEN), 2000),
            "renewal": batch(renewal(Upscope(URL)), 2000),
        },
        rounds=args.rounds,
    )
    baseline = costs["baseline"]
    print(f"baseline  h11 parse of one response      {baseline * 1e6:8.2f} us")
    for key, name, target in [
        ("fast", "200 fast path (start, 200, Deliver)", "target: at most 2 us"),
        ("fast-resource", "  the same, token naming its resource", "target: at most 2 us"),
        ("step-up", "403 step-up (403, token, retry, 200)", "target: at most 1.0x"),
        ("renewal", "401 renewal (401, token, retry, 200)", "no target"),
    ]:
        cost = costs[key]
        ratio = cost / baseline
        print(f"machine   {name:38} {cost * 1e6:8.2f} us  = {ratio:5.2f}x baseline  ({target})")

    cold_costs = cold(
        {"baseline": h11_response, "fast": fast_path(authed), "empty": empty_call},
        args.cold_calls,
    )
    cold_baseline, cold_fast = cold_costs["baseline"], cold_costs["fast"]
    hot_fast = costs["fast"]
    print(
        f"cold      h11 parse of one response      {cold_baseline * 1e6:8.2f} us"
        f"  = {cold_baseline / baseline:4.1f}x hot (caches evicted before each call)"
    )
    print(
        f"cold      200 fast path                  {cold_fast * 1e6:8.2f} us"
        f"  = {cold_fast / cold_baseline:5.2f}x cold baseline, {cold_fast / hot_fast:4.1f}x hot"
    )
    print(
        f"cold      an empty Python call           {cold_costs['empty'] * 1e6:8.2f} us"
        "  (in both above: the interpreter's own code, evicted too)"
    )

    for name, fn in [("fast path", fast_path(authed)), ("renewal", renewal(Upscope(URL)))]:
        marks = memory_after(fn, args.exchanges)
        text = ", ".join(f"{n:>8} exchanges: {b / 1024:7.1f} KiB" for n, b in marks)
        growth = marks[-1][1] - marks[0][1]
        print(f"memory    {name:10} {text}; growth {growth / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
