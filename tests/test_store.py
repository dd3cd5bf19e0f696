"""The stores one call at a time: leases and fencing, namespaces, what a kept token
answers, the file's safety (modes, atomic replace, corrupt and foreign files), Redis
going away, secrets kept out of reprs, and ``Flight`` waiting, timing out and cancelled.
The fleet across processes is tests/test_store_fleet.py."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
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
from sansio_upscope.oauth import AuthorizationCode, ClientStore, RegisteredClient
from tests.store_support import ROOT, RedisServer, free_port, require_redis_server
from upscope_cli.servers import AuthorizationServer, ResourceServer
from upscope_requests import UpscopeAuth
from upscope_store import (
    FileStore,
    FleetTokenRequestError,
    Flight,
    Lease,
    RedisStore,
    StoredToken,
    StoreError,
    StoreFileError,
    StoreWaitTimeoutError,
    TokenStore,
)
from upscope_store._support import check_failure, share_failure

RESOURCE = "https://api.example/mcp"

#: ``make_store(namespace=..., lease_seconds=...)``
MakeStore = Callable[..., FileStore | RedisStore]

NOW = time.time()
SECRET = "SECRET-access-token"


def token(access: str = SECRET, scopes: set[str] | None = None, **kw: object) -> Token:
    return Token(access, scopes=scopes or {"read"}, expires_at=time.time() + 3600, **kw)  # type: ignore[arg-type]


def record(access: str = SECRET, **kw: object) -> StoredToken:
    return StoredToken(token=token(access, **kw), obtained_at=time.time())  # type: ignore[arg-type]


def need(scopes: set[str] | None = None, **kw: object) -> RequestToken:
    return RequestToken(
        scopes=frozenset(scopes or {"read"}),
        resource=RESOURCE,
        reason=kw.pop("reason", Reason.INSUFFICIENT_SCOPE),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["file", "redis"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[type[TokenStore] | object]:
    """``make_store(namespace=..., lease_seconds=...)`` for one kind of store."""
    if request.param == "file":
        path = tmp_path / "dir" / "tokens.json"
        yield lambda **kw: FileStore(path, **kw)
        return
    server = RedisServer(require_redis_server(), tmp_path)
    server.start()
    yield lambda **kw: RedisStore(server.url, **kw)
    server.stop()


def test_one_lease_at_a_time_and_a_dead_holders_expires(make_store: MakeStore) -> None:
    store = make_store(lease_seconds=0.3)
    first = store.take_lease(RESOURCE)
    assert first is not None
    assert store.take_lease(RESOURCE) is None
    assert store.take_lease(RESOURCE + "/other") is not None  # another resource: its own
    time.sleep(0.4)  # the holder never released: the lease expires
    second = store.take_lease(RESOURCE)
    assert second is not None and second.fence > first.fence
    store.release_lease(first)  # the old holder's release does not free the new lease
    assert store.take_lease(RESOURCE) is None
    assert store.publish_token(second, record("newer"))
    # Fencing: a token published under the older lease does not replace the newer one.
    assert not store.publish_token(first, record("older"))
    kept = store.load_token(RESOURCE)
    assert kept is not None and kept.token.access_token == "newer" and kept.fence == second.fence
    store.release_lease(second)
    assert store.take_lease(RESOURCE) is not None


def test_a_lease_is_renewed_by_its_holder_only(make_store: MakeStore) -> None:
    store = make_store(lease_seconds=0.3)
    lease = store.take_lease(RESOURCE)
    assert lease is not None
    for _ in range(3):  # renewed: alive past its first expiry
        time.sleep(0.15)
        assert store.renew_lease(lease)
    assert store.take_lease(RESOURCE) is None
    time.sleep(0.4)  # not renewed: expired, and taken over
    assert store.take_lease(RESOURCE) is not None
    assert not store.renew_lease(lease)


def test_a_living_holder_keeps_its_lease_however_long_its_token_request_takes(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "tokens.json", lease_seconds=0.3)
    asked: list[str] = []

    def slow(request: RequestToken) -> Token:  # a person signing in, five lease times
        asked.append("holder")
        time.sleep(1.5)
        return token("signed-in")

    holder = threading.Thread(target=lambda: Flight(store).obtain_sync(need(), slow))
    holder.start()
    while not asked:
        time.sleep(0.01)
    waited = Flight(store, poll_interval=0.01).obtain_sync(need(), refuse)
    holder.join(5)
    assert waited.access_token == "signed-in" and asked == ["holder"]


def test_namespaces_are_isolated(make_store: MakeStore) -> None:
    alice, bob = make_store(namespace="alice"), make_store(namespace="alice:token:x")
    lease = alice.take_lease(RESOURCE)
    assert lease is not None and bob.take_lease(RESOURCE) is not None
    assert alice.publish_token(lease, record("alice-token"))
    alice.set("https://as.example", RegisteredClient(client_id="alice-client"))
    assert bob.load_token(RESOURCE) is None
    assert bob.get("https://as.example") is None
    assert make_store(namespace="alice").get("https://as.example") == RegisteredClient(
        client_id="alice-client"
    )


def test_a_store_is_a_client_store(make_store: MakeStore) -> None:
    store = make_store()
    clients: ClientStore = store
    client = RegisteredClient(client_id="c", client_secret="s", token_endpoint_auth_method="none")
    clients.set("https://as.example", client)
    assert make_store().get("https://as.example") == client
    assert AuthorizationCode(client_store=store).client_store is store


def test_a_kept_record_round_trips_without_showing_secrets(make_store: MakeStore) -> None:
    store = make_store()
    lease = store.take_lease(RESOURCE)
    assert lease is not None
    kept = StoredToken(
        token=token(refresh_token="SECRET-refresh"),
        obtained_at=12.5,
        acr_values=("urn:mfa",),
        max_age=60,
        refresh_issuer="https://as.example",
    )
    assert store.publish_token(lease, kept)
    loaded = store.load_token(RESOURCE)
    assert loaded is not None and loaded.to_json() == {**kept.to_json(), "fence": lease.fence}
    for shown in (repr(loaded), repr(lease), repr(store)):
        assert "SECRET" not in shown and lease.holder not in shown


@pytest.mark.parametrize(
    ("kept", "request_", "answers"),
    [
        (record(), need(), True),
        (record(scopes={"read", "write"}), need({"read"}), True),
        (record(), need({"read", "write"}), False),  # a scope missing
        (record(), need(current_token=token()), False),  # the very token the request had
        (
            StoredToken(token=Token("t", scopes={"read"}, expires_at=1.0), obtained_at=0),
            need(),
            False,
        ),
        (StoredToken(token=Token("t"), obtained_at=0), need(), False),  # granted unknown
        (record(), need(acr_values=("urn:mfa",)), False),  # RFC 9470: not for this need
        (
            StoredToken(token=token(), obtained_at=NOW, acr_values=("urn:mfa",)),
            need(acr_values=("urn:mfa",), max_age=60),
            True,
        ),
        (StoredToken(token=token(), obtained_at=NOW - 120), need(max_age=60), False),
    ],
)
def test_when_a_kept_token_answers_a_token_request(
    kept: StoredToken, request_: RequestToken, answers: bool
) -> None:
    # The table was built at import (NOW), maybe minutes before this test runs.
    assert kept.answers(request_, NOW) is answers


def test_the_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "new" / "tokens.json")
    lease = store.take_lease(RESOURCE)
    assert lease is not None and store.publish_token(lease, record())
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [
        "tokens.json",
        "tokens.json.lock",
    ]  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not JSON"),
        (b'{"format": "something else"}', "not a sansio-upscope token store"),
        (b'["a list"]', "not a sansio-upscope token store"),
        (b'{"format": "sansio-upscope token store", "version": 99}', "format version 99"),
        (b'{"format": "sansio-upscope token store", "version": 1, "namespaces": []}', "malformed"),
        (
            b'{"format": "sansio-upscope token store", "version": 1, "namespaces": '
            b'{"default": {"tokens": {"https://api.example/mcp": {"access_token": 5}}}}}',
            "malformed",
        ),
        (b"\xff\xfe", "not JSON"),
        (
            json.dumps(
                {
                    "format": "sansio-upscope token store",
                    "version": 1,
                    "namespaces": {
                        "default": {
                            "tokens": {
                                RESOURCE: {
                                    **record("SECRET-access").to_json(),
                                    "fence": "SECRET-fence",
                                }
                            }
                        }
                    },
                }
            ).encode(),
            "a field is invalid",  # never the value: it may be a secret
        ),
    ],
)
def test_a_corrupt_or_foreign_file_is_a_clear_error_naming_it(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    store = FileStore(path)
    for call in (lambda: store.load_token(RESOURCE), lambda: store.take_lease(RESOURCE)):
        with pytest.raises(StoreFileError) as caught:
            call()
        assert str(path) in str(caught.value) and problem in str(caught.value)
        assert "SECRET" not in str(caught.value)
        assert caught.value.path == str(path)
    assert path.read_bytes() == content  # never overwritten


def test_a_process_killed_in_the_middle_of_a_write_leaves_the_previous_state(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.json"
    store = FileStore(path)
    lease = store.take_lease(RESOURCE)
    assert lease is not None and store.publish_token(lease, record("before"))
    store.release_lease(lease)
    # Another process dies (SIGKILL) after writing half of the new state, before the replace.
    script = textwrap.dedent(f"""
        import os, signal
        from upscope_store import FileStore
        from tests.test_store import record
        real_fsync = os.fsync
        def die(fd):
            os.kill(os.getpid(), signal.SIGKILL)
        os.fsync = die
        store = FileStore({str(path)!r})
        lease = store.take_lease({RESOURCE!r})
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False)
    assert run.returncode == -9
    kept = store.load_token(RESOURCE)
    assert kept is not None and kept.token.access_token == "before"
    assert store.take_lease(RESOURCE) is not None  # the lock died with the process


