"""Token stores against real third-party peers: a user's client restarted on a
``FileStore`` against oidc-provider and the MCP TypeScript SDK's server signs in once,
registers once (no ``client_store=``: the store keeps the client) and keeps its
discovery results; and
docs/stores.md's recipe, run as written with the real MCP Python SDK: a ``TokenStorage``
(the SDK's own ``OAuthToken`` and ``OAuthClientInformationFull``) wrapped as an
``upscope_store.TokenStore`` keeps a token across two clients."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

import attrs
import pytest
import requests
from interop_peers import AuthorizationServer, HeadlessBrowser, ResourceServer, ensure_mcp_venv
from test_registration_interop import query, registrations

import upscope_asyncio
from sansio_upscope import Policy
from sansio_upscope.oauth import AuthorizationCode
from upscope_requests import UpscopeAuth
from upscope_store import FileStore

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]

DRIVER = """
import asyncio


class MemoryTokenStorage:  # the SDK's TokenStorage protocol, kept in memory
    def __init__(self):
        self.tokens = self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


import upscope_asyncio
from sansio_upscope.oauth import ClientCredentials
from upscope_cli.servers import AuthorizationServer, ResourceServer

storage = MemoryTokenStorage()
store = McpTokenStorageStore(storage)
with AuthorizationServer() as auth, ResourceServer(auth) as api:
    async def main():
        for _ in range(2):  # two clients, as two processes one after the other
            source = ClientCredentials(auth.client_id, auth.client_secret)
            async with upscope_asyncio.Client(source, store=store) as client:
                print((await client.request("GET", api.url + "/files")).status_code)

    asyncio.run(main())
    print("token requests:", auth.token_request_count)
    print("kept:", type(storage.tokens).__name__, storage.tokens.scope)
store.set("https://as.example", RegisteredClient(client_id="registered"))
print("client:", type(storage.client).__name__, store.get("https://as.example").client_id)
"""


def test_the_mcp_token_storage_recipe_runs_as_written(tmp_path: Path) -> None:
    try:
        python = ensure_mcp_venv()
    except (subprocess.CalledProcessError, OSError) as error:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true and the MCP SDK venv cannot be made: {error}")
        pytest.skip(f"the MCP SDK venv cannot be made: {error}")
    page = (ROOT / "docs" / "stores.md").read_text()
    recipe = re.findall(
        r"### Wrapping the MCP SDK's `TokenStorage`.*?```python\n(.*?)```", page, re.S
    )
    script = tmp_path / "recipe.py"
    script.write_text(recipe[0] + DRIVER)
    run = subprocess.run(
        [str(python), str(script)],
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'adapters'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "200",
        "200",
        "token requests: 1",
        "kept: OAuthToken files:read",
        "client: OAuthClientInformationFull registered",
    ]


@pytest.mark.parametrize("adapter", ["asyncio", "requests"])
def test_a_restarted_user_client_needs_no_sign_in_and_no_registration(
    adapter: str,
    tmp_path: Path,
    oidc_provider: AuthorizationServer,
    mcp_ts_server: ResourceServer,
    headless_authorize: HeadlessBrowser,
) -> None:
    # The MCP SDK's most reported problem: a sign-in in the browser on every restart. Two
    # "processes" (fresh clients and token sources, one FileStore) against oidc-provider
    # (registration, authorization code with PKCE) and the MCP TypeScript SDK's server.
    store = FileStore(tmp_path / "tokens.json")
    notes = f"{mcp_ts_server.url}/api/notes"
    registered, tokens_before = registrations(oidc_provider), oidc_provider.token_requests()
    statuses = []
    for method in ("GET", "GET", "POST"):  # three processes, one after the other
        source = AuthorizationCode(  # no client_store=: the client's store keeps it
            None, oidc_provider.native_redirect_uri, authorize=headless_authorize
        )
        statuses.append(call(adapter, source, store, method, notes))
    assert statuses == [200, 200, 201]
    # One sign-in for read; none on restart; one for write (a step-up needs consent).
    scopes = [set(query(url)["scope"].split()) for url in headless_authorize.visited]
    assert scopes == [{"read"}, {"read", "write"}]
    assert registrations(oidc_provider) - registered == 1  # registered once, kept
    assert oidc_provider.token_requests() - tokens_before == 2
    client = store.get(oidc_provider.issuer)
    assert client is not None and client.client_secret is None
    # The discovery results are kept too: the step-up process found them in the store.
    kept = store.load_discovery()
    assert f"issuer {oidc_provider.issuer}" in kept
    assert any(key.startswith(f"resource {mcp_ts_server.url}") for key in kept), list(kept)
    assert {query(url)["client_id"] for url in headless_authorize.visited} == {client.client_id}


def call(adapter: str, source: AuthorizationCode, store: FileStore, method: str, url: str) -> int:
    policy = Policy(initial_scopes=frozenset({"read"}))
    body = b'{"text": "kept"}' if method == "POST" else None
    headers = {"Content-Type": "application/json"}
    if adapter == "requests":
        with requests.Session() as session:
            session.auth = UpscopeAuth(source, policy=policy, store=store)
            reply = session.request(method, url, data=body, headers=headers, timeout=30)
            return reply.status_code
    browser = source.authorize
    assert browser is not None

    async def authorize(url: str) -> str:
        redirect: str = await asyncio.to_thread(browser, url)
        return redirect

    async def main() -> int:
        async_source = attrs.evolve(source, authorize=authorize)
        async with upscope_asyncio.Client(async_source, policy=policy, store=store) as client:
            reply = await client.request(method, url, headers=headers, content=body)
            return reply.status_code

    return asyncio.run(main())
