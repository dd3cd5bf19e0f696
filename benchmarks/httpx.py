"""``upscope_httpx`` / ``upscope_httpx2``: what the auth costs, and what it saves.

1. **Fast path** (a valid token held): ``UpscopeAuth`` against a static ``Authorization``
   header on the same kind of client, sync ``Client`` and ``AsyncClient`` (asyncio), httpx
   and httpx2, against a loopback server in its own process that answers at once. The two
   clients run in pairs of short batches, back to back, first one then the other; the
   ratio is the median of the pairs' own ratios, as for the requests adapter in
   ``benchmarks/adapters.py`` (the ratio of the two best batches is printed beside it).
   Target: at most 5% slower (median ratio >= 0.95).
2. **50 concurrent requests** through one ``httpx2.AsyncClient`` to a server that answers
   in 100 ms: ``UpscopeAuth`` vs the MCP Python SDK's own client-credentials provider
   (``mcp.client.auth.extensions.client_credentials.ClientCredentialsOAuthProvider``) vs a
   static header. Targets: >= 30x the provider's throughput, >= 0.95x the static header's.
3. **A storm**: 200 concurrent requests meeting one ``403 insufficient_scope``: the token
   requests the server saw (exactly one wanted) and the wall time, ``UpscopeAuth`` vs the
   provider.

Parts 2 and 3 need the ``mcp`` package, which pins its own dependencies: they run in
``tests/interop/.venv-mcp-client`` (made by ``tests/interop/interop_peers.py install``),
where this script re-runs itself with ``--mcp-part``; every contender of a part runs in
the same process, interleaved, best of its rounds. Numbers vary with the machine's load;
the ratios are the result.

    python benchmarks/httpx.py [--rounds R] [--requests N]

(part 1: R pairs of batches of N requests; parts 2 and 3: min(R, 5) rounds.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sansio_upscope import Policy, RequestToken, Token

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory comes first on sys.path, and this file is
# named httpx: take the directory out so `import httpx` finds the library.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "benchmarks"]
MCP_PYTHON = ROOT / "tests" / "interop" / ".venv-mcp-client" / "bin" / "python"

#: Part 1's server: 401 to a request without a token, else 200; pipelined heads answered
#: in one write. Run with ``python -c`` so it has an interpreter (and a GIL) of its own.
FAST_SERVER = r"""
import asyncio

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
CHALLENGE = (b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer scope=\"read\"\r\n"
             b"Content-Length: 0\r\n\r\n")

class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        out = []
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            out.append(OK if b"\nauthorization:" in head.lower() else CHALLENGE)
        self.transport.write(b"".join(out))

async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""

