"""Rule 11: a protected resource is what its metadata names.

The covering rule (same origin, path prefix on a segment boundary), what ``Upscopes``
learns from ``Token.resource``, the flows' acceptance of metadata naming a wider
resource (and the strict option), the MCP 2025-03-26 fallback when no metadata exists,
and an authorization server that moves (SEP-2352). Driven by hand, no sockets.
"""

from __future__ import annotations

import json
import logging

import pytest

from sansio_upscope import (
    Reason,
    RequestToken,
    ResponseReceived,
    Retry,
    Send,
    Token,
    TokenIssued,
    Upscopes,
)
from sansio_upscope._urls import covers
from sansio_upscope.oauth import (
    AuthorizationCode,
    ClientCredentials,
    HttpRequest,
    InMemoryClientStore,
    MetadataError,
    OpenAuthorizationUrl,
    TokenEndpointError,
)
from tests.test_oauth_authorization_code import redirect
from tests.test_oauth_support import (
    ASM_URL,
    ISSUER,
    REDIRECT,
    TOKEN_URL,
    asm,
    failed,
    finished,
    form,
    json_response,
    not_found,
    query,
    request_token,
    run,
    token_json,
)

API = "https://api.example"


@pytest.mark.parametrize(
    ("resource", "url", "covered"),
    [
        (API + "/api", API + "/api", True),
        (API + "/api", API + "/api/files/1", True),
        (API + "/api", API + "/api/", True),
        (API + "/api", API + "/apix", False),  # not on a segment boundary
        (API + "/api/", API + "/api", True),
        (API, API + "/anything/at/all", True),
        (API + "/", API, True),
        (API + "/api", "https://API.example:443/api/x", True),  # the same origin
        (API + "/api", "http://api.example/api/x", False),  # another scheme
        (API + "/api", "https://api.example:8443/api/x", False),  # another port
        (API + "/api", "https://evil.example/api/x", False),
        (API + "/api", API + "/api/../admin", False),  # resolved away from /api
        (API + "/api", API + "/api/%2E%2E/admin", False),
        (API + "/API", API + "/api/x", False),  # code point by code point (RFC 9728 §6)
        (API + "/api", API + "/api/x?q=1", True),
        ("urn:example:api", API + "/api", False),
        (API + "/api", "ftp://api.example/api", False),
    ],
)
def test_what_a_resource_covers(resource: str, url: str, covered: bool) -> None:
    assert covers(resource, url) is covered


def test_a_token_names_an_http_resource() -> None:
    assert Token("t", resource=API + "/api").covers(API + "/api/x")
    assert not Token("t", resource=API + "/api").covers(API + "/mcp")
    assert Token("t").covers("https://anything.example/")  # the origin check decides
    with pytest.raises(ValueError, match="http"):
        Token("t", resource="urn:example:api")


# -- Upscopes learns resources from tokens ---------------------------------------------

UNAUTHORIZED = ResponseReceived(status_code=401, headers=[("WWW-Authenticate", "Bearer")])
OK = ResponseReceived(status_code=200, headers=[])


def first_token(upscopes: Upscopes, url: str, token: Token) -> None:
    """One request to ``url`` that meets a 401 and gets ``token``."""
    exchange = upscopes.for_url(url).exchange("GET", url)
    assert exchange.start() == Send(authorization=None)
    assert isinstance(exchange.receive(UNAUTHORIZED), RequestToken)
    assert isinstance(exchange.receive(TokenIssued(token=token)), Retry)
    exchange.receive(OK)


def test_every_url_under_a_resource_shares_its_token() -> None:
    upscopes = Upscopes()
    first_token(upscopes, API + "/api/files/1", Token("T-api", resource=API + "/api"))
    upscope = upscopes.for_url(API + "/api/files/1")
    for n in (2, 3):
        assert upscopes.for_url(f"{API}/api/files/{n}") is upscope
        exchange = upscope.exchange("GET", f"{API}/api/files/{n}")
        assert exchange.start() == Send(authorization="Bearer T-api")
    # Outside the resource: another Upscope, and the token is not sent there.
    other = upscopes.for_url(API + "/apix")
    assert other is not upscope and other.token is None
    assert len(upscopes) == 2


def test_two_resources_on_one_origin_get_one_token_each() -> None:
    upscopes = Upscopes()
    first_token(upscopes, API + "/mcp", Token("T-mcp", resource=API + "/mcp"))
    first_token(upscopes, API + "/api/notes", Token("T-api", resource=API + "/api"))
    # From now on each URL goes straight to its own token: no 401 ping-pong.
    for _ in range(2):
        for url, token in ((API + "/mcp", "T-mcp"), (API + "/api/notes/7", "T-api")):
            exchange = upscopes.for_url(url).exchange("POST", url)
            assert exchange.start() == Send(authorization=f"Bearer {token}")
    assert upscopes.for_url(API + "/mcp").token_requests_finished == 1
    assert upscopes.for_url(API + "/api").token_requests_finished == 1


