"""Resource server 2 for the interop tests: the MCP Python SDK 2.x, on 127.0.0.1.

Run by tests/interop/conftest.py with the python of tests/interop/.venv-mcp (the SDK is not a
dependency of this project) as ``python mcp_python_server.py ISSUER``. It binds a free port,
then prints one JSON line: ``{"url": "http://127.0.0.1:PORT"}``.

The SDK's own pieces do the work: ``AuthSettings`` (resource_server_url, required_scopes,
validate_token_resource), its ``BearerAuthBackend`` + ``RequireAuthMiddleware`` and its
RFC 9728 metadata route. Tokens are checked with oidc-provider's RFC 7662 introspection.

``/mcp`` needs ``write`` for every request. The SDK never sends ``scope=`` in its challenge:
a token holding only ``read`` gets ``403`` with ``error_description="Required scope:
write"``, and its metadata's ``scopes_supported`` is the required list, ``["write"]``.
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import urllib.parse
import urllib.request
from typing import Any

import anyio.to_thread
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

INTROSPECTION_CLIENT = ("resource-server", "resource-server-secret")


class IntrospectionVerifier:
    """The SDK's ``TokenVerifier`` protocol, answered by RFC 7662 introspection."""

    def __init__(self, introspection_endpoint: str) -> None:
        self.introspection_endpoint = introspection_endpoint

    def _introspect(self, token: str) -> dict[str, Any]:
        credentials = base64.b64encode(":".join(INTROSPECTION_CLIENT).encode()).decode()
        request = urllib.request.Request(
            self.introspection_endpoint,
            data=urllib.parse.urlencode({"token": token}).encode(),
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            claims: dict[str, Any] = json.load(response)
        return claims

    async def verify_token(self, token: str) -> AccessToken | None:
        claims = await anyio.to_thread.run_sync(self._introspect, token)
        if not claims.get("active"):
            return None
        audience = claims.get("aud")
        if isinstance(audience, list):
            audience = audience[0] if audience else None
        return AccessToken(
            token=token,
            client_id=claims["client_id"],
            scopes=str(claims.get("scope", "")).split(),
            expires_at=claims.get("exp"),
            # The SDK compares this with resource_server_url (validate_token_resource).
            resource=audience,
            subject=claims.get("sub"),
            claims={"iss": claims.get("iss")},
        )


def main(issuer: str) -> None:
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as r:
        metadata = json.load(r)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    origin = f"http://127.0.0.1:{listener.getsockname()[1]}"

    server = MCPServer(
        name="upscope-interop-python",
        token_verifier=IntrospectionVerifier(metadata["introspection_endpoint"]),
        auth=AuthSettings(
            issuer_url=issuer,
            resource_server_url=f"{origin}/mcp",
            required_scopes=["write"],
            validate_token_resource=True,
        ),
    )

    def write_file(path: str, content: str) -> str:
        """Write a file (the whole server needs ``write``)."""
        return f"wrote {len(content)} bytes to {path}"

    server.add_tool(write_file)

    app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(json.dumps({"url": origin}), flush=True)
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv[1])
