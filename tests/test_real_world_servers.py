"""Issue 13 over real sockets, on every adapter: the server shapes deployed in the field
that no package ships, played by the demo servers (``upscope_cli.servers``).

* a REST API whose metadata names one path prefix (``/api``) for all its URLs, and whose
  resource server demands a token whose audience (RFC 8707 ``resource``) is that prefix;
* metadata naming the whole origin (Slack's MCP server);
* two protected resources on one origin (``/mcp`` and ``/api``), each with its metadata;
* an MCP 2025-03-26 server with no metadata at all, whose origin is the authorization
  server (RFC 8414 metadata there, or only the default ``/token``);
* a resource that moves to another authorization server (SEP-2352).

Every token source here is the built-in ``ClientCredentials`` flow, run over the
adapter's own HTTP; nothing is configured but the client id and secret.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sansio_upscope import TokenRequestFailedError
from sansio_upscope.oauth import ClientCredentials, RegistrationError
from tests.driver import Call, Do, Outcome, Step, names, run
from upscope_cli.servers import AuthorizationServer, ResourceServer, Route

TIMEOUT = 30.0

ROUTES = {
    "/api/files/1": Route(scopes={"files:read"}),
    "/api/files/2": Route(scopes={"files:read"}),
    "/api/files/3": Route(scopes={"files:read"}),
    "/api/notes": Route(scopes={"notes:read"}),
    "/mcp": Route(scopes={"mcp:tools"}),
}


@pytest.fixture(params=names())
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def source(server: AuthorizationServer) -> ClientCredentials:
    return ClientCredentials(server.client_id, server.client_secret)


def ok(outcome: Outcome) -> Outcome:
    assert outcome.error is None, outcome.error
    assert outcome.status_code == 200
    return outcome


def resource_server(auth: AuthorizationServer, **options: object) -> ResourceServer:
    return ResourceServer(auth, ROUTES, check_audience=True, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["/api", ""])
def test_every_url_under_the_resource_shares_one_token(
    adapter: str, authorization_server: AuthorizationServer, prefix: str
) -> None:
    # The metadata names /api (a REST API) or the whole origin (Slack); the resource
    # server accepts only a token whose audience is exactly that resource.
    with resource_server(authorization_server, resources=(prefix,)) as rs:
        url = rs.url
        calls = [Call(url=f"{url}/api/files/{n}") for n in (1, 2, 3)]
        outcomes = run(adapter, calls, source(authorization_server), timeout=TIMEOUT)
    for outcome in outcomes:
        ok(outcome)
    [record] = authorization_server.token_requests
    assert record.resource == url + prefix  # RFC 8707: the metadata's resource
    # One 401 to learn, then every call carried the token.
    assert [seen.authorization is None for seen in rs.requests] == [True, False, False, False]


def test_two_resources_on_one_origin_get_one_token_each(
    adapter: str, authorization_server: AuthorizationServer
) -> None:
    with resource_server(authorization_server, resources=("/mcp", "/api")) as rs:
        url = rs.url
        calls = [
            Call(url=url + "/mcp"),
            Call(url=url + "/api/notes"),
            Call(url=url + "/mcp"),
            Call(url=url + "/api/notes"),
            Call(url=url + "/api/files/1"),
        ]
        outcomes = run(adapter, calls, source(authorization_server), timeout=TIMEOUT)
    for outcome in outcomes:
        ok(outcome)
    assert [r.resource for r in authorization_server.token_requests] == [
        url + "/mcp",
        url + "/api",
        url + "/api",  # a step-up: /api/files/1 needs files:read besides notes:read
    ]
    # No 401 ping-pong: after learning, each resource got its own token straight away.
    unauthorized = [seen.path for seen in rs.requests if seen.authorization is None]
    assert unauthorized == ["/mcp", "/api/notes"]
    mcp_tokens = {seen.authorization for seen in rs.requests_to("/mcp")} - {None}
    api_tokens = {seen.authorization for seen in rs.requests_to("/api/notes")} - {None}
    assert len(mcp_tokens) == 1 and len(api_tokens) == 1 and mcp_tokens != api_tokens


@pytest.mark.parametrize("authorization_base", ["metadata", "defaults"])
def test_without_metadata_the_origin_is_the_authorization_server(
    adapter: str, authorization_server: AuthorizationServer, authorization_base: str
) -> None:
    # MCP 2025-03-26: no protected resource metadata; RFC 8414 metadata at the origin,
    # or nothing at all and the default /token there.
    with ResourceServer(
        authorization_server,
        ROUTES,
        resources=(),
        authorization_base=authorization_base,  # type: ignore[arg-type]
    ) as rs:
        calls = [Call(url=rs.url + "/mcp"), Call(url=rs.url + "/api/notes")]
        outcomes = run(adapter, calls, source(authorization_server), timeout=TIMEOUT)
    for outcome in outcomes:
        ok(outcome)
    # One token for the origin (no metadata named a narrower resource), stepped up once.
    assert [r.scopes for r in authorization_server.token_requests] == [
        {"mcp:tools"},
        {"mcp:tools", "notes:read"},
    ]


def test_without_metadata_or_server_the_error_says_what_was_tried(
    adapter: str, authorization_server: AuthorizationServer
) -> None:
    with ResourceServer(authorization_server, ROUTES, resources=()) as rs:
        url = rs.url
        [outcome] = run(
            adapter, [Call(url=url + "/mcp")], source(authorization_server), timeout=TIMEOUT
        )
    assert isinstance(outcome.error, TokenRequestFailedError)
    message = str(outcome.error)
    assert "publishes no protected resource metadata" in message
    assert "MCP 2025-03-26" in message and f"{url}/token" in message
    assert authorization_server.token_requests == []


@pytest.fixture
def second_server() -> Iterator[AuthorizationServer]:
    with AuthorizationServer(client_id="as2-client", client_secret="as2-secret") as server:
        yield server


def test_a_resource_that_moves_gets_none_of_the_old_servers_credentials(
    adapter: str, authorization_server: AuthorizationServer, second_server: AuthorizationServer
) -> None:
    # SEP-2352: the metadata, at the same URL, now names AS2, which does not know the
    # token: 401. The client fetches the metadata again and follows it, but the client id
    # and secret were used at AS1: they are not sent to AS2, and the request gives up.
    with resource_server(authorization_server, resources=("/mcp",)) as rs:

        def move() -> None:
            rs.authorization_server = second_server

        calls: list[Step] = [Call(url=rs.url + "/mcp"), Do(move), Call(url=rs.url + "/mcp")]
        first, _, second = run(adapter, calls, source(authorization_server), timeout=TIMEOUT)
    ok(first)
    assert isinstance(second.error, TokenRequestFailedError)
    assert isinstance(second.error.cause, RegistrationError)
    assert second_server.issuer in str(second.error) and "SEP-2352" in str(second.error)
    assert second_server.token_requests == []
    assert len(authorization_server.token_requests) == 1
