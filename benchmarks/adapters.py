"""Loopback keep-alive requests per second: each adapter beside named baselines.

* asyncio: ``upscope_asyncio.Client`` beside aiohttp, httpx, httpx2 and a bare h11 loop
  on asyncio streams (what HTTP/1.1 costs with no client around it; it builds its request
  event once and sends it again and again), and the same loop on an asyncio protocol of
  its own, as the client now reads its sockets (the floor: asyncio's streams cost a few
  microseconds per request themselves);
* trio: ``upscope_trio.Client`` beside httpx, httpx2 (both on trio) and a bare h11 loop
  on trio streams, and the same loop on the socket stream the trio client uses (the
  socket read and written directly, trio waiting for it: the floor for that client);
* each at one connection and at 10 concurrent requests;
* defaults: 50 concurrent requests to a server that answers in 100 ms, with the client's
  default limits beside the same client with an unlimited pool (and the old default, 10
  connections per origin, for scale);
* requests: a ``Session`` with ``UpscopeAuth`` beside a plain ``Session``, both with
  ``trust_env=False`` (no ``.netrc`` or proxy lookups on either side), first in-process
  (a stub transport adapter mounted on both sessions answers at once, so the overhead is
  not hidden under socket time), then over loopback. The two sessions take turns in
  short paired batches; the overhead is the median of the pairs' ratios (see
  ``requests_overhead``).

The server runs in a separate process (its own interpreter, so it does not share the
client's GIL) and answers every request with a canned 200 (``/slow``: after 100 ms).
Every client is built, and its connections opened, outside the timed part. Each round
runs every contender once, in an order rotated from round to round, so a load drift on a
shared machine hits them alike; the best round of each is kept (requests: paired
batches, as above). Every ratio is printed,
then the targets (issue 15) and whether this run met them.

    python benchmarks/adapters.py [--requests N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path, where benchmarks/httpx.py
# would shadow the httpx library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import aiohttp  # noqa: E402
import h11  # noqa: E402
import httpx  # noqa: E402
import httpx2  # noqa: E402
import requests  # noqa: E402
import requests.adapters  # noqa: E402
import trio  # noqa: E402

import upscope_asyncio  # noqa: E402
import upscope_trio  # noqa: E402
from sansio_upscope import RequestToken, Token  # noqa: E402
from upscope_requests import UpscopeAuth  # noqa: E402
from upscope_trio._client import open_socket_stream  # noqa: E402

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"

SERVER = """
import asyncio

RESPONSE = @RESPONSE@

class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\\r\\n\\r\\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\\r\\n\\r\\n", 1)
            if head.startswith(b"GET /slow "):
                asyncio.get_running_loop().call_later(0.1, self.answer)
            else:
                self.answer()
    def answer(self):
        if not self.transport.is_closing():
            self.transport.write(RESPONSE)

