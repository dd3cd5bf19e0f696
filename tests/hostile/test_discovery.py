"""A malicious resource server choosing ``resource_metadata`` (RFC 9728 §7.3, §7.4, §7.7),
through every adapter, with ``ClientCredentials`` discovering everything.

``/hostile`` answers 401 with a chosen ``resource_metadata``. The token source must refuse
what RFC 9728 §3.3 forbids, before any request to an authorization server and without
sending the client secret anywhere; the next request (``/ok``) must still work.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sansio_upscope import TokenRequestFailedError
from sansio_upscope.oauth import ClientCredentials, InsecureEndpointError, MetadataError
from tests.driver import Call, Outcome, names, run

from .expect import assert_typed_error
from .server import Reply, Request, ScriptedServer, response
from .world import OAuthWorld, json_reply

Script = Callable[[Request], Reply | bytes]
SECRET = "discovery-client-secret-91c2"


def _run(adapter: str, world: OAuthWorld) -> tuple[Outcome, Outcome]:
    tokens = ClientCredentials("hostile-client", SECRET)
    first, second = run(
        adapter, [Call(url=world.url + "/hostile"), Call(url=world.url + "/ok")], tokens
    )
    return first, second


def _no_secret_sent(*servers: ScriptedServer, allowed_paths: frozenset[str]) -> None:
    for server in servers:
        for request in server.requests:
            if request.path in allowed_paths:
                continue
            # the client authenticates with client_secret_basic (RFC 6749 §2.3.1)
            authorization = request.header("authorization") or ""
            assert not authorization.lower().startswith("basic"), request
            assert SECRET.encode() not in request.body, request
            assert SECRET not in request.target, request


def _refused(first: Outcome, kind: type[BaseException]) -> BaseException:
    error = assert_typed_error(first, TokenRequestFailedError)
    cause = getattr(error, "cause", None)
    assert isinstance(cause, kind), repr(cause)
    assert SECRET not in str(error)
    return cause


@pytest.mark.parametrize("adapter", names())
def test_metadata_on_another_host_for_another_resource_is_refused(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    evil_table: dict[str, Script] = {}
    evil = serve(lambda request: evil_table[request.path](request))
    # The metadata names the other host's resource and that host as the authorization
    # server: RFC 9728 §3.3 says its data MUST NOT be used.
    evil_table["/prm"] = lambda _r: json_reply(
        200, {"resource": evil.url + "/api", "authorization_servers": [evil.url]}
    )
    world.table["/hostile"] = lambda _r: response(
        401, [("WWW-Authenticate", f'Bearer resource_metadata="{evil.url}/prm"')]
    )
    first, second = _run(adapter, world)
    _refused(first, MetadataError)
    assert evil.paths() == ["/prm"]  # fetched once, nothing else asked of that host
    assert world.server.paths()[:2] == ["/hostile", "/ok"]  # no token request for it
    assert world.server.count("/hostile") == 1
    _no_secret_sent(world.server, allowed_paths=frozenset({"/token"}))
    _no_secret_sent(evil, allowed_paths=frozenset())
    assert second.ok, second


@pytest.mark.parametrize("adapter", names())
def test_metadata_on_another_host_naming_this_resource_is_used_with_this_resource(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    """RFC 9728 allows metadata on another host; the token is still asked for this
    resource (RFC 8707 ``resource``), so the other host cannot get a token for itself."""
    world = OAuthWorld(serve)
    other = serve(
        lambda _r: json_reply(
            200, {"resource": world.url + "/hostile", "authorization_servers": [world.url]}
        )
    )
    world.table["/hostile"] = lambda request: (
        world.protected(request)
        if request.header("authorization")
        else response(401, [("WWW-Authenticate", f'Bearer resource_metadata="{other.url}/prm"')])
    )
    first, second = _run(adapter, world)
    assert first.ok, first
    [token_request, *_] = world.token_requests()
    assert f"resource={world.url}/hostile".replace(":", "%3A").replace("/", "%2F") in (
        token_request.body.decode()
    )
    assert other.paths() == ["/prm"]
    _no_secret_sent(other, allowed_paths=frozenset())
    assert second.ok, second


@pytest.mark.parametrize("adapter", names())
def test_plain_http_metadata_on_a_non_loopback_host_is_never_fetched(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    world.table["/hostile"] = lambda _r: response(
        401,
        [("WWW-Authenticate", 'Bearer resource_metadata="http://metadata.invalid/prm"')],
    )
    first, second = _run(adapter, world)
    _refused(first, InsecureEndpointError)
    assert world.server.paths()[:1] == ["/hostile"]
    assert world.server.count("/hostile") == 1
    assert second.ok, second


@pytest.mark.parametrize("adapter", names())
def test_metadata_whose_resource_does_not_match_is_refused(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    world.table["/hostile"] = lambda _r: world.challenge("/hostile")
    world.table["/prm/hostile"] = world.metadata_for(
        "/hostile", resource="https://victim.example/api"
    )
    first, second = _run(adapter, world)
    _refused(first, MetadataError)
    # nothing after the metadata: no authorization server metadata, no token request
    assert world.server.paths()[:2] == ["/hostile", "/prm/hostile"]
    assert "/token" not in world.server.paths()[:3]
    _no_secret_sent(world.server, allowed_paths=frozenset({"/token"}))
    assert second.ok, second


@pytest.mark.parametrize("adapter", names())
def test_metadata_naming_a_plain_http_authorization_server_is_refused(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    world.table["/hostile"] = lambda _r: world.challenge("/hostile")
    world.table["/prm/hostile"] = lambda _r: json_reply(
        200,
        {"resource": world.url + "/hostile", "authorization_servers": ["http://as.invalid"]},
    )
    first, second = _run(adapter, world)
    _refused(first, InsecureEndpointError)
    assert world.server.paths()[:3] == ["/hostile", "/prm/hostile", "/ok"]
    assert second.ok, second


@pytest.mark.parametrize("adapter", names())
def test_authorization_server_with_a_plain_http_token_endpoint_never_gets_the_secret(
    adapter: str, serve: Callable[[Script], ScriptedServer]
) -> None:
    world = OAuthWorld(serve)
    issuer_table: dict[str, Script] = {}
    issuer = serve(lambda request: issuer_table[request.path](request))
    issuer_table["/.well-known/oauth-authorization-server"] = lambda _r: json_reply(
        200, {"issuer": issuer.url, "token_endpoint": "http://as.invalid/token"}
    )
    world.table["/hostile"] = lambda _r: world.challenge("/hostile")
    world.table["/prm/hostile"] = lambda _r: json_reply(
        200, {"resource": world.url + "/hostile", "authorization_servers": [issuer.url]}
    )
    first, second = _run(adapter, world)
    _refused(first, InsecureEndpointError)
    assert issuer.paths() == ["/.well-known/oauth-authorization-server"]
    _no_secret_sent(issuer, allowed_paths=frozenset())
    assert second.ok, second
