"""Loopback keep-alive requests per second: each adapter against a named baseline.

* asyncio: ``upscope_asyncio.Client`` vs ``httpx.AsyncClient`` vs a bare h11 loop on
  asyncio streams (the floor: what HTTP/1.1 costs with no client around it);
* trio: ``upscope_trio.Client`` vs ``httpx.AsyncClient`` on trio;
* requests: a ``Session`` with ``UpscopeAuth`` vs a plain ``Session``.

The server runs in a separate process (its own interpreter, so it does not share the
client's GIL) and answers every request with a canned 200; so every client measures
its steady state: the request goes out, the machine (for ours) says ``Deliver``.
Each measurement is repeated and the best run kept; ratios compare runs made in the
same process, interleaved, so machine load affects both sides alike.

    python benchmarks/adapters.py [--requests N] [--concurrency C] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import h11
import httpx
import requests
import trio

import upscope_asyncio
import upscope_trio
from sansio_upscope import RequestToken, Token
from upscope_requests import UpscopeAuth

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"

SERVER = """
import asyncio, sys

RESPONSE = @RESPONSE@

class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        count = self.buffer.count(b"\\r\\n\\r\\n")
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\\r\\n\\r\\n") + 4:]
            self.transport.write(RESPONSE * count)

async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
""".replace("@RESPONSE@", repr(RESPONSE))


async def never_called(request: RequestToken) -> Token:  # the server never challenges
    raise AssertionError("no token should be needed")


def never_called_sync(request: RequestToken) -> Token:
    raise AssertionError("no token should be needed")


# -- asyncio -------------------------------------------------------------------------


async def asyncio_ours(url: str, n: int, concurrency: int) -> None:
    async with upscope_asyncio.Client(never_called) as client:
        await _spread(lambda: client.request("GET", url), n, concurrency, asyncio_gather)


async def asyncio_httpx(url: str, n: int, concurrency: int) -> None:
    async with httpx.AsyncClient() as client:
        await _spread(lambda: client.get(url), n, concurrency, asyncio_gather)


async def asyncio_bare_h11(url: str, n: int, concurrency: int) -> None:
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    async def worker(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(method="GET", target="/", headers=[("Host", "127.0.0.1")])
        for _ in range(count):
            writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
            await writer.drain()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.EndOfMessage):
                    break
            conn.start_next_cycle()
        writer.close()

    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))


async def asyncio_gather(calls: list[Callable[[], Awaitable[object]]]) -> None:
    await asyncio.gather(*(call() for call in calls))


# -- trio ----------------------------------------------------------------------------


async def trio_ours(url: str, n: int, concurrency: int) -> None:
    async with upscope_trio.Client(never_called) as client:
        await _spread(lambda: client.request("GET", url), n, concurrency, trio_gather)


async def trio_httpx(url: str, n: int, concurrency: int) -> None:
    async with httpx.AsyncClient() as client:
        await _spread(lambda: client.get(url), n, concurrency, trio_gather)


async def trio_gather(calls: list[Callable[[], Awaitable[object]]]) -> None:
    async with trio.open_nursery() as nursery:
        for call in calls:
            nursery.start_soon(call)


async def _spread(
    send: Callable[[], Awaitable[object]],
    n: int,
    concurrency: int,
    gather: Callable[[list[Callable[[], Awaitable[object]]]], Awaitable[None]],
) -> None:
    async def worker() -> None:
        for _ in range(n // concurrency):
            await send()

    await gather([worker] * concurrency)


# -- requests ------------------------------------------------------------------------


def requests_session(url: str, n: int, auth: UpscopeAuth | None) -> None:
    with requests.Session() as session:
        session.auth = auth
        for _ in range(n):
            session.get(url).content  # noqa: B018 - read the body, as a caller would


# -- measuring -----------------------------------------------------------------------


def rate(run: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    run()
    return n / (time.perf_counter() - start)


def report(title: str, rates: dict[str, float], baseline: str) -> None:
    print(f"\n{title}")
    for name, value in rates.items():
        print(f"  {name:<34} {value:>9,.0f} req/s   x{value / rates[baseline]:.2f} vs {baseline}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, rounds = args.requests, args.rounds
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/"
        print(f"{n} keep-alive GET requests per run, best of {rounds}, server in a subprocess")
        for concurrency in (1, args.concurrency):
            asyncio_rates: dict[str, float] = {}
            trio_rates: dict[str, float] = {}
            for _ in range(rounds):  # interleave, so load drifts hit all alike
                for name, fn in (
                    ("bare h11 on asyncio", asyncio_bare_h11),
                    ("httpx.AsyncClient (asyncio)", asyncio_httpx),
                    ("upscope_asyncio.Client", asyncio_ours),
                ):
                    got = rate(partial(asyncio.run, fn(url, n, concurrency)), n)
                    asyncio_rates[name] = max(asyncio_rates.get(name, 0.0), got)
                for name, fn in (
                    ("httpx.AsyncClient (trio)", trio_httpx),
                    ("upscope_trio.Client", trio_ours),
                ):
                    got = rate(partial(trio.run, fn, url, n, concurrency), n)
                    trio_rates[name] = max(trio_rates.get(name, 0.0), got)
            report(
                f"asyncio, {concurrency} concurrent", asyncio_rates, "httpx.AsyncClient (asyncio)"
            )
            report(f"trio, {concurrency} concurrent", trio_rates, "httpx.AsyncClient (trio)")
        requests_rates: dict[str, float] = {}
        for _ in range(rounds):
            for name, auth in (
                ("requests.Session", None),
                ("requests.Session + UpscopeAuth", UpscopeAuth(never_called_sync)),
            ):
                got = rate(partial(requests_session, url, n, auth), n)
                requests_rates[name] = max(requests_rates.get(name, 0.0), got)
        report("requests, sequential", requests_rates, "requests.Session")
        overhead = (
            1
            - requests_rates["requests.Session + UpscopeAuth"] / requests_rates["requests.Session"]
        )
        print(f"\nUpscopeAuth overhead: {overhead:.1%} (target <= 5%)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