async def main():
    server = await asyncio.get_running_loop().create_server(
        Answer, "127.0.0.1", 0, backlog=1024
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
""".replace("@RESPONSE@", repr(RESPONSE))

#: ``send()``: one request, body read.
Send = Callable[[], Awaitable[object]]
#: Gives each worker its ``send`` (bare h11: each its own connection).
Contender = Callable[[str, int], contextlib.AbstractAsyncContextManager[Callable[[], Send]]]


async def never_called(request: RequestToken) -> Token:  # the server never challenges
    raise AssertionError("no token should be needed")


def never_called_sync(request: RequestToken) -> Token:
    raise AssertionError("no token should be needed")


# -- contenders: each builds its client, then hands out send() ------------------------


@contextlib.asynccontextmanager
async def ours_asyncio(
    url: str, concurrency: int, **limits: Any
) -> AsyncIterator[Callable[[], Send]]:
    async with upscope_asyncio.Client(never_called, **limits) as client:

        async def send() -> object:
            return (await client.request("GET", url)).content

        yield lambda: send


@contextlib.asynccontextmanager
async def ours_trio(url: str, concurrency: int, **limits: Any) -> AsyncIterator[Callable[[], Send]]:
    async with upscope_trio.Client(never_called, **limits) as client:

        async def send() -> object:
            return (await client.request("GET", url)).content

        yield lambda: send


@contextlib.asynccontextmanager
async def with_aiohttp(url: str, concurrency: int) -> AsyncIterator[Callable[[], Send]]:
    async with aiohttp.ClientSession() as session:

        async def send() -> object:
            async with session.get(url) as response:
                return await response.read()

        yield lambda: send


@contextlib.asynccontextmanager
async def with_httpx(url: str, concurrency: int) -> AsyncIterator[Callable[[], Send]]:
    async with httpx.AsyncClient() as client:

        async def send() -> object:
            return (await client.get(url)).content

        yield lambda: send


@contextlib.asynccontextmanager
async def with_httpx2(url: str, concurrency: int) -> AsyncIterator[Callable[[], Send]]:
    async with httpx2.AsyncClient() as client:

        async def send() -> object:
            return (await client.get(url)).content

        yield lambda: send


class _BareH11:
    """One keep-alive connection driven by h11 alone: the floor."""

    def __init__(self, url: str) -> None:
        self.port = int(url.rsplit(":", 1)[1].split("/")[0])
        self.h11 = h11.Connection(h11.CLIENT)
        self.request = h11.Request(method="GET", target="/", headers=[("Host", "127.0.0.1")])
        self.end = h11.EndOfMessage()

    def head(self) -> bytes:
        return self.h11.send(self.request) + self.h11.send(self.end)

    def body_done(self, receive: bytes | None) -> bool:
        """Feed what arrived; True once the response has ended (ready for the next)."""
        if receive is not None:
            self.h11.receive_data(receive)
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                return False
            if type(event) is h11.EndOfMessage:
                self.h11.start_next_cycle()
                return True


@contextlib.asynccontextmanager
async def _handed_out(
    sends: list[Send], connections: list[asyncio.StreamWriter] | list[asyncio.Transport]
) -> AsyncIterator[Callable[[], Send]]:
    """Give each worker its own ``send``; close the asyncio connections afterwards."""
    try:
        yield iter(sends).__next__
    finally:
        for connection in connections:
            connection.close()


@contextlib.asynccontextmanager
async def bare_h11_asyncio(url: str, concurrency: int) -> AsyncIterator[Callable[[], Send]]:
    sends: list[Send] = []
    writers: list[asyncio.StreamWriter] = []
    for _ in range(concurrency):
        bare = _BareH11(url)
        reader, writer = await asyncio.open_connection("127.0.0.1", bare.port)
        writers.append(writer)

        async def send(bare: _BareH11 = bare, reader: Any = reader, writer: Any = writer) -> None:
            writer.write(bare.head())
            await writer.drain()
            done = bare.body_done(None)
            while not done:
                done = bare.body_done(await reader.read(65536))

        sends.append(send)
    async with _handed_out(sends, writers) as make_send:
        yield make_send


class _BareProtocol(asyncio.Protocol):
    """The bare loop's connection as an asyncio protocol: h11 fed from the transport."""

    def __init__(self, bare: _BareH11) -> None:
        self.bare = bare
        self.ended: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        if self.bare.body_done(data) and self.ended is not None:
            self.ended.set_result(None)


@contextlib.asynccontextmanager
async def bare_h11_asyncio_protocol(
    url: str, concurrency: int
) -> AsyncIterator[Callable[[], Send]]:
    loop = asyncio.get_running_loop()
    sends: list[Send] = []
    transports: list[asyncio.Transport] = []
    for _ in range(concurrency):
        bare = _BareH11(url)
        transport, protocol = await loop.create_connection(
            partial(_BareProtocol, bare), "127.0.0.1", bare.port
        )
        transports.append(transport)

        async def send(protocol: _BareProtocol = protocol) -> None:
            protocol.ended = loop.create_future()
            protocol.transport.write(protocol.bare.head())
            await protocol.ended

        sends.append(send)
    async with _handed_out(sends, transports) as make_send:
        yield make_send


@contextlib.asynccontextmanager
async def bare_h11_trio(
    url: str, concurrency: int, *, on_socket: bool = False
) -> AsyncIterator[Callable[[], Send]]:
    """The bare loop on trio streams; ``on_socket``: on the socket stream the trio client
    reads and writes (the socket used directly, trio waiting for it)."""
    sends: list[Send] = []
    streams: list[Any] = []
    for _ in range(concurrency):
        bare = _BareH11(url)
        stream: Any
        if on_socket:
            stream = await open_socket_stream("127.0.0.1", bare.port)
        else:
            stream = await trio.open_tcp_stream("127.0.0.1", bare.port)
        streams.append(stream)

        async def send(bare: _BareH11 = bare, stream: Any = stream) -> None:
            await stream.send_all(bare.head())
            done = bare.body_done(None)
            while not done:
                done = bare.body_done(await stream.receive_some())

        sends.append(send)
    try:
        yield iter(sends).__next__
    finally:
        for stream in streams:
            await stream.aclose()


# -- running -----------------------------------------------------------------------


async def _asyncio_gather(calls: list[Callable[[], Awaitable[object]]]) -> None:
    await asyncio.gather(*(call() for call in calls))


async def _trio_gather(calls: list[Callable[[], Awaitable[object]]]) -> None:
    async with trio.open_nursery() as nursery:
        for call in calls:
            nursery.start_soon(call)


#: A timed run's requests per second and the client's CPU seconds per request.
Run = tuple[float, float]


async def _timed(
    contender: Contender,
    url: str,
    n: int,
    concurrency: int,
    gather: Callable[[list[Callable[[], Awaitable[object]]]], Awaitable[None]],
) -> Run:
    """Requests per second of ``concurrency`` workers sending ``n`` requests in all, and
    the client process's CPU time per request (the server runs in its own process)."""
    async with contender(url, concurrency) as make_send:
        sends = [make_send() for _ in range(concurrency)]
        await gather(list(sends))  # connections opened outside the timed part

        def worker(send: Send) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for _ in range(n // concurrency):
                    await send()

            return run

        sent = n // concurrency * concurrency
        start, cpu = time.perf_counter(), time.process_time()
        await gather([worker(send) for send in sends])
        return sent / (time.perf_counter() - start), (time.process_time() - cpu) / sent


def run_async(framework: str, contender: Contender, url: str, n: int, concurrency: int) -> Run:
    if framework == "asyncio":
        return asyncio.run(_timed(contender, url, n, concurrency, _asyncio_gather))
    return trio.run(_timed, contender, url, n, concurrency, _trio_gather)


def best_of(rounds: int, contenders: dict[str, Callable[[], Run]]) -> dict[str, Run]:
    """Best rate and least CPU per request (each on its own) of each contender over
    ``rounds`` rounds, the order rotated each round."""
    names = list(contenders)
    best = dict.fromkeys(names, (0.0, float("inf")))
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            rate, cpu = contenders[name]()
            best[name] = max(best[name][0], rate), min(best[name][1], cpu)
    return best


def report(title: str, runs: dict[str, Run], ours: str) -> None:
    """Rates and client CPU per request, then ours against each: the rate ratio, and the
    CPU ratio as a rate would be (theirs / ours: above 1, ours spends less)."""
    print(f"\n{title}")
    for name, (rate, cpu) in runs.items():
        print(f"  {name:<34} {rate:>9,.0f} req/s  {cpu * 1e6:7.1f} µs CPU per request")
    our_rate, our_cpu = runs[ours]
    for name, (rate, cpu) in runs.items():
        if name != ours:
            print(f"  {ours} / {name:<30} x{our_rate / rate:.2f}  (CPU x{cpu / our_cpu:.2f})")


# -- requests --------------------------------------------------------------------------


class StubTransport(requests.adapters.HTTPAdapter):
    """Answers every request at once with the canned 200, without a socket."""

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response.headers = requests.structures.CaseInsensitiveDict(
            {"Content-Length": "2", "Content-Type": "application/json"}
        )
        response.raw = io.BytesIO(b"{}")
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response


def _session(auth: UpscopeAuth | None, *, stub: bool) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.auth = auth
    if stub:
        session.mount("http://", StubTransport())
    return session


def requests_batch(session: requests.Session, url: str, n: int) -> float:
    """Seconds for ``n`` sequential GETs on ``session``, each body read as a caller would."""
    start = time.perf_counter()
    for _ in range(n):
        session.get(url).content  # noqa: B018
    return time.perf_counter() - start


def requests_paired(url: str, total: int, batch: int, *, stub: bool) -> dict[str, list[float]]:
    """Seconds per request of a plain ``Session`` and of one with ``UpscopeAuth``, in
    paired batches: the two sessions (each with its connection open, outside the timed
    part) take turns, ``batch`` requests at a time, the first of each pair alternating,
    so that a load change on a shared machine hits both sides of a pair alike."""
    sessions = {
        "requests.Session": _session(None, stub=stub),
        "requests.Session + UpscopeAuth": _session(UpscopeAuth(never_called_sync), stub=stub),
    }
    times: dict[str, list[float]] = {name: [] for name in sessions}
    with contextlib.ExitStack() as stack:
        for session in sessions.values():
            stack.enter_context(session)
            requests_batch(session, url, 10)  # connection open, code paths warm
        for index in range(max(1, total // batch)):
            order = list(sessions) if index % 2 == 0 else list(reversed(sessions))
            for name in order:
                times[name].append(requests_batch(sessions[name], url, batch) / batch)
    return times


# -- main --------------------------------------------------------------------------------


@contextlib.contextmanager
def server() -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}/"
    finally:
        process.terminate()
        process.wait()


def _on(
    framework: str, contender: Contender, *, url: str, n: int, concurrency: int
) -> Callable[[], Run]:
    return partial(run_async, framework, contender, url, n, concurrency)


def throughput(url: str, n: int, rounds: int) -> dict[str, tuple[float, float]]:
    """asyncio and trio at 1 and 10 concurrent; returns the ratios the targets name (of
    the rates, and of the CPU per request as a rate would be)."""
    found: dict[str, tuple[float, float]] = {}
    for concurrency in (1, 10):
        on = partial(_on, url=url, n=n, concurrency=concurrency)

        rates = best_of(
            rounds,
            {
                "upscope_asyncio.Client": on("asyncio", ours_asyncio),
                "bare h11 on asyncio": on("asyncio", bare_h11_asyncio),
                "bare h11, asyncio protocol": on("asyncio", bare_h11_asyncio_protocol),
                "aiohttp.ClientSession": on("asyncio", with_aiohttp),
                "httpx.AsyncClient": on("asyncio", with_httpx),
                "httpx2.AsyncClient": on("asyncio", with_httpx2),
            },
        )
        report(f"asyncio, {concurrency} concurrent", rates, "upscope_asyncio.Client")
        found[f"asyncio/bare {concurrency}"] = _ratios(
            rates["upscope_asyncio.Client"], rates["bare h11 on asyncio"]
        )
        found[f"asyncio/bare protocol {concurrency}"] = _ratios(
            rates["upscope_asyncio.Client"], rates["bare h11, asyncio protocol"]
        )
        found[f"asyncio/aiohttp {concurrency}"] = _ratios(
            rates["upscope_asyncio.Client"], rates["aiohttp.ClientSession"]
        )
        rates = best_of(
            rounds,
            {
                "upscope_trio.Client": on("trio", ours_trio),
                "bare h11 on trio": on("trio", bare_h11_trio),
                "bare h11, trio socket": on("trio", partial(bare_h11_trio, on_socket=True)),
                "httpx.AsyncClient (trio)": on("trio", with_httpx),
                "httpx2.AsyncClient (trio)": on("trio", with_httpx2),
            },
        )
        report(f"trio, {concurrency} concurrent", rates, "upscope_trio.Client")
        found[f"trio/bare {concurrency}"] = _ratios(
            rates["upscope_trio.Client"], rates["bare h11 on trio"]
        )
        found[f"trio/bare socket {concurrency}"] = _ratios(
            rates["upscope_trio.Client"], rates["bare h11, trio socket"]
        )
    return found


def _ratios(ours: Run, theirs: Run) -> tuple[float, float]:
    return ours[0] / theirs[0], theirs[1] / ours[1]


def defaults(url: str, rounds: int) -> float:
    """50 concurrent requests, 3 waves' worth, to a server that answers in 100 ms."""
    slow, n, concurrency = url + "slow", 150, 50

    def ours(framework: str, **limits: Any) -> Callable[[], Run]:
        client = ours_asyncio if framework == "asyncio" else ours_trio

        def contender(url: str, concurrency: int) -> Any:
            return client(url, concurrency, **limits)

        return lambda: run_async(framework, contender, slow, n, concurrency)

    unlimited = {"max_connections": 1_000_000}
    old = {"max_connections_per_origin": 10}
    runs = best_of(
        rounds,
        {
            "asyncio, defaults": ours("asyncio"),
            "asyncio, unlimited pool": ours("asyncio", **unlimited),
            "asyncio, 10 per origin (old default)": ours("asyncio", **old),
            "trio, defaults": ours("trio"),
            "trio, unlimited pool": ours("trio", **unlimited),
        },
    )
    rates = {name: rate for name, (rate, _cpu) in runs.items()}
    print("\n50 concurrent requests to a server that answers in 100 ms")
    for name, value in rates.items():
        print(f"  {name:<38} {value:>7,.0f} req/s")
    ratios = [
        rates[f"{fw}, defaults"] / rates[f"{fw}, unlimited pool"] for fw in ("asyncio", "trio")
    ]
    print(f"  defaults / unlimited pool: asyncio x{ratios[0]:.2f}, trio x{ratios[1]:.2f}")
    return min(ratios)


def requests_overhead(url: str, n: int, rounds: int) -> dict[str, float]:
    """UpscopeAuth's cost over a plain Session, in-process and over loopback, from many
    short paired batches (``requests_paired``): the median of the pairs' own ratios (the
    two batches of a pair run back to back, so a load change elsewhere moves both; the
    median drops the pairs a burst hit). The rates shown are each side's best batch, and
    the ratio of the two best batches is printed beside the median, as a check."""
    overheads = {}
    for where, stub, total, batch in (
        ("in-process", True, n * 3 * rounds, 50),
        ("loopback", False, n * rounds, 10),
    ):
        times = requests_paired(url, total, batch, stub=stub)
        runs = {name: (1 / min(seconds), min(seconds)) for name, seconds in times.items()}
        title = f"requests, {where}, sequential, {total // batch} paired batches (best batch)"
        print(f"\n{title}")
        for name, (rate, _seconds) in runs.items():
            print(f"  {name:<34} {rate:>9,.0f} req/s")
        plain, ours = times["requests.Session"], times["requests.Session + UpscopeAuth"]
        pairs = list(zip(ours, plain, strict=True))
        overheads[where] = statistics.median(o / p for o, p in pairs) - 1
        extra_us = statistics.median(o - p for o, p in pairs) * 1e6
        best = min(ours) / min(plain) - 1
        print(
            f"  UpscopeAuth overhead, median of the pairs: {overheads[where]:+.1%}"
            f" ({extra_us:+.1f} µs per request); best batches: {best:+.1%}"
        )
    return overheads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per timed run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="500 requests, 2 rounds")
    args = parser.parse_args()
    n, rounds = (500, 2) if args.quick else (args.requests, args.rounds)
    print(f"{n} keep-alive GET requests per timed run, best of {rounds} rotated rounds")
    with server() as url:
        found = throughput(url, n, rounds)
        defaults_ratio = defaults(url, rounds)
        overheads = requests_overhead(url, n, rounds)
    print("\nTargets (issue 15)")
    for label, (value, by_cpu), target in (
        ("asyncio, 1 connection, vs bare h11", found["asyncio/bare 1"], 0.9),
        ("asyncio, 10 concurrent, vs aiohttp", found["asyncio/aiohttp 10"], 1.0),
        ("trio, 1 connection, vs bare h11 on trio", found["trio/bare 1"], 0.9),
        ("trio, 10 concurrent, vs bare h11 on trio", found["trio/bare 10"], 0.9),
    ):
        print(
            f"  {label:<48} x{value:.3f} (target >= {target})  {_met(value >= target)}"
            f"  (CPU x{by_cpu:.3f})"
        )
    for key, label in (
        ("asyncio/bare protocol 1", "(asyncio, 1 connection, vs bare h11 on a protocol"),
        ("trio/bare socket 1", "(trio, 1 connection, vs bare h11 on trio's socket"),
    ):
        value, by_cpu = found[key]
        print(f"  {label:<48} x{value:.3f}, no target: the floor)  (CPU x{by_cpu:.3f})")
    value = defaults_ratio
    label = "50 concurrent to 100 ms, defaults vs unlimited"
    print(f"  {label:<48} x{value:.2f} (target >= 0.95)  {_met(value >= 0.95)}")
    for where, overhead in overheads.items():
        label = f"requests adapter overhead, {where}"
        print(f"  {label:<48} {overhead:+.1%} (target <= 5%)  {_met(overhead <= 0.05)}")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
