"""Secrets never leak (design rules 9 and 10; issue 8).

Every flow (a callable token source, client credentials with Basic and with form
authentication, refresh, authorization code with PKCE) runs through every adapter against
a loopback OAuth world whose secrets are recognisable (``…SECRET…``). Then:

* no secret appears in a log record of the library or an adapter (DEBUG), in an exception
  message or its formatted traceback (causes included), or in the repr of the client, its
  per-origin state, its token or the token source;
* a token is only ever sent to the origin it was obtained for, also across redirects;
* a client secret never goes over plain http to anything but loopback;
* the ``upscope`` CLI prints no secret, even with ``-v``.
"""

from __future__ import annotations

import base64
import io
import logging
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from _upscope_io import drive_sync
from sansio_upscope import (
    LocalProtocolError,
    Reason,
    RequestToken,
    Retry,
    Send,
    Token,
    TokenRequestFailedError,
    Upscope,
)
from sansio_upscope.oauth import (
    AuthorizationCode,
    ClientCredentials,
    Failed,
    HttpRequest,
    HttpResponse,
    InsecureEndpointError,
    MetadataError,
)
from tests.driver import Call, Outcome, TokenSource, names, run
from tests.hostile.conftest import Issuer
from tests.hostile.server import Reply, Request, ScriptedServer, response, routes
from tests.hostile.world import OAuthWorld, json_reply

Script = Callable[[Request], Reply | bytes]

CLIENT_ID = "secrets-client"
CLIENT_SECRET = "CS-SECRET-5b1e9d"
ACCESS = "AT-SECRET-"
REFRESH = "RT-SECRET-"
CODE = "CODE-SECRET-77aa"
REDIRECT_URI = "http://127.0.0.1:9/callback"


