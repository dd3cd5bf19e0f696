"""Step-up against real third-party servers, through every adapter (issue 6).

Peers (see conftest.py): oidc-provider 9 as the authorization server, the MCP TypeScript
SDK 1.x and the MCP Python SDK 2.x as resource servers, all on 127.0.0.1.

Each scenario is written once as a generator that yields ``Call``s and receives
``Outcome``s (or has the adapter's exception thrown in), and runs on every adapter
(tests/driver.py). The authorization server's own counter of token requests is the witness for
"no token request" and "bounded attempts".
"""

from __future__ import annotations

import urllib.parse

import attrs
import pytest
import requests
from interop_peers import AuthorizationServer, HeadlessBrowser, ResourceServer
from mcp_messages import CONTENT_TYPE, mcp_call, mcp_session, tool_call, tool_text, tools_list

from sansio_upscope import Policy, RequestToken, StepUpError, Token
from sansio_upscope.oauth import AuthorizationCode, ClientCredentials
from tests.driver import Call, Scenario, names, run

pytestmark = pytest.mark.interop

#: The peers run in Node and in another venv on a shared machine: room for a browser flow.
TIMEOUT = 30.0


# --- token sources -------------------------------------------------------------------


def service_client(oidc_provider: AuthorizationServer) -> ClientCredentials:
    """client_credentials, everything discovered from the challenge (RFC 9728, OIDC)."""
    return ClientCredentials(oidc_provider.service_client_id, oidc_provider.service_client_secret)


def user_client(oidc_provider: AuthorizationServer, browser: HeadlessBrowser) -> AuthorizationCode:
    return AuthorizationCode(
        oidc_provider.native_client_id,
        oidc_provider.native_redirect_uri,
        authorize=browser,
    )