def test_a_redis_store_that_is_down_says_so_without_its_password(tmp_path: Path) -> None:
    store = RedisStore(f"redis://user:SECRET-pw@127.0.0.1:{free_port()}/0", timeout=0.2)
    assert "SECRET" not in repr(store) and "***" in repr(store)
    from upscope_store import StoreUnavailableError

    with pytest.raises(StoreUnavailableError) as caught:
        store.load_token(RESOURCE)
    assert "SECRET" not in str(caught.value) and "did not answer" in str(caught.value)
    # Registered clients, inside an OAuth flow, never fail for Redis: memory serves.
    store.set("https://as.example", RegisteredClient(client_id="c"))
    assert store.get("https://as.example") == RegisteredClient(client_id="c")
    assert store.get("https://other.example") is None


def test_flight_goes_on_alone_with_one_warning_while_the_store_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flight = Flight(RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2), retry_after=60)
    issued = []

    def fetch(request: RequestToken) -> Token:
        issued.append(request)
        return Token(f"token-{len(issued)}")

    with caplog.at_level(logging.WARNING, "upscope_store"):
        for _ in range(3):
            assert flight.obtain_sync(need(), fetch).scopes == frozenset({"read"})  # as asked
    assert len(issued) == 3
    assert len(caplog.records) == 1 and "unavailable" in caplog.records[0].getMessage()


