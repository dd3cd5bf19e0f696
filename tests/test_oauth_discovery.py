"""Discovery: RFC 9728 protected resource metadata and RFC 8414 / OIDC server metadata,
driven by hand through a ClientCredentials flow (golden request/response scripts)."""

from __future__ import annotations

import pytest

from sansio_upscope.oauth import (
    ClientCredentials,
    HttpRequest,
    HttpResponse,
    InsecureEndpointError,
    MetadataError,
    TokenEndpointError,
)
from sansio_upscope.oauth._urls import (
    authorization_server_metadata_urls,
    check_url,
    is_loopback,
    protected_resource_metadata_urls,
)
from tests.test_oauth_support import (
    ASM_URL,
    ISSUER,
    OIDC_URL,
    PRM_ROOT,
    PRM_URL,
    RS,
    TOKEN_URL,
    asm,
    failed,
    finished,
    form,
    json_response,
    not_found,
    prm,
    request_token,
    run,
    token_json,
)

HEADER_PRM = "https://rs.example/meta/prm.json"


def source() -> ClientCredentials:
    return ClientCredentials("agent", "s3cret")


def test_full_discovery_from_the_challenge_url() -> None:
    rt = request_token(
        ["read", "write"],
        header=f'Bearer error="insufficient_scope", scope="read write", '
        f'resource_metadata="{HEADER_PRM}"',
        resource_metadata=HEADER_PRM,
    )
    step, sent = run(
        source().flow(rt, now=1000.0),
        [
            ("GET", HEADER_PRM, json_response(prm(scopes_supported=["read", "write", "x"]))),
            ("GET", ASM_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    token = finished(step)
    assert token.scopes == frozenset(
        {"read", "write"}
    )  # challenge named scopes: no scopes_supported
    assert token.expires_at == 4600.0
    assert sent[0].header("accept") == "application/json"
    assert form(sent[2])["resource"] == RS


def test_resource_metadata_falls_back_path_inserted_then_root() -> None:
    rt = request_token(resource_metadata=HEADER_PRM)
    step, _ = run(
        source().flow(rt),
        [
            ("GET", HEADER_PRM, not_found()),
            ("GET", PRM_URL, HttpResponse(status_code=200, body=b"<html>")),
            ("GET", PRM_ROOT, json_response(prm("https://rs.example/"))),
            ("GET", ASM_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    finished(step)


def test_root_metadata_gives_the_origin_as_resource_indicator() -> None:
    step, sent = run(
        source().flow(request_token()),
        [
            ("GET", PRM_URL, not_found()),
            ("GET", PRM_ROOT, json_response(prm("https://rs.example"))),
            ("GET", ASM_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    finished(step)
    assert form(sent[-1])["resource"] == "https://rs.example"


def test_resource_at_the_root_is_looked_up_once_then_its_origin_is_the_server() -> None:
    # MCP 2025-03-26: no protected resource metadata at all; the origin is the
    # authorization base URL: RFC 8414 metadata there, else the default endpoints.
    rt = request_token(resource="https://rs.example/")
    origin_asm = "https://rs.example/.well-known/oauth-authorization-server"
    origin_oidc = "https://rs.example/.well-known/openid-configuration"
    flow = ClientCredentials("agent", "s3cret").flow(rt)
    step, _ = run(
        flow,
        [
            ("GET", PRM_ROOT, not_found()),
            ("GET", origin_asm, not_found()),
            ("GET", origin_oidc, not_found()),
        ],
    )
    assert isinstance(step, HttpRequest) and step.url == "https://rs.example/token"
    refused = flow.receive(json_response({"error": "invalid_client"}, status=401))
    error = failed(refused, TokenEndpointError)
    # The error says that the origin stood in for the authorization server, and why.
    assert "publishes no protected resource metadata" in str(error)
    assert f"{PRM_ROOT} answered HTTP 404" in str(error)
    assert "MCP 2025-03-26" in str(error) and "default endpoints" in str(error)


@pytest.mark.parametrize(
    ("header_url", "first_url", "document_resource"),
    [
        (HEADER_PRM, HEADER_PRM, "https://rs.example/other"),  # §3.3: must be the request URL
        (None, PRM_URL, "https://attacker.example/mcp"),  # §3.3: must be the prefix used
        (None, PRM_URL, None),
    ],
)
def test_resource_mismatch_is_refused_and_nothing_reaches_the_server(
    header_url: str | None, first_url: str, document_resource: str | None
) -> None:
    rt = request_token(resource_metadata=header_url)
    step, sent = run(source().flow(rt), [("GET", first_url, json_response(prm(document_resource)))])
    error = failed(step, MetadataError)
    assert "RFC 9728 §3.3" in str(error) and "nothing was sent" in str(error)
    assert len(sent) == 1


def test_metadata_without_authorization_servers_is_refused() -> None:
    step, _ = run(
        source().flow(request_token()),
        [("GET", PRM_URL, json_response({"resource": RS, "authorization_servers": []}))],
    )
    assert "names no authorization_servers" in str(failed(step, MetadataError))


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (prm(authorization_servers="https://as.example"), "not a list of strings"),
        (prm(resource=["x"]), "not a string"),
    ],
)
def test_malformed_resource_metadata_members(document: dict[str, object], problem: str) -> None:
    step, _ = run(source().flow(request_token()), [("GET", PRM_URL, json_response(document))])
    assert problem in str(failed(step, MetadataError))


@pytest.mark.parametrize(
    ("issuer", "urls"),
    [
        (
            "https://as.example/tenant1",
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/.well-known/openid-configuration/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration",
            ],
        ),
        (ISSUER, [ASM_URL, OIDC_URL]),
        (ISSUER + "/", [ASM_URL, OIDC_URL]),
    ],
)
def test_server_metadata_discovery_order(issuer: str, urls: list[str]) -> None:
    assert authorization_server_metadata_urls(issuer) == urls
    flow = ClientCredentials("agent", issuer=issuer).flow(request_token())
    script = [("GET", url, not_found()) for url in urls]
    step, _ = run(flow, script)
    error = failed(step, MetadataError)
    assert all(url in str(error) for url in urls)


def test_server_metadata_falls_back_to_openid_configuration() -> None:
    step, _ = run(
        ClientCredentials("agent", issuer=ISSUER).flow(request_token()),
        [
            ("GET", ASM_URL, HttpResponse(status_code=200, body=b"[1]")),
            ("GET", OIDC_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    finished(step)


def test_issuer_mismatch_is_refused() -> None:
    step, sent = run(
        source().flow(request_token()),
        [
            ("GET", PRM_URL, json_response(prm())),
            ("GET", ASM_URL, json_response(asm("https://evil.example"))),
        ],
    )
    error = failed(step, MetadataError)
    assert "RFC 8414 §3.3" in str(error) and "'https://evil.example'" in str(error)
    assert len(sent) == 2


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (asm(token_endpoint=None), "has no token_endpoint"),
        (asm(token_endpoint="http://as.example/token"), "plain http"),
        (asm(registration_endpoint="ftp://as.example/r"), "not an absolute http(s) URL"),
        (asm(code_challenge_methods_supported="S256"), "not a list of strings"),
    ],
)
def test_invalid_server_metadata(document: dict[str, object], problem: str) -> None:
    step, _ = run(
        ClientCredentials("agent", issuer=ISSUER).flow(request_token()),
        [("GET", ASM_URL, json_response(document))],
    )
    assert problem in str(failed(step, MetadataError))


def test_metadata_is_cached_and_rediscovered_when_the_challenge_names_new_metadata() -> None:
    cc = source()
    finished(
        run(
            cc.flow(request_token()),
            [
                ("GET", PRM_URL, json_response(prm())),
                ("GET", ASM_URL, json_response(asm())),
                ("POST", TOKEN_URL, json_response(token_json())),
            ],
        )[0]
    )
    # Same resource, no new metadata URL: straight to the token endpoint.
    finished(run(cc.flow(request_token()), [("POST", TOKEN_URL, json_response(token_json()))])[0])
    # The challenge names the cached URL: still cached.
    rt = request_token(resource_metadata=PRM_URL)
    finished(run(cc.flow(rt), [("POST", TOKEN_URL, json_response(token_json()))])[0])
    # RFC 9728 §5.2: a new resource_metadata URL means new metadata: fetch it.
    rt = request_token(resource_metadata=HEADER_PRM)
    step, _ = run(
        cc.flow(rt),
        [
            ("GET", HEADER_PRM, json_response(prm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    finished(step)


@pytest.mark.parametrize(
    ("rt_kwargs", "problem"),
    [
        ({"resource_metadata": "http://rs.example/prm"}, InsecureEndpointError),
        ({"resource": "http://rs.example/mcp"}, InsecureEndpointError),
        ({"resource_metadata": "file:///etc/passwd"}, MetadataError),
    ],
)
def test_insecure_metadata_urls_are_not_fetched(
    rt_kwargs: dict[str, str], problem: type[MetadataError]
) -> None:
    step = source().flow(request_token(**rt_kwargs)).start()  # type: ignore[arg-type]
    failed(step, problem)


def test_http_issuer_is_refused_unless_loopback() -> None:
    step, _ = run(
        source().flow(request_token()),
        [("GET", PRM_URL, json_response({**prm(), "authorization_servers": ["http://as.ex"]}))],
    )
    assert "plain http" in str(failed(step, InsecureEndpointError))


def test_loopback_http_is_allowed_everywhere() -> None:
    resource = "http://127.0.0.1:9000/mcp"
    issuer = "http://localhost:9001"
    step, _ = run(
        source().flow(request_token(resource=resource)),
        [
            (
                "GET",
                "http://127.0.0.1:9000/.well-known/oauth-protected-resource/mcp",
                json_response({"resource": resource, "authorization_servers": [issuer]}),
            ),
            (
                "GET",
                issuer + "/.well-known/oauth-authorization-server",
                json_response(asm(issuer, token_endpoint=issuer + "/token")),
            ),
            ("POST", issuer + "/token", json_response(token_json())),
        ],
    )
    finished(step)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.5", True), ("::1", True), ("10.0.0.1", False),
     ("example.com", False), (None, False)],
)  # fmt: skip
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_url_helpers() -> None:
    assert check_url("https://x.example/a", "thing") is None
    assert protected_resource_metadata_urls("https://rs.example/a/b?q=1") == [
        ("https://rs.example/.well-known/oauth-protected-resource/a/b?q=1",
         ("https://rs.example/a/b?q=1",)),
        (PRM_ROOT, ("https://rs.example", "https://rs.example/")),
    ]  # fmt: skip


@pytest.mark.parametrize("url", ["https://x.example/token#frag", "https://x.example/token#"])
def test_an_endpoint_with_a_fragment_is_refused(url: str) -> None:
    # RFC 6749 §3.1, §3.2: endpoint URIs MUST NOT include a fragment component.
    problem = check_url(url, "token endpoint")
    assert isinstance(problem, MetadataError)
    assert "fragment" in str(problem) and "frag'" not in str(problem)


def test_a_token_endpoint_with_a_fragment_fails_before_any_request() -> None:
    flow = ClientCredentials("agent", "s3cret", token_endpoint=TOKEN_URL + "#x").flow(
        request_token()
    )
    failed(flow.start(), MetadataError)


def test_server_metadata_naming_an_endpoint_with_a_fragment_is_refused() -> None:
    step, _ = run(
        ClientCredentials("agent", "s3cret", issuer=ISSUER).flow(request_token()),
        [("GET", ASM_URL, json_response(asm(token_endpoint=TOKEN_URL + "#x")))],
    )
    assert "fragment" in str(failed(step, MetadataError))