@attrs.define
class ExactScopes:
    """A plain callable token source that asks for exactly ``RequestToken.scopes`` and
    knows nothing else (no metadata): what a hand-written source does."""

    oidc_provider: AuthorizationServer
    asked: list[frozenset[str]] = attrs.field(factory=list)

    def __call__(self, request: RequestToken) -> Token:
        self.asked.append(request.scopes)
        response = requests.post(
            self.oidc_provider.token_endpoint,
            data={
                "grant_type": "client_credentials",
                "scope": " ".join(sorted(request.scopes)),
                "resource": request.resource,
            },
            auth=(self.oidc_provider.service_client_id, self.oidc_provider.service_client_secret),
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        return Token(access_token=body["access_token"], scopes=frozenset(body["scope"].split()))


# --- the MCP TypeScript SDK -----------------------------------------------------------


def notes_step_up(
    server: ResourceServer, oidc_provider: AuthorizationServer, counted: list[int]
) -> Scenario:
    """GET (read) works, POST (write) steps up to ``read write``, the next POST reuses."""
    notes = f"{server.url}/api/notes"
    reply = yield Call(method="GET", url=notes)
    assert reply.status_code == 200, reply.content
    reply = yield Call(method="POST", url=notes, headers=(CONTENT_TYPE,), body=b'{"text": "one"}')
    assert reply.status_code == 201, reply.content
    assert sorted(reply.json()["scopes"]) == ["read", "write"]
    before = oidc_provider.token_requests()
    reply = yield Call(method="POST", url=notes, headers=(CONTENT_TYPE,), body=b'{"text": "two"}')
    assert reply.status_code == 201, reply.content
    assert oidc_provider.token_requests() == before, "the second call asked for a token"
    counted.append(before)


@pytest.mark.parametrize("adapter", names())
def test_client_credentials_step_up_then_reuse(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    start = oidc_provider.token_requests()
    counted: list[int] = []
    run(
        adapter,
        notes_step_up(mcp_ts_server, oidc_provider, counted),
        tokens=service_client(oidc_provider),
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    assert counted, "the scenario did not finish"
    # One token for `read`, one for `read write`; nothing for the reuse.
    assert oidc_provider.token_requests() - start == 2


@pytest.mark.parametrize("adapter", names())
def test_authorization_code_step_up_is_a_new_authorization(
    adapter: str,
    oidc_provider: AuthorizationServer,
    mcp_ts_server: ResourceServer,
    headless_authorize: HeadlessBrowser,
) -> None:
    start = oidc_provider.token_requests()
    counted: list[int] = []
    run(
        adapter,
        notes_step_up(mcp_ts_server, oidc_provider, counted),
        tokens=user_client(oidc_provider, headless_authorize),
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    assert counted, "the scenario did not finish"
    # Two authorizations (the user consents again, to the wider scope), no refresh.
    scopes = [
        set(dict(_query(url))["scope"].split()) - {"offline_access"}
        for url in headless_authorize.visited
    ]
    assert scopes == [{"read"}, {"read", "write"}]
    for url in headless_authorize.visited:
        query = dict(_query(url))
        assert query["resource"] == f"{mcp_ts_server.url}/api/notes"
        assert query["code_challenge_method"] == "S256"
    assert oidc_provider.token_requests() - start == 2


def _query(url: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)


def mcp_write_tool(server: ResourceServer, done: list[str]) -> Scenario:
    """``initialize`` and ``tools/list`` with ``read``; ``write_file`` needs ``read write``
    mid-session."""
    session_id = yield from mcp_session(server.mcp_url)
    reply = yield mcp_call(server.mcp_url, tools_list(2), session_id)
    assert reply.status_code == 200, reply.content
    assert {tool["name"] for tool in reply.json()["result"]["tools"]} == {"read_file", "write_file"}
    reply = yield tool_call(server.mcp_url, session_id, 3, "read_file", path="a.txt")
    assert tool_text(reply) == "contents of a.txt"
    reply = yield tool_call(server.mcp_url, session_id, 4, "write_file", path="a.txt", content="hi")
    assert tool_text(reply) == "wrote 2 bytes to a.txt"
    reply = yield tool_call(server.mcp_url, session_id, 5, "write_file", path="b.txt", content="x")
    assert tool_text(reply) == "wrote 1 bytes to b.txt"
    done.append(session_id)


@pytest.mark.parametrize("adapter", names())
def test_mcp_tool_call_steps_up_mid_session(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    start = oidc_provider.token_requests()
    done: list[str] = []
    run(
        adapter,
        mcp_write_tool(mcp_ts_server, done),
        tokens=service_client(oidc_provider),
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    assert done, "the scenario did not finish"
    assert oidc_provider.token_requests() - start == 2


def refused(url: str, errors: list[StepUpError]) -> Scenario:
    """Two calls that need what the authorization server will not grant."""
    for _ in range(2):
        with pytest.raises(StepUpError) as caught:
            yield Call(method="POST", url=url, headers=(CONTENT_TYPE,), body=b"{}")
        errors.append(caught.value)


@pytest.mark.parametrize("adapter", names())
def test_refused_scope_is_a_clear_bounded_error(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    start = oidc_provider.token_requests()
    errors: list[StepUpError] = []
    run(
        adapter,
        refused(f"{mcp_ts_server.url}/api/forbidden", errors),
        tokens=service_client(oidc_provider),
        timeout=TIMEOUT,
    )
    assert len(errors) == 2
    message = str(errors[0])
    assert "invalid_scope" in message
    assert "forbidden" in message
    assert "upscope-service-secret" not in message
    # At most one token request per call: the refusal is not retried in a loop.
    assert oidc_provider.token_requests() - start <= 2


@pytest.mark.parametrize("adapter", names())
def test_narrower_grant_is_a_clear_bounded_error(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    # The AS grants only `read` for /readonly resources: asked for `read write`, it
    # answers scope="read" (RFC 6749 §5.1), and the resource server still says 403.
    start = oidc_provider.token_requests()
    errors: list[StepUpError] = []
    run(
        adapter,
        refused(f"{mcp_ts_server.url}/readonly/notes", errors),
        tokens=service_client(oidc_provider),
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    assert len(errors) == 2
    message = str(errors[0])
    assert 'scope="write"' in message
    assert "Insufficient scope" in message
    assert oidc_provider.token_requests() - start <= Policy().max_token_requests


# --- the MCP Python SDK: a 403 without scope= -----------------------------------------


def python_sdk_tool(server: ResourceServer, done: list[str]) -> Scenario:
    session_id = yield from mcp_session(server.mcp_url)
    reply = yield tool_call(server.mcp_url, session_id, 2, "write_file", path="a.txt", content="hi")
    assert tool_text(reply) == "wrote 2 bytes to a.txt"
    done.append(session_id)


def python_sdk_refuses(server: ResourceServer, errors: list[StepUpError]) -> Scenario:
    with pytest.raises(StepUpError) as caught:
        yield from mcp_session(server.mcp_url)
    errors.append(caught.value)


@pytest.mark.parametrize("adapter", names())
def test_python_sdk_scopeless_403_gives_up_quoting_the_server(
    adapter: str, oidc_provider: AuthorizationServer, mcp_python_server: ResourceServer
) -> None:
    # A source that knows only what the challenges say cannot learn `write`: the
    # Python SDK names it only in prose. The error quotes that prose and says how to
    # grant the scope (Policy.initial_scopes).
    tokens = ExactScopes(oidc_provider)
    errors: list[StepUpError] = []
    run(
        adapter,
        python_sdk_refuses(mcp_python_server, errors),
        tokens=tokens,
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    assert len(errors) == 1
    message = str(errors[0])
    assert "Required scope: write" in message
    assert "initial_scopes" in message
    assert all("write" not in scopes for scopes in tokens.asked)
    assert len(tokens.asked) <= Policy().max_token_requests


@pytest.mark.parametrize("adapter", names())
def test_python_sdk_with_initial_scopes(
    adapter: str, oidc_provider: AuthorizationServer, mcp_python_server: ResourceServer
) -> None:
    tokens = ExactScopes(oidc_provider)
    done: list[str] = []
    run(
        adapter,
        python_sdk_tool(mcp_python_server, done),
        tokens=tokens,
        policy=Policy(initial_scopes=frozenset({"write"})),
        timeout=TIMEOUT,
    )
    assert done, "the scenario did not finish"
    assert tokens.asked == [frozenset({"write"})]


@pytest.mark.parametrize("initial_scopes", [frozenset(), frozenset({"read"})])
@pytest.mark.parametrize("adapter", names())
def test_python_sdk_with_metadata_discovery(
    adapter: str,
    initial_scopes: frozenset[str],
    oidc_provider: AuthorizationServer,
    mcp_python_server: ResourceServer,
) -> None:
    # When a challenge names no scope, the OAuth source adds the metadata's
    # scopes_supported (MCP scope selection), which names `write`: one token serves.
    start = oidc_provider.token_requests()
    done: list[str] = []
    run(
        adapter,
        python_sdk_tool(mcp_python_server, done),
        tokens=service_client(oidc_provider),
        policy=Policy(initial_scopes=initial_scopes),
        timeout=TIMEOUT,
    )
    assert done, "the scenario did not finish"
    assert oidc_provider.token_requests() - start == 1