def test_flight_serves_a_kept_token_and_refreshes_with_the_kept_refresh_token(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "tokens.json")
    flight = Flight(store)
    asked: list[RequestToken] = []

    def fetch(request: RequestToken) -> Token:
        asked.append(request)
        return token(f"new-{len(asked)}", refresh_token=f"refresh-{len(asked)}")

    first = flight.obtain_sync(need(), fetch)
    kept = store.load_token(RESOURCE)  # kept, refresh token included, before it is used
    assert kept is not None and kept.token.refresh_token == "refresh-1"
    assert kept.requested == frozenset({"read"}) and kept.token.access_token == first.access_token
    assert flight.obtain_sync(need(), fetch) is not None and len(asked) == 1  # kept, served
    # This process holds an expired token whose refresh token another worker rotated.
    held = Token("in-memory", scopes={"read"}, expires_at=1.0, refresh_token="stale")
    assert first.access_token == "new-1"
    expired = need(reason=Reason.EXPIRED, current_token=held, can_refresh=True)
    assert flight.obtain_sync(expired, fetch).access_token == "new-1"  # kept one is newer
    lease = store.take_lease(RESOURCE)
    assert lease is not None
    gone = StoredToken(
        token=Token("old", scopes={"read"}, expires_at=1.0, refresh_token="R"), obtained_at=0
    )
    assert store.publish_token(lease, gone)
    store.release_lease(lease)
    flight.obtain_sync(expired, fetch)
    assert asked[-1].current_token is not None and asked[-1].current_token.refresh_token == "R"
    assert asked[-1].can_refresh


