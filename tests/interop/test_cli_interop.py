"""``upscope request`` end to end against oidc-provider 9 and the MCP TypeScript SDK.

The command runs in-process (``upscope_cli.__main__.main(argv)``). With ``--authorize``
the system browser is the ``system_browser`` fixture (``webbrowser.open`` replaced by a
headless login that ends at the CLI's loopback receiver). Every secret the run handles
(access tokens, authorization codes, PKCE verifiers and state, the client secret) is
recorded as it is made, and none may appear in stdout or stderr.
"""

from __future__ import annotations

import io
import json
import secrets
import urllib.parse
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import requests
from interop_peers import AuthorizationServer, ResourceServer
from mcp_messages import (
    ACCEPT,
    CONTENT_TYPE,
    HEADERS,
    INITIALIZE,
    INITIALIZED,
    SESSION_ID,
    tools_call,
)
from test_registration_interop import registrations

from sansio_upscope import Token
from sansio_upscope.oauth._tokens import parse_token_response as parse_token
from upscope_cli.__main__ import main

if TYPE_CHECKING:  # a type only: several conftest modules share the name at run time
    from conftest import SystemBrowser

pytestmark = pytest.mark.interop

MCP_HEADERS = ["-H", "{}: {}".format(*ACCEPT)]
JSON_HEADER = ["-H", "{}: {}".format(*CONTENT_TYPE)]


@attrs.define
class Secrets:
    """Every secret value the run made or received, to look for in its output."""

    values: list[str] = attrs.field(factory=list)
    #: The access tokens issued, in order (also in ``values``).
    tokens: list[str] = attrs.field(factory=list)

    def check(self, *outputs: str) -> None:
        assert self.values, "no secret was recorded: the spies saw nothing"
        for value in self.values:
            for output in outputs:
                assert value not in output, "a secret appeared in the output"


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Secrets:
    """Records (does not change) the PKCE verifiers, states and tokens the flow makes."""
    seen = Secrets()
    make_random = secrets.token_urlsafe

    def token_urlsafe(nbytes: int | None = None) -> str:
        value = make_random(nbytes)
        seen.values.append(value)
        return value

    def parse_token_response(*args: Any, **kwargs: Any) -> Token:
        token = parse_token(*args, **kwargs)
        seen.values.append(token.access_token)
        seen.tokens.append(token.access_token)
        if token.refresh_token:
            seen.values.append(token.refresh_token)
        return token

    monkeypatch.setattr(secrets, "token_urlsafe", token_urlsafe)
    # The flow module looks the name up at each token response.
    monkeypatch.setattr("sansio_upscope.oauth._flow.parse_token_response", parse_token_response)
    return seen


def upscope(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def mcp_session(server: ResourceServer, oidc_provider: AuthorizationServer) -> str:
    """An MCP session opened with a ``read`` token of the test's own (sessions are not
    bound to tokens in the SDK), so that one CLI call can be a mid-session tool call."""
    answer = requests.post(
        oidc_provider.token_endpoint,
        data={"grant_type": "client_credentials", "scope": "read", "resource": server.mcp_url},
        auth=(oidc_provider.service_client_id, oidc_provider.service_client_secret),
        timeout=10,
    )
    answer.raise_for_status()
    headers = {**dict(HEADERS), "authorization": f"Bearer {answer.json()['access_token']}"}
    reply = requests.post(server.mcp_url, json=INITIALIZE, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    session_id = reply.headers[SESSION_ID]
    headers[SESSION_ID] = session_id
    reply = requests.post(server.mcp_url, json=INITIALIZED, headers=headers, timeout=10)
    assert reply.status_code == 202, reply.text
    return session_id


def codes(redirects: list[str]) -> list[str]:
    return [dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r).query))["code"] for r in redirects]


