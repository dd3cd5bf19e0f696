"""The real MCP Python SDK client (PyPI ``mcp`` 2.x) over ``upscope_httpx2.UpscopeAuth``.

Run by tests/interop/test_mcp_sdk_client_interop.py with the python of
tests/interop/.venv-mcp-client (``mcp`` pins its own dependencies; this project is
installed there too) as ``python mcp_sdk_client.py '<json>'``, where the JSON names:

* ``url``: the MCP endpoint; ``client_id``/``client_secret``: a client_credentials client
  (the endpoints are discovered from the challenge); ``initial_scopes``: ``Policy``'s.
* ``scenario``: ``step_up`` (initialize, list tools, read_file, write_file, read_file:
  one session), ``storm`` (initialize, then ``n`` concurrent write_file calls) or
  ``write`` (initialize, write_file).

It prints one JSON line: the tool names, each tool call's text (or error), the
``mcp-session-id`` values the requests carried, and the most requests in flight at once
(recorded by event hooks).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from sansio_upscope import Policy
from sansio_upscope.oauth import ClientCredentials
from upscope_httpx2 import UpscopeAuth


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    sessions: set[str] = set()
    in_flight = [0, 0]  # now, most

    async def record(request: httpx2.Request) -> None:
        session_id = request.headers.get("mcp-session-id")
        if session_id is not None:
            sessions.add(session_id)
        in_flight[0] += 1
        in_flight[1] = max(in_flight)

    async def answered(response: httpx2.Response) -> None:
        in_flight[0] -= 1

    tokens = ClientCredentials(spec["client_id"], spec["client_secret"])
    auth = UpscopeAuth(tokens, Policy(initial_scopes=frozenset(spec["initial_scopes"])))
    texts: list[str] = []
    tools: list[str] = []

    async def call(session: ClientSession, name: str, **arguments: str) -> None:
        try:
            result = await session.call_tool(name, arguments)
        except Exception as exc:
            texts.append(f"error: {type(exc).__name__}: {exc}")
            return
        first = result.content[0]
        texts.append(("error: " if result.is_error else "") + getattr(first, "text", ""))

    async def write_one(session: ClientSession, index: int) -> None:
        await call(session, "write_file", path=f"{index}.txt", content="x")

    async with (
        httpx2.AsyncClient(
            auth=auth, event_hooks={"request": [record], "response": [answered]}
        ) as http,
        streamable_http_client(spec["url"], http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        scenario = spec["scenario"]
        if scenario == "step_up":
            tools = sorted(tool.name for tool in (await session.list_tools()).tools)
            await call(session, "read_file", path="a.txt")
            await call(session, "write_file", path="a.txt", content="hi")
            await call(session, "read_file", path="b.txt")
        elif scenario == "storm":
            async with anyio.create_task_group() as group:
                for index in range(spec["n"]):
                    group.start_soon(write_one, session, index)
        else:
            await call(session, "write_file", path="a.txt", content="hi")
    return {
        "tools": tools,
        "texts": texts,
        "sessions": sorted(sessions),
        "most_in_flight": in_flight[1],
    }


if __name__ == "__main__":
    print(json.dumps(anyio.run(main, json.loads(sys.argv[1]))))