def refuse(request: RequestToken) -> Token:
    raise AssertionError("the token source must not be asked")


def test_flight_waits_for_the_holder_and_its_wait_is_bounded(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "tokens.json", lease_seconds=30)
    lease = store.take_lease(RESOURCE)  # another worker holds it
    assert lease is not None
    flight = Flight(store, wait_seconds=0.3, poll_interval=0.01)
    with pytest.raises(StoreWaitTimeoutError) as caught:
        flight.obtain_sync(need(), refuse)
    assert RESOURCE in str(caught.value) and "wait_seconds" in str(caught.value)
    # The holder publishes while a second worker waits: the waiter uses its token.
    waiter = Flight(store, poll_interval=0.01)
    got: list[Token] = []
    thread = threading.Thread(target=lambda: got.append(waiter.obtain_sync(need(), refuse)))
    thread.start()
    time.sleep(0.1)
    assert store.publish_token(lease, record("published"))
    store.release_lease(lease)
    thread.join(5)
    assert [t.access_token for t in got] == ["published"]


def test_a_cancelled_async_wait_leaves_no_lease_behind(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "tokens.json", lease_seconds=30)
    lease = store.take_lease(RESOURCE)
    assert lease is not None
    flight = Flight(store, poll_interval=0.01)

    async def never(request: RequestToken) -> Token:
        raise AssertionError("must not ask")

    async def main() -> None:
        with trio.move_on_after(0.2) as scope:
            await flight.obtain_async(
                need(), never, lambda call: trio.to_thread.run_sync(call, abandon_on_cancel=True)
            )
        assert scope.cancelled_caught
        store.release_lease(lease)
        await trio.sleep(0.1)  # the abandoned thread has seen the cancellation

    trio.run(main)
    assert store.take_lease(RESOURCE) is not None  # nobody holds it


def test_a_failed_token_request_releases_the_lease(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "tokens.json", lease_seconds=30)
    flight = Flight(store)

    def failing(request: RequestToken) -> Token:
        raise RuntimeError("the authorization server is down")

    with pytest.raises(RuntimeError):
        flight.obtain_sync(need(), failing)
    assert store.take_lease(RESOURCE) is not None
    assert json.loads(store.path.read_text())["format"] == "sansio-upscope token store"
    assert os.stat(store.path).st_size > 0


class CountingStore(FileStore):
    """A ``FileStore`` that counts the calls made to it."""

    calls = 0

    def load_token(self, resource: str) -> StoredToken | None:
        self.calls += 1
        return super().load_token(resource)

    def take_lease(self, resource: str) -> Lease | None:
        self.calls += 1
        return super().take_lease(resource)


