"""The drop-in, for real: the PyPI ``mcp`` 2.x client (``ClientSession`` over
``streamable_http_client``) with ``httpx2.AsyncClient(auth=upscope_httpx2.UpscopeAuth(...))``
against the MCP TypeScript SDK server and the MCP Python SDK server, oidc-provider as the
authorization server.

The client runs in its own venv (``mcp`` pins its dependencies) as a subprocess
(``clients/mcp_sdk_client.py``); the authorization server's own count of token requests
is the witness for "one new authorization" and "one token request".
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from interop_peers import AuthorizationServer, ResourceServer

pytestmark = pytest.mark.interop

CLIENT = Path(__file__).resolve().parent / "clients" / "mcp_sdk_client.py"


def mcp_client(
    python: Path, server: ResourceServer, oidc_provider: AuthorizationServer, **spec: Any
) -> dict[str, Any]:
    """Run the MCP SDK client on ``server``'s MCP endpoint; what it printed."""
    spec = {
        "url": server.mcp_url,
        "client_id": oidc_provider.service_client_id,
        "client_secret": oidc_provider.service_client_secret,
        **spec,
    }
    run = subprocess.run(
        [str(python), str(CLIENT), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return result


def test_a_tool_needing_a_wider_scope_mid_session(
    mcp_client_python: Path, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    start = oidc_provider.token_requests()
    result = mcp_client(
        mcp_client_python, mcp_ts_server, oidc_provider, scenario="step_up", initial_scopes=["read"]
    )
    assert {"read_file", "write_file"} <= set(result["tools"])
    assert result["texts"] == [
        "contents of a.txt",
        "wrote 2 bytes to a.txt",  # after a 403 insufficient_scope, scope="read write"
        "contents of b.txt",
    ]
    assert len(result["sessions"]) == 1  # the session went on through the step-up
    # One token for `read` (the 401 of initialize), one new one for `read write`.
    assert oidc_provider.token_requests() - start == 2


def test_twenty_concurrent_tool_calls_meeting_one_challenge(
    mcp_client_python: Path, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    start = oidc_provider.token_requests()
    result = mcp_client(
        mcp_client_python,
        mcp_ts_server,
        oidc_provider,
        scenario="storm",
        n=20,
        initial_scopes=["read"],
    )
    assert sorted(result["texts"]) == sorted(f"wrote 1 bytes to {i}.txt" for i in range(20))
    assert result["most_in_flight"] >= 10  # they did meet the challenge together
    assert len(result["sessions"]) == 1
    # `read` for initialize, then ONE token request for the 20 calls' `read write`.
    assert oidc_provider.token_requests() - start == 2


def test_the_python_sdk_server_through_the_python_sdk_client(
    mcp_client_python: Path, oidc_provider: AuthorizationServer, mcp_python_server: ResourceServer
) -> None:
    # The Python SDK server's challenges name no scope; the metadata's scopes_supported
    # (["write"]) does, and the OAuth source asks for it: one token serves.
    start = oidc_provider.token_requests()
    result = mcp_client(
        mcp_client_python, mcp_python_server, oidc_provider, scenario="write", initial_scopes=[]
    )
    assert result["texts"] == ["wrote 2 bytes to a.txt"]
    assert oidc_provider.token_requests() - start == 1
