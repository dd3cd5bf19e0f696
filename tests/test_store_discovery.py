"""Issue 14: the resource-to-authorization-server discovery results outlive a process.

Over real sockets on 127.0.0.1, with our demo servers and a ``FileStore`` or a real
``redis-server``: a fresh token source and client (a restarted process, another worker)
sharing the store makes no metadata request and no token request while the kept token
is valid; a step-up makes one token request and no metadata request; past the
metadata's lifetime it is fetched again; an authorization server migration (SEP-2352)
replaces what is kept, and the binding of a configured client to its first server holds
across processes. Registered clients go to the store without ``client_store=``.
The records themselves: tests/test_oauth_discovery_records.py."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trio

import upscope_asyncio
import upscope_trio
from sansio_upscope import Reason, RequestToken, Token
from sansio_upscope.oauth import (
    AuthorizationCode,
    ClientCredentials,
    RegisteredClient,
    RegistrationError,
)
from tests.store_support import RedisServer, free_port, require_redis_server
from tests.test_real_world_registration import (
    REDIRECT,
    Browser,
    MiniAuthorizationServer,
)
from tests.test_real_world_registration import (
    ResourceServer as MiniResourceServer,
)
from upscope_cli.servers import AuthorizationServer, ResourceServer
from upscope_cli.servers._resource_server import Route
from upscope_requests import UpscopeAuth
from upscope_store import FileStore, Flight, RedisStore, StoreError, StoreFileError

MakeStore = Callable[..., FileStore | RedisStore]


@pytest.fixture(params=["file", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    if request.param == "file":
        yield lambda **kw: FileStore(tmp_path / "tokens.json", **kw)
        return
    server = RedisServer(require_redis_server(), tmp_path)
    server.start()
    yield lambda **kw: RedisStore(server.url, **kw)
    server.stop()


class Counted:
    """The demo servers, counting the metadata documents they serve."""

    def __init__(self, authorization: AuthorizationServer, resource: ResourceServer) -> None:
        self.authorization, self.resource = authorization, resource
        self.resource_metadata = self.server_metadata = 0
        serve_resource, serve_server = resource.metadata, authorization.metadata

        def resource_metadata(path: str = "") -> dict[str, object] | None:
            self.resource_metadata += 1
            return serve_resource(path)

        def server_metadata() -> dict[str, object]:
            self.server_metadata += 1
            return serve_server()

        resource.metadata = resource_metadata  # type: ignore[method-assign]
        authorization.metadata = server_metadata  # type: ignore[method-assign]

    def counts(self) -> tuple[int, int, int]:
        """(metadata requests, token requests) since the last call, and reset."""
        seen = (
            self.resource_metadata,
            self.server_metadata,
            self.authorization.token_request_count,
        )
        self.resource_metadata = self.server_metadata = 0
        self.authorization.token_requests.clear()
        return seen


@pytest.fixture
def servers() -> Iterator[Counted]:
    routes = {
        "/api/a": Route(scopes={"read"}),
        "/api/b": Route(scopes={"read"}),
        "/api/admin": Route(scopes={"admin"}),
    }
    with (
        AuthorizationServer() as authorization,
        ResourceServer(authorization, routes, resources=("/api",)) as resource,
    ):
        yield Counted(authorization, resource)


def fresh_get(
    servers: Counted, store: FileStore | RedisStore, path: str, adapter: str = "requests"
) -> int:
    """GET ``path`` as a process that just started: a new token source and client."""
    source = ClientCredentials("demo-client", "demo-secret")
    url = servers.resource.url + path
    if adapter != "requests":

        async def get() -> int:
            client_type = upscope_asyncio.Client if adapter == "asyncio" else upscope_trio.Client
            async with client_type(source, store=store) as client:
                return (await client.request("GET", url)).status_code

        status: int = asyncio.run(get()) if adapter == "asyncio" else trio.run(get)
        return status
    with requests.Session() as session:
        session.auth = UpscopeAuth(source, store=store)
        response = session.get(url, timeout=10)
    error = getattr(response, "upscope_error", None)
    assert error is None, error
    return response.status_code


def age_discovery(store: FileStore | RedisStore) -> None:
    """Time passes: every kept discovery record is past its lifetime (written as it is
    kept, not through ``save_discovery``, which drops expired records)."""
    aged = {
        key: {**record, "fetched_at": 1.0, "expires_at": 2.0}
        for key, record in store.load_discovery().items()
        if "expires_at" in record
    }
    assert aged
    if isinstance(store, FileStore):
        with store._writing() as state:
            state["namespaces"][store.namespace]["discovery"].update(aged)
    else:
        for key, record in aged.items():
            store._redis.hset(store._key("discovery"), key, json.dumps(record))


@pytest.mark.parametrize("adapter", ["requests", "asyncio", "trio"])
def test_a_fresh_process_asks_nothing_while_the_token_and_metadata_are_valid(
    servers: Counted, make_store: MakeStore, adapter: str
) -> None:
    store = make_store()
    api = servers.resource.url + "/api"
    assert fresh_get(servers, store, "/api/a", adapter) == 200
    prm, asm, tokens = servers.counts()
    assert prm >= 1 and asm == 1 and tokens == 1
    kept = store.load_discovery()
    assert {f"resource {api}", f"issuer {servers.authorization.issuer}"} <= set(kept)
    assert kept[f"resource {api}"]["expires_at"] > time.time() + 3000  # an hour
    # Another URL under the same protected resource: the kept metadata names /api, the
    # token is kept under /api: no metadata request, no token request.
    assert fresh_get(servers, store, "/api/b", adapter) == 200
    assert servers.counts() == (0, 0, 0)
    # A step-up: one token request, and no metadata request.
    assert fresh_get(servers, store, "/api/admin", adapter) == 200
    assert servers.counts() == (0, 0, 1)
    # Past the metadata's lifetime, a token request fetches it again (and keeps it):
    # without it, /api/admin is its own resource, whose token was kept under /api.
    age_discovery(store)
    assert fresh_get(servers, store, "/api/admin", adapter) == 200
    prm, asm, tokens = servers.counts()
    assert prm >= 1 and asm == 1 and tokens == 1
    assert store.load_discovery()[f"resource {api}"]["expires_at"] > time.time() + 3000
    # Namespaces keep their own discovery results.
    assert make_store(namespace="other").load_discovery() == {}


def test_a_migration_replaces_the_kept_metadata(make_store: MakeStore, serve: Any) -> None:
    # SEP-2352 with AuthorizationCode: the resource moves to AS2 at the same metadata
    # URL. A fresh process's kept token is refused (401); the refetch bypasses the kept
    # metadata, registers at AS2 and replaces what is kept; the next process follows.
    store = make_store()
    as1, as2 = MiniAuthorizationServer(serve), MiniAuthorizationServer(serve)
    rs = MiniResourceServer(serve, as1)
    metadata_path = "/.well-known/oauth-protected-resource/mcp"

    def fresh_mcp() -> int:
        source = AuthorizationCode(redirect_uri=REDIRECT, authorize=Browser(as1, as2))
        with requests.Session() as session:
            session.auth = UpscopeAuth(source, store=store)
            response = session.get(rs.url + "/mcp", timeout=10)
        assert getattr(response, "upscope_error", None) is None
        return response.status_code

    def fetched() -> int:
        return sum(1 for request in rs.server.requests if request.path == metadata_path)

    assert fresh_mcp() == 200
    # Registered without client_store=: the adapter's store keeps the client.
    [client_id] = as1.clients
    kept_client = store.get(as1.issuer)
    assert kept_client is not None and kept_client.client_id == client_id
    before, as1_requests = fetched(), len(as1.server.requests)
    assert fresh_mcp() == 200
    assert fetched() == before and len(as1.server.requests) == as1_requests
    rs.authorization_server = as2
    assert fresh_mcp() == 200  # kept token refused, metadata fetched again, AS2 grant
    assert fetched() == before + 1 and len(as2.clients) == 1
    record = store.load_discovery()[f"resource {rs.url}/mcp"]
    assert record["document"]["authorization_servers"] == [as2.issuer]
    before, as2_requests = fetched(), len(as2.server.requests)
    assert fresh_mcp() == 200  # the AS2 token is kept: nothing asked of anyone
    assert fetched() == before and len(as2.server.requests) == as2_requests


def test_a_configured_clients_first_server_binds_every_process(
    servers: Counted, make_store: MakeStore
) -> None:
    # SEP-2352 with ClientCredentials: the client id and secret were first used at AS1.
    # After the move, a restarted process (no memory of AS1) must not send them to AS2.
    store = make_store()
    assert fresh_get(servers, store, "/api/a") == 200
    with AuthorizationServer(client_id="demo-client", client_secret="demo-secret") as as2:
        moved_to = as2.issuer
        servers.resource.authorization_server = as2
        source = ClientCredentials("demo-client", "demo-secret")
        with requests.Session() as session:
            session.auth = UpscopeAuth(source, store=store)
            response = session.get(servers.resource.url + "/api/a", timeout=10)
        error = getattr(response, "upscope_error", None)
        assert isinstance(getattr(error, "cause", None), RegistrationError), error
        assert as2.token_requests == []
    # The refetched metadata (naming AS2) replaced the kept one; the binding is kept.
    kept = store.load_discovery()
    api = servers.resource.url + "/api"
    assert kept[f"resource {api}"]["document"]["authorization_servers"] == [moved_to]
    assert kept["client demo-client"] == {"issuer": servers.authorization.issuer}


def test_a_corrupt_or_foreign_discovery_record_is_a_clear_error(
    servers: Counted, make_store: MakeStore
) -> None:
    store = make_store()
    assert fresh_get(servers, store, "/api/a") == 200
    kept = store.load_discovery()
    api = servers.resource.url + "/api"
    # Metadata for /api kept as if it were /api/a's: foreign, refused as a whole.
    foreign = {f"resource {api}/a": kept[f"resource {api}"]}
    if isinstance(store, FileStore):
        with store._writing() as state:
            state["namespaces"]["default"]["discovery"].update(foreign)
        with pytest.raises(StoreFileError) as caught_file:
            store.load_discovery()
        assert str(store.path) in str(caught_file.value)
        message = str(caught_file.value)
    else:
        field = f"resource {api}/a"
        store._redis.hset(store._key("discovery"), field, json.dumps(foreign[field]))
        with pytest.raises(StoreError) as caught:
            store.load_discovery()
        assert "upscope:default:discovery" in str(caught.value)
        message = str(caught.value)
        store._redis.hset(store._key("discovery"), "x", "{not json")
        with pytest.raises(StoreError, match="not JSON"):
            store.load_discovery()
    assert repr(f"resource {api}/a") in message and "is for resource" in message


def test_redis_down_discovers_in_process(
    servers: Counted, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    with caplog.at_level(logging.WARNING, "upscope_store"):
        assert fresh_get(servers, store, "/api/a") == 200
    prm, asm, tokens = servers.counts()
    assert prm >= 1 and asm == 1 and tokens == 1
    assert any("unavailable" in record.getMessage() for record in caplog.records)


def test_a_source_keeps_registered_clients_in_the_first_store_it_met(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # One AuthorizationCode source given to two clients with two stores (two namespaces):
    # its registered clients stay in the first, with one warning, never moving between
    # principals silently. A client registered before any store goes to the store.
    first = FileStore(tmp_path / "tokens.json", namespace="alice")
    second = FileStore(tmp_path / "tokens.json", namespace="bob")
    source = AuthorizationCode(redirect_uri=REDIRECT)
    source.client_store.set("https://as.example", RegisteredClient(client_id="early"))
    ask = RequestToken(
        scopes=frozenset({"read"}), resource="https://api.example/x", reason=Reason.NO_TOKEN
    )
    Flight(first).obtain_sync(ask, lambda request: Token("t1"), source)
    assert source.client_store is first
    assert first.get("https://as.example") == RegisteredClient(client_id="early")
    with caplog.at_level(logging.WARNING, "upscope_store"):
        for _ in range(2):
            Flight(second).obtain_sync(ask, lambda request: Token("t2"), source)
    assert source.client_store is first and second.get("https://as.example") is None
    assert len([r for r in caplog.records if "registered clients" in r.getMessage()]) == 1