@pytest.mark.parametrize("adapter", ["asyncio", "trio", "requests"])
def test_the_fast_path_never_touches_the_store(
    adapter: str,
    tmp_path: Path,
    authorization_server: AuthorizationServer,
    resource_server: ResourceServer,
) -> None:
    store = CountingStore(tmp_path / "tokens.json")
    url = resource_server.url + "/files"

    async def tokens(request: RequestToken) -> Token:
        return authorization_server.issue_token(request.scopes)

    async def run_async(client_type: Any) -> list[int]:
        async with client_type(tokens, store=store) as client:
            first = await client.request("GET", url)
            touched.append(store.calls)
            return [first.status_code] + [
                (await client.request("GET", url)).status_code for _ in range(20)
            ]

    touched: list[int] = []
    if adapter == "requests":
        auth = UpscopeAuth(
            lambda request: authorization_server.issue_token(request.scopes), store=store
        )
        with requests.Session() as session:
            session.auth = auth
            statuses = [session.get(url).status_code]
            touched.append(store.calls)
            statuses += [session.get(url).status_code for _ in range(20)]
    elif adapter == "asyncio":
        statuses = asyncio.run(run_async(upscope_asyncio.Client))
    else:
        statuses = trio.run(run_async, upscope_trio.Client)
    assert statuses == [200] * 21
    assert touched[0] >= 2  # the token request went through the store
    assert store.calls == touched[0]  # and nothing since
    assert authorization_server.token_request_count == 1


def test_a_narrower_grant_for_the_same_scopes_settles_without_answering() -> None:
    # RFC 6749 §3.3: asked read+write, granted read. It does not answer the request, but
    # it is the fleet's answer to that very request: the core gives up, no new request.
    narrow = StoredToken(
        token=token("narrow"), obtained_at=time.time(), requested=frozenset({"read", "write"})
    )
    asked = need({"read", "write"})
    assert not narrow.answers(asked, time.time())
    assert narrow.settles(asked, time.time())
    assert not narrow.settles(need({"read", "write", "admin"}), time.time())
    assert not narrow.settles(need({"read", "write"}, current_token=token("narrow")), time.time())
    expired = StoredToken(
        token=Token("old", scopes={"read"}, expires_at=1.0),
        obtained_at=0,
        requested=frozenset({"read", "write"}),
    )
    assert not expired.settles(asked, time.time())


class Refused:
    """A store (any) that says when it refused a lease: a worker is waiting."""

    def __init__(self, store: TokenStore) -> None:
        self.store, self.refused = store, threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def take_lease(self, resource: str) -> Lease | None:
        lease = self.store.take_lease(resource)
        if lease is None:
            self.refused.set()
        return lease


def test_waiters_fail_with_the_holders_error_instead_of_repeating_it(
    make_store: MakeStore,
) -> None:
    # The holder's token request fails: the workers that waited for it fail at once
    # with its error (no token request of their own, no waiting out the lease); a
    # request that starts afterwards asks again.
    store = make_store(lease_seconds=30)
    waiting_store = Refused(store)
    holder, waiter = Flight(store, poll_interval=0.01), Flight(waiting_store, poll_interval=0.01)
    started, fail = threading.Event(), threading.Event()

    def failing(request: RequestToken) -> Token:
        started.set()
        fail.wait(10)
        raise RuntimeError("invalid_client: the authorization server refused the client")

    asked: list[RequestToken] = []

    def fetch(request: RequestToken) -> Token:
        asked.append(request)
        return token("new")

    errors: list[BaseException] = []

    def hold() -> None:
        try:
            holder.obtain_sync(need(), failing)
        except RuntimeError as error:
            errors.append(error)

    thread = threading.Thread(target=hold)
    thread.start()
    assert started.wait(10)
    waited: list[BaseException] = []

    def wait() -> None:
        try:
            waiter.obtain_sync(need(), fetch)
        except FleetTokenRequestError as error:
            waited.append(error)

    waiting = threading.Thread(target=wait)
    waiting.start()
    assert waiting_store.refused.wait(10)  # the waiter waits for the holder's request
    fail.set()
    thread.join(10)
    waiting.join(5)
    assert not waiting.is_alive() and len(errors) == 1 and asked == []
    [error] = waited
    assert "RuntimeError: invalid_client" in str(error) and RESOURCE in str(error)
    assert waiter.obtain_sync(need(), fetch).access_token == "new" and len(asked) == 1