def test_the_longest_learned_resource_wins() -> None:
    # A server whose metadata names the whole origin, and /files with its own metadata.
    upscopes = Upscopes()
    first_token(upscopes, API + "/", Token("T-all", resource=API))
    whole = upscopes.for_url(API + "/files/x")
    exchange = whole.exchange("GET", API + "/files/x")
    assert exchange.start() == Send(authorization="Bearer T-all")
    assert isinstance(exchange.receive(UNAUTHORIZED), RequestToken)
    exchange.receive(TokenIssued(token=Token("T-files", resource=API + "/files")))
    # The Upscope is filed under /files now; the rest of the origin learns again.
    first_token(upscopes, API + "/other", Token("T-all-2", resource=API))
    assert upscopes.for_url(API + "/files/y") is whole
    rest = upscopes.for_url(API + "/other")
    assert rest is not whole and upscopes.for_url(API + "/") is rest
    assert rest.token is not None and rest.token.access_token == "T-all-2"


def test_a_token_is_never_sent_outside_the_resource_it_was_issued_for() -> None:
    # Two requests under way on the origin's Upscope before anything was learned: the
    # token the first one obtains (for /mcp) is not sent with the second (to /api).
    upscopes = Upscopes()
    upscope = upscopes.for_url(API + "/mcp")
    mcp = upscope.exchange("GET", API + "/mcp")
    api = upscope.exchange("GET", API + "/api/x")
    mcp.start(), api.start()
    assert isinstance(mcp.receive(UNAUTHORIZED), RequestToken)
    api.receive(UNAUTHORIZED)  # waits: one token request at a time (rule 5)
    mcp.receive(TokenIssued(token=Token("T-mcp", resource=API + "/mcp")))
    # The token held is for /mcp: /api asks for its own instead of retrying with it.
    request = api.resume()
    assert isinstance(request, RequestToken) and request.resource == API + "/api/x"
    assert api.receive(TokenIssued(token=Token("T-api", resource=API + "/api"))) == Retry(
        authorization="Bearer T-api"
    )
    # /mcp's next request: its token was replaced; it is sent without one, never with /api's.
    again = upscope.exchange("GET", API + "/mcp")
    assert again.start() == Send(authorization=None)
    # Upscopes files the Upscope under the resource its token now names.
    assert upscopes.for_url(API + "/api/y") is upscope
    assert upscopes.for_url(API + "/mcp") is not upscope


def test_a_learned_upscope_is_refiled_when_its_token_names_another_resource() -> None:
    upscopes = Upscopes()
    first_token(upscopes, API + "/mcp", Token("T-mcp", resource=API + "/mcp"))
    upscope = upscopes.for_url(API + "/other")  # learns /mcp, gives the origin a new one
    mcp = upscopes.for_url(API + "/mcp")
    exchange = mcp.exchange("GET", API + "/mcp")
    exchange.start()
    exchange.receive(UNAUTHORIZED)
    exchange.receive(TokenIssued(token=Token("T-wide", resource=API + "/mcp/v2")))
    assert upscopes.for_url(API + "/mcp/v2/x") is mcp
    assert upscopes.for_url(API + "/mcp") is upscope  # /mcp itself: not covered any more


# -- the flows: which metadata is accepted, what the token request names ---------------

HEADER_PRM = API + "/.well-known/oauth-protected-resource/api"


def prm_for(resource: str | None) -> dict[str, object]:
    return {"resource": resource, "authorization_servers": [ISSUER]}


