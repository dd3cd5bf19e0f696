"""Token stores across real processes: each worker is its own Python process
(``tests/store_worker.py``) with its own client; the demo authorization server in this
process counts every token request; Redis is a real ``redis-server`` on loopback."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store_support import Fleet, RedisServer, Result, Worker, require_redis_server
from upscope_cli.servers import AuthorizationServer, ResourceServer, Route
from upscope_store import FileStore, RedisStore, TokenStore

pytestmark = pytest.mark.timeout(180)

READ = frozenset({"files:read"})
READ_WRITE = frozenset({"files:read", "files:write"})


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(require_redis_server(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["file", "redis"])
def store_kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """("file", a path) or ("redis", a URL of a fresh redis-server)."""
    if request.param == "file":
        yield ("file", str(tmp_path / "state" / "tokens.json"))
    else:
        server = RedisServer(require_redis_server(), tmp_path)
        server.start()
        yield ("redis", server.url)
        server.stop()


@pytest.fixture
def servers() -> Iterator[tuple[AuthorizationServer, ResourceServer]]:
    with AuthorizationServer() as auth, ResourceServer(auth, {"/api": Route(scopes=READ)}) as rs:
        yield auth, rs


def count_metadata(auth: AuthorizationServer, resource: ResourceServer) -> list[str]:
    """The metadata documents the servers serve from now on (RFC 9728, RFC 8414), by
    kind, in order."""
    served: list[str] = []
    serve_resource, serve_server = resource.metadata, auth.metadata

    def resource_metadata(path: str = "") -> dict[str, object] | None:
        served.append("resource")
        return serve_resource(path)

    def server_metadata() -> dict[str, object]:
        served.append("server")
        return serve_server()

    resource.metadata = resource_metadata  # type: ignore[method-assign]
    auth.metadata = server_metadata  # type: ignore[method-assign]
    return served


def config(adapter: str, store: tuple[str, str], base: str, **overrides: Any) -> dict[str, Any]:
    kind, target = store
    return {
        "adapter": adapter,
        "store": kind,
        "target": target,
        "namespace": "default",
        "lease_seconds": 10.0,
        "base": base,
        "client_id": "demo-client",
        "client_secret": "demo-secret",
        **overrides,
    }


def open_store(store: tuple[str, str], namespace: str = "default") -> TokenStore:
    kind, target = store
    return (
        FileStore(target, namespace=namespace)
        if kind == "file"
        else RedisStore(target, namespace=namespace)
    )


def all_ok(results: list[Result], n: int) -> bool:
    return all(r["statuses"] == [200] * n and r["errors"] == [] for r in results)


ADAPTERS = ["asyncio", "trio", "requests"]


def test_six_processes_meeting_one_403_make_one_token_request(
    store_kind: tuple[str, str], servers: tuple[AuthorizationServer, ResourceServer], tmp_path: Path
) -> None:
    auth, resource = servers
    served = count_metadata(auth, resource)
    configs = [config(adapter, store_kind, resource.url) for adapter in ADAPTERS * 2]
    with Fleet(configs, tmp_path) as fleet:
        first = fleet.run("GET", "/api", 1)  # no token yet: 401, one token request
        assert all_ok(first, 1), first
        assert auth.token_request_count == 1
        before_storm = len(resource.requests_to("/api"))
        # The API now needs files:write too: every request meets 403 insufficient_scope.
        resource.routes["/api"] = Route(scopes=READ_WRITE)
        storm = fleet.run("GET", "/api", 20)
        assert all_ok(storm, 20), storm
    assert auth.token_request_count == 2
    assert auth.token_requests[1].scopes == READ_WRITE
    # Discovery happened once for the fleet: the storm's holder found it in the store.
    assert served == ["resource", "server"]
    # Every process met the 403 at least once; a request sent after its process already
    # held the new token went through at once, the others were retried once.
    assert 6 * 20 + 6 <= len(resource.requests_to("/api")) - before_storm <= 6 * 20 * 2


def test_a_restarted_process_makes_no_token_or_metadata_request_it_need_not(
    store_kind: tuple[str, str], servers: tuple[AuthorizationServer, ResourceServer], tmp_path: Path
) -> None:
    auth, resource = servers
    served = count_metadata(auth, resource)
    with Fleet([config("asyncio", store_kind, resource.url)], tmp_path) as fleet:
        assert all_ok(fleet.run("GET", "/api", 3), 3)
    assert auth.token_request_count == 1 and served == ["resource", "server"]
    for adapter in ADAPTERS:  # restarted, on every adapter
        with Fleet([config(adapter, store_kind, resource.url)], tmp_path) as fleet:
            assert all_ok(fleet.run("GET", "/api", 3), 3)
        # A step-up after the restart: a token request, and no metadata request.
        resource.routes["/api"] = Route(scopes=READ | {f"{adapter}:x"})
        with Fleet([config(adapter, store_kind, resource.url)], tmp_path) as fleet:
            assert all_ok(fleet.run("GET", "/api", 3), 3)
        resource.routes["/api"] = Route(scopes=READ)
    assert auth.token_request_count == 1 + len(ADAPTERS)
    assert served == ["resource", "server"]


def test_a_refresh_happens_once_fleet_wide(store_kind: tuple[str, str], tmp_path: Path) -> None:
    with (
        AuthorizationServer(expires_in=3) as auth,
        ResourceServer(auth, {"/api": Route(scopes=READ)}) as resource,
    ):
        configs = [config(adapter, store_kind, resource.url) for adapter in ADAPTERS * 2]
        with Fleet(configs, tmp_path) as fleet:
            assert all_ok(fleet.run("GET", "/api", 1), 1)
            assert auth.token_request_count == 1
            time.sleep(3.2)  # every process's token has expired
            results = fleet.run("GET", "/api", 5)
            assert all_ok(results, 5), results
        assert [r.grant_type for r in auth.token_requests] == [
            "client_credentials",
            "refresh_token",
        ]


def test_a_worker_killed_holding_the_lease_is_taken_over_within_the_lease_time(
    store_kind: tuple[str, str], servers: tuple[AuthorizationServer, ResourceServer], tmp_path: Path
) -> None:
    auth, resource = servers
    lease = 2.0
    holder = Worker(
        config("requests", store_kind, resource.url, lease_seconds=lease), tmp_path / "a.log"
    )
    waiter = Worker(
        config("trio", store_kind, resource.url, lease_seconds=lease), tmp_path / "b.log"
    )
    try:
        holder.wait_ready()
        waiter.wait_ready()
        auth.hold = True  # the holder's token request hangs at the authorization server
        holder.send("GET", "/api", 1)
        deadline = time.monotonic() + 30
        while auth.token_request_count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        waiter.send("GET", "/api", 3)
        time.sleep(lease * 1.5)  # the living holder renews its lease: nobody takes over
        assert auth.token_request_count == 1  # the waiter waits for the holder
        holder.kill()
        killed = time.monotonic()
        auth.release()
        result = waiter.result()
        took_over = time.monotonic() - killed
    finally:
        holder.close()
        waiter.close()
    assert result == {"statuses": [200] * 3, "errors": []}
    assert auth.token_request_count == 2
    assert took_over < lease + 2.0  # its lease expired and the waiter took over


def test_namespaces_never_share_a_token(
    store_kind: tuple[str, str], servers: tuple[AuthorizationServer, ResourceServer], tmp_path: Path
) -> None:
    auth, resource = servers
    alice = config("asyncio", store_kind, resource.url, namespace="alice")
    bob = config("requests", store_kind, resource.url, namespace="alice:token:x")
    with Fleet([alice], tmp_path) as fleet:
        assert all_ok(fleet.run("GET", "/api", 2), 2)
    with Fleet([bob], tmp_path) as fleet:
        assert all_ok(fleet.run("GET", "/api", 2), 2)
    assert auth.token_request_count == 2  # bob did not get alice's token
    sent = {seen.authorization for seen in resource.requests_to("/api") if seen.authorization}
    assert len(sent) == 2
    kept = [
        open_store(store_kind, name).load_token(resource.url + "/api")
        for name in ("alice", "alice:token:x")
    ]
    assert kept[0] is not None and kept[1] is not None
    assert {f"Bearer {k.token.access_token}" for k in kept if k} == sent
    assert open_store(store_kind, "carol").load_token(resource.url + "/api") is None


def test_redis_down_at_start_and_killed_mid_run_fails_no_request(
    redis_server: RedisServer, servers: tuple[AuthorizationServer, ResourceServer], tmp_path: Path
) -> None:
    auth, resource = servers
    store = ("redis", redis_server.url)
    kept = RedisStore(redis_server.url)
    redis_server.stop()  # down at start
    worker = Worker(config("asyncio", store, resource.url, retry_after=0.3), tmp_path / "w.log")
    try:
        worker.wait_ready()
        worker.send("GET", "/api", 20)
        assert worker.result() == {"statuses": [200] * 20, "errors": []}
        assert auth.token_request_count == 1  # alone, as without a store
        redis_server.start()
        time.sleep(0.4)
        resource.routes["/api"] = Route(scopes=READ_WRITE)  # a step-up: through Redis again
        worker.send("GET", "/api", 20)
        assert worker.result() == {"statuses": [200] * 20, "errors": []}
        # Kept under the protected resource the metadata names (the origin, rule 11).
        record = kept.load_token(resource.url)
        assert record is not None and record.token.scopes == READ_WRITE  # rejoined
        redis_server.stop()  # killed mid-run
        worker.send("GET", "/api", 20)  # the token held serves: no store needed
        assert worker.result() == {"statuses": [200] * 20, "errors": []}
        resource.routes["/api"] = Route(scopes=READ_WRITE | {"files:share"})
        worker.send("GET", "/api", 20)  # a new token, alone
        assert worker.result() == {"statuses": [200] * 20, "errors": []}
        assert auth.token_request_count == 3
        redis_server.start()
        time.sleep(0.4)
        resource.routes["/api"] = Route(scopes=READ_WRITE | {"files:share", "admin"})
        worker.send("GET", "/api", 5)
        assert worker.result() == {"statuses": [200] * 5, "errors": []}
        record = kept.load_token(resource.url)
        assert record is not None and "admin" in (record.token.scopes or ())
    finally:
        worker.close()
    log = worker.stderr()
    assert log.count("unavailable, going on alone") == 2, log  # one warning per outage
    assert log.count("answers again") == 2, log
    sent = {seen.authorization for seen in resource.requests_to("/api") if seen.authorization}
    assert len(sent) == 4 and not any(value.split()[1] in log for value in sent)  # no token
    assert "demo-secret" not in log


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_store_demo_shows_the_second_process_making_no_token_request(adapter: str) -> None:
    from upscope_cli.__main__ import main

    out = io.StringIO()
    assert main(["demo", "--store", "--adapter", adapter], stdout=out) == 0, out.getvalue()
    text = out.getvalue()
    assert "process 1: GET /files -> 200; token requests it made: 1\n" in text
    assert "process 2: GET /files -> 200; token requests it made: 0 (the token came" in text
    assert text.endswith("The second process made no token request.\n")
    assert "demo-secret" not in text


def test_a_narrower_grant_is_answered_once_fleet_wide(
    store_kind: tuple[str, str], servers: tuple[AuthorizationServer, ResourceServer], tmp_path: Path
) -> None:
    # RFC 6749 §3.3: the server grants less than asked. The waiters take the holder's
    # answer, and their own machine gives up, as the waiters of one process do.
    auth, resource = servers
    auth.grant_only = READ
    resource.routes["/api"] = Route(scopes=READ_WRITE)
    configs = [config(adapter, store_kind, resource.url) for adapter in ADAPTERS * 2]
    with Fleet(configs, tmp_path) as fleet:
        results = fleet.run("GET", "/api", 5)
    assert auth.token_request_count == 1
    for result in results:
        assert 200 not in result["statuses"], result
        assert any(error.startswith("ScopeNotGrantedError") for error in result["errors"]), result


def test_a_redis_that_hangs_at_start_and_mid_run_fails_no_request(
    redis_server: RedisServer, servers: tuple[AuthorizationServer, ResourceServer], tmp_path: Path
) -> None:
    # A frozen Redis accepts connections and never answers: every call times out
    # (RedisStore timeout=0.5 s) and the worker goes on alone.
    auth, resource = servers
    store = ("redis", redis_server.url)
    redis_server.pause()  # hangs at start
    worker = Worker(config("trio", store, resource.url, retry_after=0.3), tmp_path / "w.log")
    try:
        worker.wait_ready()
        worker.send("GET", "/api", 20)
        result = worker.result()
        assert result == {"statuses": [200] * 20, "errors": []}, (result, worker.stderr())
        redis_server.resume()
        time.sleep(0.4)
        resource.routes["/api"] = Route(scopes=READ_WRITE)
        worker.send("GET", "/api", 20)  # rejoined: the token goes through Redis
        assert worker.result() == {"statuses": [200] * 20, "errors": []}
        redis_server.pause()  # hangs mid-run
        resource.routes["/api"] = Route(scopes=READ_WRITE | {"files:share"})
        worker.send("GET", "/api", 20)
        assert worker.result() == {"statuses": [200] * 20, "errors": []}
    finally:
        redis_server.resume()
        worker.close()
    assert auth.token_request_count == 3
    # Kept under the protected resource the metadata names (the origin, rule 11).
    record = RedisStore(redis_server.url).load_token(resource.url)
    assert record is not None and record.token.scopes == READ_WRITE  # the one made via Redis
    log = worker.stderr()
    assert log.count("unavailable, going on alone") == 2, log
    assert "TimeoutError" in log