#: Parts 2 and 3: a protected resource under /api (100 ms per answer) that is its own
#: OAuth authorization server (RFC 9728 and RFC 8414 metadata, a client_credentials
#: token endpoint). /api/storm needs "read write"; everything else "read". GET /count
#: gives the token requests so far. The static token "static" holds every scope.
OAUTH_SERVER = r"""
import asyncio, json, sys
from urllib.parse import parse_qs

DELAY = 0.1
tokens = {"static": {"read", "write"}}
state = {"count": 0, "base": ""}

def reply(status, body=b"", extra=()):
    lines = [b"HTTP/1.1 %d X" % status, b"Content-Length: %d" % len(body)]
    lines += [name + b": " + value for name, value in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body

def document(value):
    return reply(200, json.dumps(value).encode(), [(b"Content-Type", b"application/json")])

async def answer(method, path, headers, body):
    base = state["base"]
    prm = base + "/.well-known/oauth-protected-resource/api"
    if path.startswith("/.well-known/oauth-protected-resource"):
        return document({"resource": base + "/api", "authorization_servers": [base],
                         "scopes_supported": ["read", "write"]})
    if path.startswith("/.well-known/"):
        return document({"issuer": base, "token_endpoint": base + "/token",
                         "authorization_endpoint": base + "/authorize",
                         "response_types_supported": ["code"],
                         "grant_types_supported": ["client_credentials"],
                         "code_challenge_methods_supported": ["S256"],
                         "token_endpoint_auth_methods_supported":
                             ["client_secret_basic", "client_secret_post"]})
    if path == "/token":
        state["count"] += 1
        scope = parse_qs(body.decode()).get("scope", [""])[0]
        token = "t%d" % state["count"]
        tokens[token] = set(scope.split())
        return document({"access_token": token, "token_type": "Bearer",
                         "expires_in": 3600, "scope": scope})
    if path == "/count":
        return document({"token_requests": state["count"]})
    await asyncio.sleep(DELAY)
    authorization = headers.get("authorization", "")
    scopes = tokens.get(authorization[7:]) if authorization.startswith("Bearer ") else None
    if scopes is None:
        value = 'Bearer scope="read", resource_metadata="%s"' % prm
        return reply(401, b"", [(b"WWW-Authenticate", value.encode())])
    needed = {"read", "write"} if path.startswith("/api/storm") else {"read"}
    if not needed <= scopes:
        value = ('Bearer error="insufficient_scope", scope="read write", '
                 'resource_metadata="%s"' % prm)
        return reply(403, b"", [(b"WWW-Authenticate", value.encode())])
    return document({})

async def serve(reader, writer):
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target = head[0].split(" ")[:2]
            headers = {}
            for line in head[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(await answer(method, target.split("?")[0], headers, body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    state["base"] = "http://127.0.0.1:%d" % port
    print(port, flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


class Server:
    """A server script in a subprocess of this interpreter; ``url`` once it listens."""

    def __init__(self, script: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(5)


# -- part 1: the fast path ---------------------------------------------------------------


#: One batch: (requests per second of wall time, seconds of this process's CPU per request).
Batch = tuple[float, float]
#: A fast-path row: (client, UpscopeAuth's batches, the static header's batches), the
#: two lists paired: batch i of each ran back to back.
FastRow = tuple[str, list[Batch], list[Batch]]


def _rates(requests: int, started: float, cpu: float) -> Batch:
    return requests / (time.perf_counter() - started), (time.process_time() - cpu) / requests


def fast_path(rounds: int, requests: int) -> list[FastRow]:
    """A row per client kind: each contender's batches, paired."""
    import httpx
    import httpx2

    import upscope_httpx
    import upscope_httpx2

    with Server(FAST_SERVER) as server:
        return [
            *_fast_rows(httpx, upscope_httpx, server.url + "/resource", rounds, requests),
            *_fast_rows(httpx2, upscope_httpx2, server.url + "/resource", rounds, requests),
        ]