def test_authorize_steps_up_mid_session(
    oidc_provider: AuthorizationServer,
    mcp_ts_server: ResourceServer,
    system_browser: SystemBrowser,
    recorded: Secrets,
) -> None:
    session_id = mcp_session(mcp_ts_server, oidc_provider)
    call = tools_call(2, "write_file", path="cli.txt", content="hi")
    before = oidc_provider.token_requests()
    code, out, err = upscope(
        "request",
        mcp_ts_server.mcp_url,
        *MCP_HEADERS,
        *JSON_HEADER,
        "-H",
        f"{SESSION_ID}: {session_id}",
        "-d",
        json.dumps(call),
        "--client-id",
        oidc_provider.native_client_id,
        "--scope",
        "read",
        "--authorize",
        "-v",
    )
    system_browser.finish()
    assert code == 0, err
    assert "wrote 2 bytes to cli.txt" in out
    # The trace: no token, 401 for `read`; then the tool call's 403 asks for `read write`,
    # a second authorization (in the browser again) and a retry of the same body.
    assert err.index("<- 401") < err.index("<- 403") < err.rindex("=> Retry"), err
    assert 'scope="read write"' in err
    assert "reason insufficient_scope" in err
    assert "HTTP 200" in err
    scopes = [
        set(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["scope"].split())
        for url in system_browser.opened
    ]
    assert scopes == [{"read"}, {"read", "write"}]
    assert oidc_provider.token_requests() - before == 2
    assert len(recorded.tokens) == 2
    recorded.values += codes(system_browser.redirects)
    assert len(recorded.values) >= 8  # 2 tokens, 2 codes, 2 PKCE verifiers, 2 states
    recorded.check(out, err)


def test_client_credentials_with_secret_from_the_environment(
    oidc_provider: AuthorizationServer,
    mcp_ts_server: ResourceServer,
    recorded: Secrets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSCOPE_INTEROP_SECRET", oidc_provider.service_client_secret)
    recorded.values.append(oidc_provider.service_client_secret)
    before = oidc_provider.token_requests()
    code, out, err = upscope(
        "request",
        f"{mcp_ts_server.url}/api/notes",
        *JSON_HEADER,
        "-d",
        '{"text": "from the CLI"}',
        "--client-id",
        oidc_provider.service_client_id,
        "--client-secret-env",
        "UPSCOPE_INTEROP_SECRET",
        "--scope",
        "read",
        "-v",
    )
    assert code == 0, err
    assert json.loads(out)["stored"] == {"text": "from the CLI"}
    assert sorted(json.loads(out)["scopes"]) == ["read", "write"]
    assert "HTTP 201" in err
    assert oidc_provider.token_requests() - before == 1
    assert len(recorded.tokens) == 1
    recorded.check(out, err)


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/api/forbidden", "POST", "invalid_scope"),
        ("/readonly/notes", "POST", "ScopeNotGrantedError"),
    ],
)
def test_client_credentials_refusal_exits_1(
    path: str,
    method: str,
    expected: str,
    oidc_provider: AuthorizationServer,
    mcp_ts_server: ResourceServer,
    recorded: Secrets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSCOPE_INTEROP_SECRET", oidc_provider.service_client_secret)
    recorded.values.append(oidc_provider.service_client_secret)
    code, out, err = upscope(
        "request",
        mcp_ts_server.url + path,
        "-X",
        method,
        "--client-id",
        oidc_provider.service_client_id,
        "--client-secret-env",
        "UPSCOPE_INTEROP_SECRET",
        "--scope",
        "read",
    )
    assert code == 1, err
    assert "upscope request: gave up:" in err and expected in err
    recorded.check(out, err)


def test_authorize_without_a_client_id_registers(
    oidc_provider: AuthorizationServer,
    mcp_ts_server: ResourceServer,
    system_browser: SystemBrowser,
    recorded: Secrets,
) -> None:
    before = registrations(oidc_provider)
    code, out, err = upscope(
        "request", f"{mcp_ts_server.url}/api/notes", "--scope", "read", "--authorize", "-v"
    )
    system_browser.finish()
    assert code == 0, err
    assert registrations(oidc_provider) - before == 1  # RFC 7591, once
    recorded.values += codes(system_browser.redirects)
    recorded.check(out, err)


def test_client_credentials_need_a_client_id() -> None:
    code, _, err = upscope("request", "http://127.0.0.1:9/api")
    assert code == 2
    assert "--client-id is required without --authorize" in err
