"""docs/stores.md's recipe, run as written against the real MCP Python SDK: a
``TokenStorage`` (the SDK's own ``OAuthToken`` and ``OAuthClientInformationFull``)
wrapped as an ``upscope_store.TokenStore`` keeps a token across two clients, so the
second makes no token request."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from interop_peers import ensure_mcp_venv

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