def _fast_rows(library: Any, adapter: Any, url: str, rounds: int, requests: int) -> list[FastRow]:
    """Both clients stay open (warm); ``rounds`` pairs of batches of ``requests``, the
    two clients back to back in each pair, which of them goes first alternating."""

    def token(request: RequestToken) -> Token:
        return Token("fast-path-token", scopes=request.scopes)

    async def async_token(request: RequestToken) -> Token:
        return token(request)

    static = {"Authorization": "Bearer fast-path-token"}

    def sync_batch(client: Any) -> Batch:
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            client.get(url)
        return _rates(requests, started, cpu)

    async def async_batch(client: Any, tasks: int = 10) -> Batch:
        async def worker() -> None:
            for _ in range(requests // tasks):
                await client.get(url)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return _rates(requests // tasks * tasks, started, cpu)

    with (
        library.Client(auth=adapter.UpscopeAuth(token)) as ours,
        library.Client(headers=static) as theirs,
    ):
        ours.get(url), theirs.get(url)  # the connections, and the token for UpscopeAuth
        sync_batches: tuple[list[Batch], list[Batch]] = ([], [])
        for round_ in range(rounds):
            for index in (0, 1) if round_ % 2 else (1, 0):
                sync_batches[index].append(sync_batch((ours, theirs)[index]))

    async def both() -> tuple[list[Batch], list[Batch]]:
        async with (
            library.AsyncClient(auth=adapter.UpscopeAuth(async_token)) as ours,
            library.AsyncClient(headers=static) as theirs,
        ):
            await asyncio.gather(*(c.get(url) for c in (ours, theirs) for _ in range(10)))
            batches: tuple[list[Batch], list[Batch]] = ([], [])
            for round_ in range(rounds):
                for index in (0, 1) if round_ % 2 else (1, 0):
                    batches[index].append(await async_batch((ours, theirs)[index]))
            return batches

    async_batches = asyncio.run(both())
    name = library.__name__
    return [
        (f"{name} Client (sync)", *sync_batches),
        (f"{name} AsyncClient (asyncio, 10 tasks)", *async_batches),
    ]


# -- parts 2 and 3: in the mcp venv -------------------------------------------------------


class _MemoryStorage:
    """The MCP SDK's ``TokenStorage``, in memory."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


def mcp_part(rounds: int) -> dict[str, Any]:
    """Parts 2 and 3 (needs ``mcp``): requests/s of 50 concurrent requests for each
    contender, then the storm's wall time and token requests for ours and the SDK's."""
    import httpx2
    from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider

    import upscope_httpx2
    from sansio_upscope.oauth import ClientCredentials
    from upscope_httpx2 import UpscopeAuth

    measured = Path(upscope_httpx2.__file__).resolve()
    if not measured.is_relative_to(ROOT):
        raise SystemExit(f"parts 2-3 would measure {measured}, not this checkout's code")

    with Server(OAUTH_SERVER) as server:
        base = server.url

        def ours() -> Any:
            tokens = ClientCredentials("bench-client", "bench-secret")
            policy = Policy(initial_scopes=frozenset({"read"}))
            # Every URL under /api is one protected resource (its metadata says so).
            return UpscopeAuth(tokens, policy, resource_for=lambda url: base + "/api")

        def theirs() -> Any:
            return ClientCredentialsOAuthProvider(
                server_url=base + "/api",
                storage=_MemoryStorage(),
                client_id="bench-client",
                client_secret="bench-secret",
                scope="read",
                issuer=base,
            )

        async def token_requests(client: Any) -> int:
            return int((await client.get(base + "/count")).json()["token_requests"])

        async def burst(client: Any, path: str, n: int) -> tuple[float, list[int]]:
            started = time.perf_counter()
            responses = await asyncio.gather(*(client.get(f"{base}{path}/{i}") for i in range(n)))
            return time.perf_counter() - started, [r.status_code for r in responses]

        async def client(make: Callable[[], Any] | None) -> Any:
            """A warm client: its connections open, its token held."""
            limits = httpx2.Limits(max_connections=250, max_keepalive_connections=250)
            headers = {"Authorization": "Bearer static"} if make is None else {}
            auth = None if make is None else make()
            opened = httpx2.AsyncClient(auth=auth, headers=headers, limits=limits, timeout=600)
            await opened.get(base + "/api/warm")
            await burst(opened, "/api/warm", 50)
            return opened

        async def rate(opened: Any) -> float:
            elapsed, statuses = await burst(opened, "/api/r", 50)
            assert statuses == [200] * 50, statuses
            return 50 / elapsed

        async def storm(make: Callable[[], Any]) -> tuple[float, int]:
            opened = await client(make)  # a token with "read" only
            try:
                before = await token_requests(opened)
                elapsed, statuses = await burst(opened, "/api/storm", 200)
                assert statuses == [200] * 200, statuses
                return elapsed, await token_requests(opened) - before
            finally:
                await opened.aclose()

        async def run() -> dict[str, Any]:
            # Bursts alternate between the static header and UpscopeAuth; each keeps its
            # best. The provider queues a burst on its lock (~5 s): two bursts.
            best = [0.0, 0.0]
            static, upscope, provider = await client(None), await client(ours), None
            try:
                for round_ in range(rounds * 4):
                    for index in (0, 1) if round_ % 2 else (1, 0):
                        best[index] = max(best[index], await rate((static, upscope)[index]))
                provider = await client(theirs)
                mcp = max([await rate(provider) for _ in range(2)])
            finally:
                for opened in (static, upscope, provider):
                    if opened is not None:
                        await opened.aclose()
            storm_ours = min([await storm(ours) for _ in range(rounds)])
            storm_theirs = await storm(theirs)  # ~20 s: once
            return {
                "static": best[0],
                "upscope": best[1],
                "mcp": mcp,
                "storm_upscope": storm_ours,
                "storm_mcp": storm_theirs,
            }

        return asyncio.run(run())


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    """The lower quartile, the median and the upper quartile of ``values``."""
    ranked = sorted(values)
    last = len(ranked) - 1
    return ranked[last // 4], statistics.median(ranked), ranked[-1 - last // 4]


def report_fast_path(rows: list[FastRow]) -> None:
    """Per client kind: the median of the pairs' rate ratios (the two batches of a pair
    ran back to back, so a change of load elsewhere moves both; the median drops the
    pairs a burst hit) with its quartiles, the CPU ratio likewise, and the ratio of the
    two best batches as a check. The target is judged on the median of the pairs."""
    count = len(rows[0][1]) if rows else 0
    print(f"1. Fast path, a valid token held: {count} pairs of batches, UpscopeAuth / static")
    print(
        f"   {'client':38} {'rate: median of pairs (quartiles)':>34} {'best':>6}"
        f"   {'CPU':>5}   {'extra µs':>10}"
    )
    for row, ours, static in rows:
        pairs = list(zip(ours, static, strict=True))
        low, rate, high = _quartiles([o[0] / s[0] for o, s in pairs])
        cpu = statistics.median(s[1] / o[1] for o, s in pairs)
        best = max(o[0] for o in ours) / max(s[0] for s in static)
        extra_us = statistics.median(o[1] - s[1] for o, s in pairs)
        mark = "ok" if rate >= 0.95 else "below 0.95"
        print(
            f"   {row:38} {rate:19.3f} ({low:.3f}-{high:.3f}) {best:6.3f}"
            f"   {cpu:5.3f}   {extra_us * 1e6:+10.1f}  {mark}"
        )


def report_mcp(result: dict[str, Any]) -> None:
    static, upscope, mcp = result["static"], result["upscope"], result["mcp"]
    print("2. 50 concurrent requests, one httpx2.AsyncClient, server answers in 100 ms")
    print(f"   static header                         {static:8.1f} requests/s")
    print(f"   upscope_httpx2.UpscopeAuth            {upscope:8.1f} requests/s")
    print(f"   mcp ClientCredentialsOAuthProvider    {mcp:8.1f} requests/s")
    print(f"   UpscopeAuth / mcp provider: {upscope / mcp:6.1f}x (target >= 30)")
    print(f"   UpscopeAuth / static:       {upscope / static:6.3f}  (target >= 0.95)")
    (ours_s, ours_n), (theirs_s, theirs_n) = result["storm_upscope"], result["storm_mcp"]
    print("3. Storm: 200 concurrent requests meeting one 403 insufficient_scope")
    print(f"   upscope_httpx2.UpscopeAuth  {ours_s:7.2f} s, {ours_n} token request(s)")
    print(f"   mcp provider                {theirs_s:7.2f} s, {theirs_n} token request(s)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40, help="pairs of batches (part 1)")
    parser.add_argument("--requests", type=int, default=200, help="requests per batch")
    parser.add_argument("--mcp-part", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mcp_part:
        print(json.dumps(mcp_part(args.rounds)))
        return 0
    report_fast_path(fast_path(args.rounds, args.requests))
    if not MCP_PYTHON.exists():
        print(f"2-3. skipped: no {MCP_PYTHON} (run tests/interop/interop_peers.py install)")
        return 0
    # That venv has the project installed from the checkout that made it (its symlink
    # may point at another worktree): put this checkout's code first, so parts 2 and 3
    # measure the code under test.
    paths = [str(ROOT / "adapters"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    run = subprocess.run(
        [str(MCP_PYTHON), __file__, "--mcp-part", "--rounds", str(min(args.rounds, 5))],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))},
    )
    report_mcp(json.loads(run.stdout.splitlines()[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