def _world(serve: Callable[[Script], ScriptedServer]) -> OAuthWorld:
    world = OAuthWorld(serve, token_prefix=ACCESS, refresh_prefix=REFRESH, code=CODE)
    for path in ("/ok", "/loop"):
        world.table[f"/.well-known/oauth-protected-resource{path}"] = world.metadata_for(path)
    world.table["/loop"] = lambda _r: response(
        403, [("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="never"')]
    )
    world.single_use = True  # the second call meets invalid_token: a refresh
    return world


def _browser(url: str) -> str:
    """Plays the user agent: approves at once and returns the redirect with the code."""
    query = dict(parse_qsl(urlsplit(url).query))
    return f"{query['redirect_uri']}?code={CODE}&state={query['state']}"


class CallableSource:
    """A plain callable token source whose tokens look like the world's."""

    def __init__(self) -> None:
        self.issuer = Issuer()

    def __call__(self, request: RequestToken) -> Token:
        number = len(self.issuer.requests) + 1
        self.issuer(request)
        return Token(f"{ACCESS}callable-{number}", refresh_token=f"{REFRESH}callable-{number}")


FLOWS: dict[str, Callable[[], TokenSource]] = {
    "callable": CallableSource,
    "client_credentials basic": lambda: ClientCredentials(CLIENT_ID, CLIENT_SECRET),
    "client_credentials post": lambda: ClientCredentials(
        CLIENT_ID, CLIENT_SECRET, auth_method="client_secret_post"
    ),
    "authorization_code public": lambda: AuthorizationCode(
        CLIENT_ID, REDIRECT_URI, authorize=_browser
    ),
    "authorization_code confidential": lambda: AuthorizationCode(
        CLIENT_ID, REDIRECT_URI, client_secret=CLIENT_SECRET, authorize=_browser
    ),
}


def _secrets(world: OAuthWorld) -> list[str]:
    """Every secret the run used: fixed ones, plus what the token requests carried
    (issued tokens are numbered; the PKCE verifier is random)."""
    found = [CLIENT_SECRET, CODE, ACCESS, REFRESH]
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    found.append(basic)
    for request in world.token_requests():
        form = dict(parse_qsl(request.body.decode()))
        found += [form[name] for name in ("code_verifier", "refresh_token") if name in form]
    return found


def _texts_of(outcome: Outcome) -> list[str]:
    if outcome.error is None:
        return []
    error = outcome.error
    return [repr(error), "".join(traceback.format_exception(type(error), error, None))]


def _log_texts(records: list[logging.LogRecord]) -> list[str]:
    ours = [r for r in records if r.name.startswith(("sansio_upscope", "upscope"))]
    return [f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in ours]


def _leaks(texts: list[str], secrets: list[str]) -> list[tuple[str, str]]:
    return [(secret, text) for text in texts for secret in secrets if secret in text]


@pytest.mark.parametrize("flow", list(FLOWS))
@pytest.mark.parametrize("adapter", names())
def test_no_secret_in_logs_errors_or_reprs(
    adapter: str,
    flow: str,
    serve: Callable[[Script], ScriptedServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = _world(serve)
    tokens = FLOWS[flow]()
    reprs: list[str] = [repr(tokens)]

    def look(client: Any) -> None:
        upscope = client.upscopes.for_url(world.url + "/ok")
        reprs.extend([repr(client), repr(client.upscopes), repr(upscope), repr(upscope.token)])
        reprs.append(repr(vars(upscope)))

    caplog.set_level(logging.DEBUG)
    outcomes = run(
        adapter,
        [Call(url=world.url + "/ok"), Call(url=world.url + "/ok"), Call(url=world.url + "/loop")],
        tokens,
        on_client=look,
    )
    first, refreshed, loop = outcomes
    assert first.ok and refreshed.ok, outcomes
    assert loop.error is not None, loop  # gave up: its message is checked below
    grants = [dict(parse_qsl(r.body.decode()))["grant_type"] for r in world.token_requests()]
    if flow != "callable":
        assert "refresh_token" in grants, grants
    if flow.startswith("authorization_code"):
        assert "authorization_code" in grants, grants
    texts = _log_texts(caplog.records) + reprs
    for outcome in outcomes:
        texts += _texts_of(outcome)
    assert any(t for t in _log_texts(caplog.records)), "the library logged nothing at DEBUG"
    assert not _leaks(texts, _secrets(world))


@pytest.mark.parametrize("adapter", names())
def test_a_refused_client_secret_is_not_quoted(
    adapter: str, serve: Callable[[Script], ScriptedServer], caplog: pytest.LogCaptureFixture
) -> None:
    world = _world(serve)
    world.table["/token"] = lambda _r: json_reply(401, {"error": "invalid_client"})
    caplog.set_level(logging.DEBUG)
    [outcome] = run(
        adapter, [Call(url=world.url + "/ok")], ClientCredentials(CLIENT_ID, CLIENT_SECRET)
    )
    assert isinstance(outcome.error, TokenRequestFailedError), outcome
    assert "invalid_client" in str(outcome.error)
    texts = _texts_of(outcome) + _log_texts(caplog.records)
    assert not _leaks(texts, _secrets(world))


# -- tokens stay with their origin ---------------------------------------------------------


def _assert_tokens_stay_home(issued: dict[str, str], *servers: ScriptedServer) -> None:
    """Every Authorization any server saw carries a token obtained for that server's
    origin (``issued``: token -> the resource it was requested for)."""
    for server in servers:
        for request in server.requests:
            authorization = request.header("authorization")
            if authorization is None:
                continue
            token = authorization.partition(" ")[2]
            resource = issued.get(token)
            assert resource is not None, f"{server.url} got a token nobody issued: {request}"
            assert resource.startswith(server.url + "/"), (
                f"{server.url} got a token obtained for {resource}"
            )


class RecordingSource:
    def __init__(self) -> None:
        self.issued: dict[str, str] = {}

    def __call__(self, request: RequestToken) -> Token:
        token = f"{ACCESS}{len(self.issued) + 1}"
        self.issued[token] = request.resource
        return Token(token)


def _bearer_resource(request: Request) -> bytes:
    if request.header("authorization"):
        return response(200, [("Content-Type", "text/plain")], b"fine")
    return response(401, [("WWW-Authenticate", 'Bearer realm="r"')])


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("adapter", names())
def test_a_redirect_to_another_origin_never_carries_the_token(
    adapter: str, status: int, serve: Callable[[Script], ScriptedServer]
) -> None:
    other = serve(_bearer_resource)  # another port: another origin (RFC 6454)
    home = serve(
        routes(
            {
                "/api": _bearer_resource,
                "/moved": lambda _r: response(status, [("Location", other.url + "/landing")]),
            }
        )
    )
    source = RecordingSource()
    first, moved = run(
        adapter,
        [Call(url=home.url + "/api"), Call(method="POST", url=home.url + "/moved", body=b"x")],
        source,
    )
    assert first.ok, first
    _assert_tokens_stay_home(source.issued, home, other)
    # requests follows redirects (without our token); the async clients deliver them
    if adapter == "requests":
        assert other.paths() == ["/landing"]
        assert other.requests[0].header("authorization") is None
    else:
        assert (moved.status_code, other.paths()) == (status, [])


@pytest.mark.parametrize("adapter", names())
def test_each_origin_gets_only_its_own_tokens(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    one, two = serve(_bearer_resource), serve(_bearer_resource)
    source = RecordingSource()
    outcomes = run(
        adapter,
        [
            Call(url=one.url + "/a"),
            Call(url=two.url + "/b"),
            Call(url=one.url + "/c"),
            Call(url=two.url + "/d"),
        ],
        source,
    )
    assert all(o.ok for o in outcomes), outcomes
    assert two.requests[0].header("authorization") is None  # no token of one's on the way
    assert len(set(source.issued.values())) == 2
    _assert_tokens_stay_home(source.issued, one, two)


def test_the_machine_hands_a_token_only_to_its_origin() -> None:
    upscope = Upscope("https://rs.example/api")
    upscope.token = Token(f"{ACCESS}machine")
    upscope.generation = 1
    for url in ("https://rs.example/other?x=1", "HTTPS://RS.EXAMPLE:443/x"):
        action = upscope.exchange("GET", url).start()
        assert isinstance(action, Send | Retry) and action.authorization is not None
    for url in (
        "http://rs.example/api",  # another scheme
        "https://rs.example:8443/api",  # another port
        "https://evil.example/api",
        "https://rs.example.evil.example/api",
        "https://rs.example@evil.example/api",  # userinfo, then the real host
    ):
        with pytest.raises(LocalProtocolError, match="cannot send its token"):
            upscope.exchange("GET", url)


@pytest.mark.parametrize("adapter", names())
def test_a_url_whose_host_parsers_disagree_on_gets_no_other_origins_token(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    """``http://127.0.0.1:OTHER\\@127.0.0.1:HOME/api``: urllib.parse reads HOME,
    requests/urllib3 read OTHER. Whichever an adapter connects to, the token it sends
    must be one obtained for that origin."""
    home, other = serve(_bearer_resource), serve(_bearer_resource)
    source = RecordingSource()
    tricky = f"http://127.0.0.1:{other.port}\\@127.0.0.1:{home.port}/api"
    first, second = run(adapter, [Call(url=home.url + "/api"), Call(url=tricky)], source)
    assert first.ok, first
    assert second.ok or second.error is not None, second
    assert home.requests[0].header("authorization") is None
    _assert_tokens_stay_home(source.issued, home, other)


# -- client secrets and plain http -------------------------------------------------------

REQUEST = RequestToken(
    scopes=frozenset({"read"}), resource="http://127.0.0.1:8000/api", reason=Reason.NO_TOKEN
)


def _first_step(token_endpoint: str, **options: Any) -> object:
    source = ClientCredentials(CLIENT_ID, CLIENT_SECRET, token_endpoint=token_endpoint, **options)
    return source.flow(REQUEST).start()


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8000/token",
        "http://127.9.9.9/token",
        "http://localhost/token",
        "http://LOCALHOST:1/token",
        "http://[::1]:8000/token",
        "https://as.example/token",
    ],
)
def test_a_client_secret_goes_to_https_or_loopback(endpoint: str) -> None:
    step = _first_step(endpoint)
    assert isinstance(step, HttpRequest), step
    assert step.url == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://as.example/token",
        "http://localhost.evil.example/token",
        "http://127.0.0.1.evil.example/token",
        "http://127.0.0.1:80@evil.example/token",  # userinfo, then the real host
        "http://0.0.0.0/token",
        "ftp://as.example/token",
    ],
)
@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_a_client_secret_never_goes_over_plain_http_elsewhere(
    endpoint: str, auth_method: str
) -> None:
    step = _first_step(endpoint, auth_method=auth_method)
    assert isinstance(step, Failed), step
    assert isinstance(step.error, MetadataError), step.error
    assert CLIENT_SECRET not in str(step.error)


@pytest.mark.parametrize(
    "endpoint",
    [
        # urllib.parse reads the host as 127.0.0.1; requests/urllib3 (RFC 3986: "\" is
        # not allowed in an authority) connect to evil.example, in plain http.
        "http://evil.example\\@127.0.0.1/token",
        "http://evil.example\\\\@localhost:8000/token",
    ],
)
def test_a_url_whose_host_parsers_disagree_on_is_refused(endpoint: str) -> None:
    import requests
    import urllib3

    prepared = requests.Request("POST", endpoint).prepare()
    assert urllib3.util.parse_url(prepared.url or "").host == "evil.example"  # where it goes
    step = _first_step(endpoint)
    assert isinstance(step, Failed), f"the secret would go to evil.example: {step!r}"
    assert isinstance(step.error, MetadataError)


def test_drive_sync_sends_nothing_to_a_plain_http_token_endpoint() -> None:
    sent: list[HttpRequest] = []

    def send(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return HttpResponse(status_code=500)

    source = ClientCredentials(CLIENT_ID, CLIENT_SECRET, token_endpoint="http://as.example/t")
    with pytest.raises(InsecureEndpointError) as caught:
        drive_sync(source, REQUEST, send=send)
    assert sent == []
    assert CLIENT_SECRET not in str(caught.value)


@pytest.mark.parametrize("adapter", names())
def test_adapters_refuse_a_plain_http_token_endpoint_before_connecting(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    resource = serve(_bearer_resource)
    source = ClientCredentials(CLIENT_ID, CLIENT_SECRET, token_endpoint="http://as.invalid/token")
    [outcome] = run(adapter, [Call(url=resource.url + "/api")], source)
    assert isinstance(outcome.error, TokenRequestFailedError), outcome
    assert isinstance(outcome.error.cause, InsecureEndpointError)
    assert resource.paths() == ["/api"]


# -- reprs of the values that hold secrets ------------------------------------------------


def test_reprs_hide_secrets() -> None:
    token = Token(f"{ACCESS}repr", refresh_token=f"{REFRESH}repr", scopes={"read"})
    request = RequestToken(
        scopes=frozenset({"read"}),
        resource="https://rs.example/api",
        reason=Reason.INVALID_TOKEN,
        current_token=token,
        can_refresh=True,
    )
    values: list[object] = [
        token,
        request,
        Send(authorization=token.authorization),
        Retry(authorization=token.authorization),
        ClientCredentials(CLIENT_ID, CLIENT_SECRET),
        AuthorizationCode(CLIENT_ID, REDIRECT_URI, client_secret=CLIENT_SECRET),
    ]
    source = ClientCredentials(CLIENT_ID, CLIENT_SECRET, token_endpoint="https://as.example/t")
    flow = source.flow(request)
    step = flow.start()
    values += [flow, step]
    assert isinstance(step, HttpRequest) and "refresh_token" in (step.body or b"").decode()
    for method in ("client_secret_post", "client_secret_basic"):
        other = ClientCredentials(
            CLIENT_ID, CLIENT_SECRET, token_endpoint="https://as.example/t", auth_method=method
        )
        values.append(other.flow(request).start())
    shown = [repr(value) for value in values] + [str(value) for value in values]
    secrets = [ACCESS, REFRESH, CLIENT_SECRET]
    assert not _leaks(shown, secrets)


# -- the CLI ------------------------------------------------------------------------------


def test_cli_request_prints_no_secret(
    serve: Callable[[Script], ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from upscope_cli.__main__ import main

    world = _world(serve)
    world.single_use = False
    monkeypatch.setenv("UPSCOPE_TEST_SECRET", CLIENT_SECRET)
    outputs: list[str] = []
    for path, expected in (("/ok", 0), ("/loop", 1)):
        stdout, stderr = io.StringIO(), io.StringIO()
        code = main(
            [
                "request",
                world.url + path,
                "--client-id",
                CLIENT_ID,
                "--client-secret-env",
                "UPSCOPE_TEST_SECRET",
                "-v",
            ],
            stdin=io.StringIO(),
            stdout=stdout,
            stderr=stderr,
        )
        assert code == expected, (stdout.getvalue(), stderr.getvalue())
        outputs += [stdout.getvalue(), stderr.getvalue()]
    assert "fine" in outputs[0]
    assert any("gave up" in text for text in outputs)
    assert world.token_requests(), "the CLI never asked for a token"
    assert not _leaks(outputs, _secrets(world))
