"""What a token store costs, and what it saves.

* Fast path: requests that already hold a valid token, on ``upscope_asyncio.Client``
  and ``upscope_requests.UpscopeAuth``, with a ``FileStore`` attached vs without. The
  store is only consulted when the machine asks for a token, so the target is no
  measurable difference (ratio 1.0 within noise). The server runs in its own process
  and answers every request with a canned 200; the client's CPU time is measured (wall
  time on a shared machine is mostly other processes); rounds interleave, best kept.
* Restart: a process that just started steps up once (a 403 for a scope no kept token
  holds): metadata requests, token requests and wall time, with no store and with a
  ``FileStore`` that an earlier process filled: the kept discovery results spare the
  RFC 9728 and RFC 8414 requests.
* Fleet storm: 6 worker processes x 20 concurrent requests that all meet one 403
  ``insufficient_scope`` (tests/store_worker.py against the demo servers): token
  requests and wall time, with no store (the baseline), a ``FileStore``, and a
  ``RedisStore`` (when ``redis-server`` is installed).

    python benchmarks/store.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fleet runs tests/store_worker.py

import upscope_asyncio  # noqa: E402
from sansio_upscope import (  # noqa: E402
    RequestToken,
    ResponseReceived,
    Token,
    TokenIssued,
    Upscope,
)
from sansio_upscope.oauth import ClientCredentials  # noqa: E402
from tests.store_support import REDIS_SERVER, Fleet, RedisServer  # noqa: E402
from upscope_cli.servers import AuthorizationServer, ResourceServer, Route  # noqa: E402
from upscope_requests import UpscopeAuth  # noqa: E402
from upscope_store import FileStore, TokenStore  # noqa: E402

SERVER = """
import asyncio
ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{}"
class Canned(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.pending = transport, b""
    def data_received(self, data):
        self.pending += data
        heads = self.pending.count(b"\\r\\n\\r\\n")
        if heads:
            self.pending = self.pending[self.pending.rfind(b"\\r\\n\\r\\n") + 4:]
            self.transport.write(ANSWER * heads)
async def main():
    server = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

HELD = Token("benchmark-token", scopes={"read"}, expires_at=time.time() + 86400)


def hold(upscope: Upscope, url: str, token: Token) -> None:
    """Make ``upscope`` hold ``token`` through the public API: a 401, then the token."""
    exchange = upscope.exchange("GET", url)
    exchange.start()
    exchange.receive(ResponseReceived(status_code=401, headers=[("WWW-Authenticate", "Bearer")]))
    exchange.receive(TokenIssued(token=token))
    exchange.abandon()


async def never_async(request: RequestToken) -> Token:
    raise AssertionError("the fast path needs no token")


def never_sync(request: RequestToken) -> Token:
    raise AssertionError("the fast path needs no token")


async def asyncio_requests(url: str, n: int, store: TokenStore | None) -> None:
    async with upscope_asyncio.Client(never_async, store=store) as client:
        hold(client.upscopes.for_url(url), url, HELD)

        async def worker(count: int) -> None:
            for _ in range(count):
                await client.request("GET", url)

        await asyncio.gather(*(worker(n // 10) for _ in range(10)))


def requests_requests(url: str, n: int, store: TokenStore | None) -> None:
    auth = UpscopeAuth(never_sync, store=store)
    hold(auth.upscopes.for_url(url), url, HELD)
    with requests.Session() as session:
        session.auth = auth
        for _ in range(n):
            session.get(url)


def fast_path(n: int, rounds: int, directory: Path) -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/api"
        store = FileStore(directory / "fast" / "tokens.json")
        print(
            f"Fast path: {n} requests holding a valid token, the client's CPU time, "
            f"best of {rounds} rounds"
        )
        cases: list[tuple[str, Callable[[TokenStore | None], None]]] = [
            ("asyncio", lambda s: asyncio.run(asyncio_requests(url, n, s))),
            ("requests", lambda s: requests_requests(url, n // 4, s)),
        ]
        for name, case in cases:
            times: dict[bool, list[float]] = {False: [], True: []}
            for round_ in range(rounds):  # interleaved, order alternating: load hits both
                for attached in (False, True) if round_ % 2 else (True, False):
                    start = time.process_time()  # this process's CPU: less noisy than
                    case(store if attached else None)  # wall time on a shared machine
                    times[attached].append(time.process_time() - start)
            without, with_store = times[False], times[True]
            count = n if name == "asyncio" else n // 4
            base, ours = min(without), min(with_store)
            print(
                f"  {name:9} no store {count / base:8.0f} req/CPU-s   FileStore "
                f"{count / ours:8.0f} req/CPU-s   ratio {base / ours:.3f} (1.0 = no cost)"
            )
    finally:
        server.kill()
        server.wait()


def storm(kind: str, target: str, directory: Path) -> tuple[int, float]:
    with (
        AuthorizationServer() as auth,
        ResourceServer(auth, {"/api": Route(scopes={"files:read"})}) as resource,
    ):
        config = {
            "store": kind,
            "target": target,
            "namespace": "bench",
            "lease_seconds": 10.0,
            "base": resource.url,
            "client_id": auth.client_id,
            "client_secret": auth.client_secret,
        }
        adapters = ["asyncio", "trio", "requests"] * 2
        with Fleet([{**config, "adapter": a} for a in adapters], directory) as fleet:
            fleet.run("GET", "/api", 1)  # each holds a files:read token
            before = auth.token_request_count
            resource.routes["/api"] = Route(scopes={"files:read", "files:write"})
            start = time.perf_counter()
            results = fleet.run("GET", "/api", 20)
            elapsed = time.perf_counter() - start
        assert all(r["statuses"] == [200] * 20 for r in results), results
        return auth.token_request_count - before, elapsed


def restart(rounds: int, directory: Path) -> None:
    """A process that just started meets a 403 for a scope no kept token holds: the
    metadata and token requests it makes, and its wall time, with no store and with a
    ``FileStore`` an earlier process filled (the kept metadata spares the discovery)."""
    print(f"Restart: a fresh process steps up once, {rounds} rounds (median wall time)")
    routes = {f"/api/s{i}": Route(scopes={f"s{i}"}) for i in range(rounds)}
    routes["/api"] = Route(scopes={"read"})
    with (
        AuthorizationServer() as auth,
        ResourceServer(auth, routes, resources=("/api",)) as resource,
    ):
        served = {"metadata": 0}
        resource_metadata, server_metadata = resource.metadata, auth.metadata

        def counted_resource(path: str = "") -> dict[str, object] | None:
            served["metadata"] += 1
            return resource_metadata(path)

        def counted_server() -> dict[str, object]:
            served["metadata"] += 1
            return server_metadata()

        resource.metadata = counted_resource  # type: ignore[method-assign]
        auth.metadata = counted_server  # type: ignore[method-assign]

        def fresh_get(store: TokenStore | None, path: str) -> None:
            source = ClientCredentials(auth.client_id, auth.client_secret)
            with requests.Session() as session:
                session.auth = UpscopeAuth(source, store=store)
                assert session.get(resource.url + path, timeout=10).status_code == 200

        store = FileStore(directory / "restart" / "tokens.json")
        for label, kept in (("no store", None), ("FileStore", store)):
            fresh_get(kept, "/api")  # an earlier process
            times, metadata, tokens = [], 0, 0
            for i in range(rounds):
                served["metadata"], before = 0, auth.token_request_count
                start = time.perf_counter()
                fresh_get(kept, f"/api/s{i}")
                times.append(time.perf_counter() - start)
                metadata += served["metadata"]
                tokens += auth.token_request_count - before
            print(
                f"  {label:10} {metadata / rounds:3.1f} metadata requests  {tokens / rounds:3.1f} "
                f"token requests  {sorted(times)[rounds // 2] * 1000:6.1f} ms"
            )


def fleet_storm(directory: Path) -> None:
    print("Fleet storm: 6 processes x 20 concurrent requests meeting one 403")
    cases = [("none", ""), ("file", str(directory / "storm" / "tokens.json"))]
    redis = None
    if REDIS_SERVER is not None:
        redis = RedisServer(REDIS_SERVER, directory)
        redis.start()
        cases.append(("redis", redis.url))
    else:
        print("  (redis-server not installed: no RedisStore run)")
    try:
        for kind, target in cases:
            token_requests, elapsed = storm(kind, target, directory)
            label = {"none": "no store", "file": "FileStore", "redis": "RedisStore"}[kind]
            print(f"  {label:10} {token_requests:2d} token requests   {elapsed * 1000:6.0f} ms")
    finally:
        if redis is not None:
            redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        fast_path(args.requests, args.rounds, Path(name))
        restart(max(args.rounds, 9), Path(name))
        fleet_storm(Path(name))


if __name__ == "__main__":
    main()
