"""One behaviour suite for the three adapters (asyncio, trio, requests-in-threads).

Every test runs real HTTP/1.1 over 127.0.0.1 against the ``upscope_cli.servers`` servers. The
adapters make no protocol decision themselves (the last test reads their sources); what
is checked here is that each one carries out the core's decisions faithfully.
"""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from _upscope_io import TransportError
from sansio_upscope import (
    BodyNotReplayableError,
    Policy,
    RequestToken,
    ScopeNotAllowedError,
    ScopeNotGrantedError,
    StepUpLoopError,
    Token,
    TokenRequestFailedError,
    TooManyTokenRequestsError,
)
from sansio_upscope.oauth import ClientCredentials
from tests.conftest import Script
from tests.driver import DRIVERS, Body, Call, Do, Many, Outcome, Step, Stream, names, run
from tests.hostile.server import Request, ScriptedServer, response
from upscope_cli.servers import AuthorizationServer, ResourceServer, Route

#: Generous: 100 concurrent calls on a loaded machine; a stuck call still ends the test.
TIMEOUT = 30.0


@pytest.fixture(params=names())
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def scenario(
    adapter: str,
    authorization_server: AuthorizationServer,
    *,
    steps: list[Step],
    policy: Policy | None = None,
    token_delay: float = 0.0,
    cancel_first_token_request: bool = False,
    oauth: bool = False,
) -> list[Any]:
    """Run ``steps`` on one client of ``adapter``. Its token source asks the demo
    authorization server in-process (``issue_token``, counted there); with ``oauth``, the
    built-in ``ClientCredentials`` flow asks it over the adapter's own HTTP instead."""

    def issue(request: RequestToken) -> Token:
        return authorization_server.issue_token(request.scopes, resource=request.resource)

    server = authorization_server
    return run(
        adapter,
        steps,
        ClientCredentials(server.client_id, server.client_secret) if oauth else issue,
        policy=policy,
        timeout=TIMEOUT,
        token_delay=token_delay,
        cancel_first_token_request=cancel_first_token_request,
    )


def ok(outcome: Outcome) -> Outcome:
    assert outcome.error is None, outcome.error
    assert not outcome.cancelled
    return outcome