def test_a_failure_is_shared_with_waiters_of_the_same_need_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "tokens.json")
    lease = store.take_lease(RESOURCE)
    assert lease is not None
    now = time.time()
    asked = need({"read", "write"})
    share_failure(store, lease, asked, RuntimeError("invalid_scope: write"))
    share_failure(store, lease, asked, KeyboardInterrupt())  # not shared: not an error
    with pytest.raises(FleetTokenRequestError, match="RuntimeError: invalid_scope: write"):
        check_failure(store, asked, since=now)
    check_failure(store, need({"read"}), since=now)  # another need: it may succeed
    check_failure(store, asked, since=now + 60)  # an older failure: ask again
    with store._writing() as state:
        state["namespaces"]["default"]["failures"][RESOURCE] = {"failed_at": "x"}
    with pytest.raises(StoreFileError, match="malformed"):
        store.load_failure(RESOURCE)


def test_a_malformed_failure_record_in_redis_is_a_clear_error(tmp_path: Path) -> None:
    server = RedisServer(require_redis_server(), tmp_path)
    server.start()
    try:
        store = RedisStore(server.url, lease_seconds=30)
        store._redis.set(store._key("failure", RESOURCE), '{"failed_at": 1}')
        holder = store.take_lease(RESOURCE)  # another worker's token request
        assert holder is not None
        flight = Flight(store, poll_interval=0.01)
        with pytest.raises(StoreError, match="malformed; delete it there"):
            flight.obtain_sync(need(), refuse)
    finally:
        server.stop()


def test_forget_asks_again_past_another_workers_kept_narrow_grant(
    tmp_path: Path,
    authorization_server: AuthorizationServer,
    resource_server: ResourceServer,
) -> None:
    # RFC 6749 §3.3: the first worker asks files:read files:write and is granted
    # files:read (N1, kept). The second, asking the same, is settled by N1; its
    # application calls forget() and it asks again: granted files:read again (N2, kept).
    # An administrator grants the scope; the first worker's application calls forget():
    # it asks the authorization server again, though the kept N2 (not the N1 it holds)
    # would settle its request until N2 expires.
    store = FileStore(tmp_path / "tokens.json")
    authorization_server.grant_only = frozenset({"files:read"})
    read, write = resource_server.url + "/files", resource_server.url + "/files/upload"

    def client() -> UpscopeAuth:
        return UpscopeAuth(lambda r: authorization_server.issue_token(r.scopes), store=store)

    def post(session: requests.Session, auth: UpscopeAuth) -> int:
        session.auth = auth
        return session.post(write, data=b"x").status_code

    first, second = client(), client()
    with requests.Session() as session:
        for auth in (first, second):
            session.auth = auth
            assert session.get(read).status_code == 200 and post(session, auth) == 403
        assert authorization_server.token_request_count == 2  # the second asked nothing
        second.upscopes.for_url(write).forget()
        assert post(session, second) == 403  # asked again: still narrow (N2)
        assert authorization_server.token_request_count == 3
        authorization_server.grant_only = None
        assert post(session, first) == 403  # remembered: not asked
        first.upscopes.for_url(write).forget()
        assert post(session, first) == 200
    assert authorization_server.token_request_count == 4