@pytest.mark.parametrize("named", [API, API + "/", API + "/api", API + "/api/"])
def test_metadata_naming_a_covering_resource_is_accepted(named: str) -> None:
    rt = request_token(resource=API + "/api/files/1", resource_metadata=HEADER_PRM)
    step, sent = run(
        ClientCredentials("agent", "s3cret").flow(rt),
        [
            ("GET", HEADER_PRM, json_response(prm_for(named))),
            ("GET", ASM_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    # RFC 8707: the token request names the metadata's resource, and so does the token.
    assert form(sent[-1])["resource"] == named
    assert finished(step).resource == named


@pytest.mark.parametrize(
    "named", [API + "/apix", "https://evil.example/api", "http://api.example/api", None]
)
def test_metadata_naming_another_resource_is_refused_before_any_server(
    named: str | None,
) -> None:
    rt = request_token(resource=API + "/api/files/1", resource_metadata=HEADER_PRM)
    step, sent = run(
        ClientCredentials("agent", "s3cret").flow(rt),
        [("GET", HEADER_PRM, json_response(prm_for(named)))],
    )
    error = failed(step, MetadataError)
    assert "nothing was sent to any authorization server" in str(error)
    assert "RFC 9728 §3.3, §7.3" in str(error) and len(sent) == 1


def test_strict_resource_accepts_only_the_url_called() -> None:
    source = ClientCredentials("agent", "s3cret", strict_resource=True)
    rt = request_token(resource=API + "/api", resource_metadata=HEADER_PRM)
    step, _ = run(source.flow(rt), [("GET", HEADER_PRM, json_response(prm_for(API)))])
    assert "strict_resource=True" in str(failed(step, MetadataError))
    step, _ = run(
        source.flow(rt),
        [
            ("GET", HEADER_PRM, json_response(prm_for(API + "/api"))),
            ("GET", ASM_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    assert finished(step).resource == API + "/api"
    # Cached for that exact resource only.
    assert isinstance(source.flow(request_token(resource=API + "/api")).start(), HttpRequest)
    step = source.flow(request_token(resource=API + "/api/x")).start()
    assert isinstance(step, HttpRequest) and step.method == "GET"


def test_metadata_is_cached_for_every_url_it_covers() -> None:
    source = ClientCredentials("agent", "s3cret")
    rt = request_token(resource=API + "/api/files/1", resource_metadata=HEADER_PRM)
    run(
        source.flow(rt),
        [
            ("GET", HEADER_PRM, json_response(prm_for(API + "/api"))),
            ("GET", ASM_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    step = source.flow(request_token(resource=API + "/api/files/2")).start()
    assert isinstance(step, HttpRequest) and step.url == TOKEN_URL
    assert form(step)["resource"] == API + "/api"


# -- MCP 2025-03-26: no metadata, the origin is the authorization server ---------------

PRM_INSERTED = API + "/.well-known/oauth-protected-resource/mcp"
PRM_ROOT = API + "/.well-known/oauth-protected-resource"
ORIGIN_ASM = API + "/.well-known/oauth-authorization-server"


def test_without_metadata_the_origin_serves_rfc8414_metadata(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = ClientCredentials("agent", "s3cret")
    origin_server = asm(API, token_endpoint=API + "/oauth/token")
    with caplog.at_level(logging.DEBUG, logger="sansio_upscope.oauth"):
        step, sent = run(
            source.flow(request_token(resource=API + "/mcp")),
            [
                ("GET", PRM_INSERTED, not_found()),
                ("GET", PRM_ROOT, not_found()),
                ("GET", ORIGIN_ASM, json_response(origin_server)),
                ("POST", API + "/oauth/token", json_response(token_json())),
            ],
        )
    token = finished(step)
    assert token.resource is None  # no metadata named a resource: the origin (rule 10)
    assert form(sent[-1])["resource"] == API + "/mcp"
    assert "using its origin https://api.example as the authorization server" in caplog.text
    # Remembered: the next token request goes straight to the token endpoint.
    step = source.flow(request_token(resource=API + "/mcp")).start()
    assert isinstance(step, HttpRequest) and step.url == API + "/oauth/token"


def test_without_any_metadata_the_default_endpoints_are_used() -> None:
    source = AuthorizationCode(redirect_uri=REDIRECT)
    step, _ = run(
        source.flow(request_token(resource=API + "/mcp")),
        [
            ("GET", PRM_INSERTED, not_found()),
            ("GET", PRM_ROOT, not_found()),
            ("GET", ORIGIN_ASM, not_found()),
            ("GET", API + "/.well-known/openid-configuration", not_found()),
            ("POST", API + "/register", json_response({"client_id": "dyn"}, status=201)),
        ],
    )
    assert isinstance(step, OpenAuthorizationUrl)
    assert step.url.startswith(API + "/authorize?")
    assert query(step.url)["code_challenge_method"] == "S256"


def test_a_refused_document_is_no_reason_to_fall_back() -> None:
    # A document naming another origin stops the flow: the origin is not tried as the
    # authorization server instead (RFC 9728 §7.3).
    step, sent = run(
        ClientCredentials("agent", "s3cret").flow(request_token(resource=API + "/mcp")),
        [("GET", PRM_INSERTED, json_response(prm_for("https://evil.example/mcp")))],
    )
    failed(step, MetadataError)
    assert len(sent) == 1


def test_an_error_after_the_fallback_says_so() -> None:
    source = ClientCredentials("agent", "s3cret")
    step, _ = run(
        source.flow(request_token(resource=API + "/mcp")),
        [
            ("GET", PRM_INSERTED, not_found()),
            ("GET", PRM_ROOT, not_found()),
            ("GET", ORIGIN_ASM, json_response(asm(API, token_endpoint=API + "/token"))),
            ("POST", API + "/token", json_response({"error": "invalid_client"}, status=401)),
        ],
    )
    error = failed(step, TokenEndpointError)
    assert "publishes no protected resource metadata" in str(error)
    assert f"{PRM_ROOT} answered HTTP 404" in str(error) and "MCP 2025-03-26" in str(error)
    assert str(error).count("MCP 2025-03-26") == 1


# -- SEP-2352: the resource moves to another authorization server ----------------------

AS2 = "https://as2.example"


def asm2() -> dict[str, object]:
    return asm(
        AS2,
        token_endpoint=AS2 + "/token",
        authorization_endpoint=AS2 + "/authorize",
        registration_endpoint=AS2 + "/register",
    )


def test_a_moved_resource_gets_a_new_registration_and_a_new_grant() -> None:
    store = InMemoryClientStore()
    source = AuthorizationCode(redirect_uri=REDIRECT, client_store=store)
    header = f'Bearer error="invalid_token", resource_metadata="{PRM_INSERTED}"'
    # First: AS1, a registration there, a token with a refresh token.
    flow = source.flow(request_token(resource=API + "/mcp"))
    step, _ = run(
        flow,
        [
            ("GET", PRM_INSERTED, json_response(prm_for(API + "/mcp"))),
            ("GET", ASM_URL, json_response(asm(registration_endpoint=ISSUER + "/register"))),
            ("POST", ISSUER + "/register", json_response({"client_id": "as1-client"}, 201)),
        ],
    )
    assert isinstance(step, OpenAuthorizationUrl)
    code = flow.receive(redirect(step))
    held = finished(flow.receive(json_response(token_json(refresh_token="RT-as1-secret"))))
    assert isinstance(code, HttpRequest) and held.resource == API + "/mcp"
    # Then a 401 for that token: the metadata is fetched again, from the same URL, and
    # now names AS2. A new registration there, a new grant; nothing of AS1's goes to AS2.
    rejected = request_token(
        resource=API + "/mcp",
        header=header,
        resource_metadata=PRM_INSERTED,
        can_refresh=True,
        current_token=held,
        reason=Reason.INVALID_TOKEN,
    )
    flow = source.flow(rejected)
    moved = {"resource": API + "/mcp", "authorization_servers": [AS2]}
    step, sent = run(
        flow,
        [
            ("GET", PRM_INSERTED, json_response(moved)),
            ("GET", AS2 + "/.well-known/oauth-authorization-server", json_response(asm2())),
            ("POST", AS2 + "/register", json_response({"client_id": "as2-client"}, 201)),
        ],
    )
    assert isinstance(step, OpenAuthorizationUrl) and step.url.startswith(AS2 + "/authorize?")
    assert query(step.url)["client_id"] == "as2-client"
    exchange = flow.receive(redirect(step))
    assert isinstance(exchange, HttpRequest) and exchange.url == AS2 + "/token"
    sent.append(exchange)
    for request in sent:
        text = (request.body or b"").decode() + request.url + str(request.headers)
        assert "as1-client" not in text and "RT-as1-secret" not in text
    assert form(exchange)["grant_type"] == "authorization_code"
    # The old registration stays stored for the old server.
    old, new = store.get(ISSUER), store.get(AS2)
    assert old is not None and old.client_id == "as1-client"
    assert new is not None and new.client_id == "as2-client"


def test_a_configured_client_id_registers_anew_at_a_new_server() -> None:
    source = AuthorizationCode("configured-app", REDIRECT)
    flow = source.flow(request_token(resource=API + "/mcp"))
    step, _ = run(
        flow,
        [
            ("GET", PRM_INSERTED, json_response(prm_for(API + "/mcp"))),
            ("GET", ASM_URL, json_response(asm())),
        ],
    )
    assert isinstance(step, OpenAuthorizationUrl)
    assert query(step.url)["client_id"] == "configured-app"
    moved = {"resource": API + "/mcp", "authorization_servers": [AS2]}
    rejected = request_token(
        resource=API + "/mcp",
        current_token=Token("old", resource=API + "/mcp"),
        reason=Reason.INVALID_TOKEN,
    )
    step, _ = run(
        source.flow(rejected),
        [
            ("GET", PRM_INSERTED, json_response(moved)),
            ("GET", AS2 + "/.well-known/oauth-authorization-server", json_response(asm2())),
        ],
    )
    assert isinstance(step, HttpRequest) and step.url == AS2 + "/register"
    assert b"configured-app" not in (step.body or b"")
    assert json.loads(step.body or b"{}")["token_endpoint_auth_method"] == "none"