def test_step_up_asks_for_the_union_of_scopes(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    url = resource_server.url
    first, upload = scenario(
        adapter,
        authorization_server,
        steps=[
            Call(url=url + "/files"),
            Call(url=url + "/files/upload", method="POST", body=Body(b"x")),
        ],
    )
    assert ok(first).status_code == 200
    assert ok(upload).status_code == 200 and upload.content == b"x"
    asked = [record.scopes for record in authorization_server.token_requests]
    # 401 without a token -> files:read; 403 insufficient_scope -> files:read + files:write.
    assert asked == [{"files:read"}, {"files:read", "files:write"}]
    assert all(
        r.resource == url + p
        for r, p in zip(
            authorization_server.token_requests, ["/files", "/files/upload"], strict=True
        )
    )
    # The retry carried the new token; the first attempt at the upload had the old one.
    uploads = resource_server.requests_to("/files/upload")
    assert len(uploads) == 2 and uploads[0].authorization != uploads[1].authorization


def test_oauth_client_credentials_over_the_adapters_own_http(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    # ClientCredentials discovers the endpoints from the challenge (RFC 9728, RFC 8414)
    # and asks the token endpoint, all through the adapter's own HTTP.
    url = resource_server.url
    first, upload = scenario(
        adapter,
        authorization_server,
        oauth=True,
        steps=[
            Call(url=url + "/files"),
            Call(url=url + "/files/upload", method="POST", body=Body(b"x")),
        ],
    )
    assert ok(first).status_code == 200 and ok(upload).content == b"x"
    # Both name the resource the metadata names: the whole origin (RFC 8707, rule 11).
    assert [(r.grant_type, r.scopes, r.resource) for r in authorization_server.token_requests] == [
        ("client_credentials", frozenset({"files:read"}), url),
        ("client_credentials", frozenset({"files:read", "files:write"}), url),
    ]


def test_loop_guard_gives_up_on_a_server_that_never_accepts(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    (outcome,) = scenario(
        adapter, authorization_server, steps=[Call(url=resource_server.url + "/stubborn")]
    )
    assert isinstance(outcome.error, StepUpLoopError)
    assert outcome.error.challenge is not None and outcome.error.challenge.scope == frozenset(
        {"files:read"}
    )
    assert authorization_server.token_request_count == 1
    assert len(resource_server.requests_to("/stubborn")) == 2


def test_token_requests_are_bounded(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    # /escalate asks for a new scope on every request: only the budget stops it.
    policy = Policy(max_token_requests=3)
    (outcome,) = scenario(
        adapter,
        authorization_server,
        policy=policy,
        steps=[Call(url=resource_server.url + "/escalate")],
    )
    assert isinstance(outcome.error, TooManyTokenRequestsError)
    assert authorization_server.token_request_count == 3
    assert len(resource_server.requests_to("/escalate")) == 4


def test_scope_outside_policy_is_never_requested(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    policy = Policy(allowed_scopes={"files:read"})
    (outcome,) = scenario(
        adapter,
        authorization_server,
        policy=policy,
        steps=[Call(url=resource_server.url + "/admin")],
    )
    assert isinstance(outcome.error, ScopeNotAllowedError)
    assert authorization_server.token_request_count == 0


def test_narrower_grant_gives_up_clearly(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    authorization_server.grant_only = frozenset({"files:read"})
    (outcome,) = scenario(
        adapter, authorization_server, steps=[Call(url=resource_server.url + "/admin")]
    )
    assert isinstance(outcome.error, ScopeNotGrantedError)
    assert "admin" in str(outcome.error)


def test_failed_token_request_surfaces_with_its_cause(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    authorization_server.failures = ["invalid_client"]
    url = resource_server.url + "/files"
    failed, later = scenario(adapter, authorization_server, steps=[Call(url=url), Call(url=url)])
    assert isinstance(failed.error, TokenRequestFailedError)
    assert "invalid_client" in str(failed.error.cause)
    assert ok(later).status_code == 200  # the next request asks again


def test_stale_token_is_replaced_with_the_same_scopes(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    url = resource_server.url + "/files"
    first, _, second = scenario(
        adapter,
        authorization_server,
        steps=[Call(url=url), Do(authorization_server.revoke_all), Call(url=url)],
    )
    assert ok(first).status_code == 200 and ok(second).status_code == 200
    scopes = [record.scopes for record in authorization_server.token_requests]
    assert scopes == [{"files:read"}, {"files:read"}]


def test_concurrent_requests_share_one_token_request(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    n = 50 if DRIVERS[adapter].kind == "sync" else 100  # threads: the pool holds 50
    (outcomes,) = scenario(
        adapter,
        authorization_server,
        token_delay=0.1,
        steps=[Many(Call(url=resource_server.url + "/admin"), n)],
    )
    assert [ok(outcome).status_code for outcome in outcomes] == [200] * n
    assert authorization_server.token_request_count == 1


def test_concurrent_step_up_after_a_token_is_held(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    # Everyone holds a files:read token; all hit the same 403 for files:write. Responses
    # that come back for the older token after the step-up are retried without asking.
    url = resource_server.url
    n = 50 if DRIVERS[adapter].kind == "sync" else 100  # threads: the pool holds 50
    _, outcomes = scenario(
        adapter,
        authorization_server,
        token_delay=0.1,
        steps=[Call(url=url + "/files"), Many(Call(url=url + "/files/upload", method="POST"), n)],
    )
    assert [ok(outcome).status_code for outcome in outcomes] == [200] * n
    assert [r.scopes for r in authorization_server.token_requests] == [
        {"files:read"},
        {"files:read", "files:write"},
    ]


def test_post_body_is_byte_identical_on_retry(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    body = bytes(range(256)) * 300  # binary, with CR LF and NUL bytes, 76 kB
    (outcome,) = scenario(
        adapter,
        authorization_server,
        steps=[Call(url=resource_server.url + "/files/upload", method="POST", body=Body(body))],
    )
    assert ok(outcome).status_code == 200 and outcome.content == body
    attempts = resource_server.requests_to("/files/upload")
    assert [seen.body for seen in attempts] == [body, body]


def test_requests_file_body_is_rewound_for_the_retry(
    authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    body = b"file contents\r\n" * 5000
    (outcome,) = scenario(
        "requests",
        authorization_server,
        steps=[
            Call(url=resource_server.url + "/files/upload", method="POST", body=Body(body, "file"))
        ],
    )
    assert ok(outcome).status_code == 200 and outcome.content == body
    attempts = resource_server.requests_to("/files/upload")
    assert [seen.body for seen in attempts] == [body, body]


def test_body_that_cannot_be_replayed_gives_a_clear_error(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    body = b"streamed " * 500
    (outcome,) = scenario(
        adapter,
        authorization_server,
        steps=[
            Call(
                url=resource_server.url + "/files/upload", method="POST", body=Body(body, "stream")
            )
        ],
    )
    assert isinstance(outcome.error, BodyNotReplayableError)
    assert "bytes" in str(outcome.error)  # says what to do instead
    # Sent once, in full, never a silent empty retry.
    assert [seen.body for seen in resource_server.requests_to("/files/upload")] == [body]


def test_streaming_body_arrives_incrementally(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    gate = threading.Event()
    resource_server.events_gate = gate  # the server sends event 1, then waits for the gate
    (outcome,) = scenario(
        adapter, authorization_server, steps=[Stream(resource_server.url + "/events", gate)]
    )
    assert outcome.status_code == 200
    assert outcome.first_chunk_early is True
    assert outcome.chunks[0].startswith(b"id: 1\n") and b"id: 2" not in outcome.chunks[0]
    assert re.findall(rb"id: (\d)", outcome.content) == [b"1", b"2", b"3"]


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/close", "closed the connection before sending a response"),
        ("/truncate", "closed the connection before the response was complete"),
        ("/garbage", "breaks HTTP/1.1"),
    ],
)
def test_server_closing_the_connection(
    adapter: str,
    path: str,
    what: str,
    authorization_server: AuthorizationServer,
    resource_server: ResourceServer,
) -> None:
    broken, after = scenario(
        adapter,
        authorization_server,
        steps=[Call(url=resource_server.url + path), Call(url=resource_server.url + "/files")],
    )
    assert isinstance(broken.error, DRIVERS[adapter].transport_errors)
    if adapter == "requests":  # a connection the server broke, not any RequestException
        assert isinstance(
            broken.error, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
        )
    if adapter in ("asyncio", "trio"):  # requests and httpx raise their own, as users expect
        assert resource_server.url + path in str(broken.error)
        assert what in str(broken.error)
    assert ok(after).status_code == 200  # the broken connection was not reused


def test_cross_origin_redirect_never_carries_the_token(
    adapter: str,
    authorization_server: AuthorizationServer,
    resource_server: ResourceServer,
    other_origin: ResourceServer,
) -> None:
    resource_server.routes["/go"] = Route(
        scopes={"files:read"}, kind="redirect", location=other_origin.url + "/public"
    )
    (outcome,) = scenario(
        adapter,
        authorization_server,
        steps=[Call(url=resource_server.url + "/go", follow_redirects=True)],
    )
    assert ok(outcome).status_code == 200
    assert resource_server.requests_to("/go")[-1].authorization is not None
    landed = other_origin.requests_to("/public")
    assert len(landed) == 1 and landed[0].authorization is None


#: The drivers whose clients keep cookies (requests' and httpx's jars); the asyncio and
#: trio clients keep none.
COOKIE_KEEPERS = [name for name in names() if name == "requests" or name.startswith("httpx")]


@pytest.mark.parametrize("adapter", COOKIE_KEEPERS)
def test_a_cookie_the_challenge_sets_goes_on_the_retry(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    def script(request: Request) -> bytes:
        if request.header("authorization") is None:
            challenge = 'Bearer error="insufficient_scope", scope="files:write"'
            cookie = "step=c-1; Path=/"
            return response(403, [("WWW-Authenticate", challenge), ("Set-Cookie", cookie)])
        if "step=c-1" not in (request.header("cookie") or ""):
            return response(400, [], b"the retry lost the cookie")
        return response(200, [], b"ok")

    server = serve(script)

    def tokens(request: RequestToken) -> Token:
        return Token("cookie-token", scopes=request.scopes)

    (outcome,) = run(adapter, [Call(url=server.url + "/files")], tokens, timeout=TIMEOUT)
    assert ok(outcome).status_code == 200 and outcome.content == b"ok"
    assert [r.header("cookie") for r in server.requests] == [None, "step=c-1"]


def test_the_callers_credential_fields_go_out_until_a_token_replaces_them(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    # One rule on every adapter: with no token yet the request goes out as the caller
    # built it; a token's fields then take the place of the caller's (a proof the caller
    # set is not for this token).
    def script(request: Request) -> bytes:
        if not (request.header("authorization") or "").startswith("Bearer "):
            challenge = 'Bearer error="insufficient_scope", scope="files:write"'
            return response(403, [("WWW-Authenticate", challenge)])
        return response(200, [], b"ok")

    server = serve(script)

    def tokens(request: RequestToken) -> Token:
        return Token("core-token", scopes=request.scopes)

    caller = (("authorization", "Basic dXNlcjpwdw=="), ("DPoP", "a-stale-proof"))
    call = Call(url=server.url + "/files", headers=caller)
    (outcome,) = run(adapter, [call], tokens, timeout=TIMEOUT)
    assert ok(outcome).status_code == 200 and outcome.content == b"ok"
    first, retry = server.requests
    assert (first.header("authorization"), first.header("dpop")) == (caller[0][1], caller[1][1])
    assert (retry.header("authorization"), retry.header("dpop")) == ("Bearer core-token", None)


def test_cancelled_token_request_does_not_wedge_the_others(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    n = 20
    (outcomes,) = scenario(
        adapter,
        authorization_server,
        cancel_first_token_request=True,
        steps=[Many(Call(url=resource_server.url + "/files"), n)],
    )
    assert sum(outcome.cancelled for outcome in outcomes) == 1
    assert sorted(o.status_code for o in outcomes if not o.cancelled) == [200] * (n - 1)
    # One waiter took over the abandoned token request; the rest waited for it.
    assert authorization_server.token_request_count == 1


def test_keep_alive_reuses_one_connection(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    url = resource_server.url + "/files"
    outcomes = scenario(adapter, authorization_server, steps=[Call(url=url)] * 5)
    assert [ok(outcome).status_code for outcome in outcomes] == [200] * 5
    seen = resource_server.requests_to("/files")
    assert len(seen) == 6  # the 401, its retry, four more
    assert len({request.client_port for request in seen}) == 1


@pytest.mark.parametrize("adapter", names(options=["max_connections_per_origin"]))
def test_pool_is_bounded_per_origin(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    (outcomes,) = run(
        adapter,
        [Many(Call(url=resource_server.url + "/public"), 40)],
        lambda request: authorization_server.issue_token(request.scopes),
        options={"max_connections_per_origin": 4},
        timeout=TIMEOUT,
    )
    assert [ok(outcome).status_code for outcome in outcomes] == [200] * 40
    seen = resource_server.requests_to("/public")
    assert len(seen) == 40
    assert 1 <= len({request.client_port for request in seen}) <= 4


def test_connection_is_not_reused_after_a_stream_left_half_read(
    adapter: str, authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    gate = threading.Event()
    resource_server.events_gate = gate  # event 1 arrives, then the server waits
    url = resource_server.url
    stream, after = scenario(
        adapter,
        authorization_server,
        steps=[Stream(url + "/events", gate, stop_after_first=True), Call(url=url + "/files")],
    )
    assert stream.chunks[0].startswith(b"id: 1")
    assert ok(after).status_code == 200
    events = resource_server.requests_to("/events")[-1]
    files = resource_server.requests_to("/files")[-1]
    assert events.client_port != files.client_port  # the half-read connection was closed


@pytest.fixture
def tls_resource_server(
    authorization_server: AuthorizationServer,
) -> Iterator[tuple[ResourceServer, trustme.CA]]:
    """The demo resource server over https, with a certificate from a test CA."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = ResourceServer(authorization_server)
    server.tls_context = context
    with server:
        yield server, ca


def _https_calls(adapter: str, url: str, auth: AuthorizationServer, ca_file: str | None) -> Any:
    """GET /files then POST /files/upload over https, trusting ``ca_file`` (else the
    system's certificate authorities)."""
    options = {} if ca_file is None else {"verify": ca_file}
    return run(
        adapter,
        [Call(url=url + "/files"), Call(url=url + "/files/upload", method="POST", body=b"x")],
        lambda request: auth.issue_token(request.scopes, resource=request.resource),
        options=options,
        timeout=TIMEOUT,
    )


def test_https_step_up(
    adapter: str,
    authorization_server: AuthorizationServer,
    tls_resource_server: tuple[ResourceServer, trustme.CA],
) -> None:
    server, ca = tls_resource_server
    assert server.url.startswith("https://")
    with ca.cert_pem.tempfile() as ca_file:
        outcomes = _https_calls(adapter, server.url, authorization_server, ca_file)
    assert [ok(outcome).status_code for outcome in outcomes] == [200, 200]
    assert authorization_server.token_request_count == 2


def test_https_verifies_certificates_by_default(
    adapter: str,
    authorization_server: AuthorizationServer,
    tls_resource_server: tuple[ResourceServer, trustme.CA],
) -> None:
    server, _ = tls_resource_server
    outcomes = _https_calls(adapter, server.url, authorization_server, None)
    for outcome in outcomes:
        assert isinstance(outcome.error, DRIVERS[adapter].transport_errors), outcome
        if adapter == "requests":
            assert isinstance(outcome.error, requests.exceptions.SSLError), outcome
        # httpx on trio says it only in the cause (trio's BrokenResourceError from ssl).
        said: list[str] = []
        error: BaseException | None = outcome.error
        while error is not None:
            said.append(str(error))
            error = error.__cause__ or error.__context__
        assert re.search("CERTIFICATE_VERIFY_FAILED", " ".join(said)), outcome
    assert authorization_server.token_request_count == 0


ADAPTER_SOURCES = [
    "upscope_asyncio",
    "upscope_trio",
    "upscope_requests",
    "upscope_store",
    "upscope_httpx",
    "upscope_httpx2",
    "_upscope_io",
]


@pytest.mark.parametrize("package", ADAPTER_SOURCES)
def test_adapters_make_no_protocol_decision(package: str) -> None:
    root = Path(__file__).parent.parent / "adapters" / package
    for source in sorted(root.glob("*.py")):
        text = source.read_text()
        found = re.findall(r"401|403|www-authenticate", text, re.IGNORECASE)
        assert found == [], f"{source.name} mentions {found}: decisions belong to the core"
        if package != "_upscope_io":
            assert len(text.splitlines()) < 200, f"{source.name} is not thin any more"


def test_trio_adapter_uses_no_asyncio() -> None:
    root = Path(__file__).parent.parent / "adapters"
    # The httpx adapters run on trio too (their asyncio parts come from anyio).
    for package in (
        "upscope_trio",
        "upscope_httpx",
        "upscope_httpx2",
        "_upscope_io",
        "upscope_store",
    ):
        for source in (root / package).glob("*.py"):
            assert not re.search(r"^\s*(import|from) asyncio", source.read_text(), re.M), source


@pytest.mark.parametrize(
    ("method", "headers", "named"),
    [
        ("GET", [("Authorization", "Bearer SECRET-1\n")], "'Authorization' header field"),
        ("GET", [("X-Api-Key", " SECRET-1")], "'X-Api-Key' header field"),
        ("GET", [("Host", "SECRET-1\r\nX: y")], "'Host' header field"),
        ("GET", [("X Bad SECRET-1", "v")], "header field name"),
        ("G T", [], "method"),
    ],
)
def test_a_request_head_h11_refuses_is_a_transport_error_that_shows_no_value(
    method: str, headers: list[tuple[str, str]], named: str
) -> None:
    from _upscope_io import Http11

    with pytest.raises(TransportError) as caught:
        Http11().request(method, "http://127.0.0.1:9/x?q=1", headers, content_length=0)
    assert named in str(caught.value)
    assert "SECRET" not in str(caught.value) and "SECRET" not in repr(caught.value)
