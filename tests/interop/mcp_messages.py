"""The MCP messages of the interop tests, in one place: JSON-RPC bodies and the header
fields of MCP's streamable HTTP transport (protocol version 2025-06-18).

Plain values for tests that talk to a peer directly (``requests``, the ``upscope`` CLI),
``Call`` builders and the ``mcp_session`` scenario for tests that run on every adapter
(tests/driver.py).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from tests.driver import Call, Outcome

__all__ = [
    "ACCEPT",
    "CONTENT_TYPE",
    "HEADERS",
    "INITIALIZE",
    "INITIALIZED",
    "PROTOCOL_VERSION",
    "SESSION_ID",
    "STREAM_ACCEPT",
    "initialize",
    "mcp_call",
    "mcp_session",
    "tool_call",
    "tool_text",
    "tools_call",
    "tools_list",
]

PROTOCOL_VERSION = "2025-06-18"

#: A streamable HTTP client accepts both a JSON answer and an event stream.
ACCEPT = ("accept", "application/json, text/event-stream")
CONTENT_TYPE = ("content-type", "application/json")
#: Every POST to an MCP endpoint carries both.
HEADERS = (ACCEPT, CONTENT_TYPE)
#: A GET of an MCP endpoint opens the server's event stream.
STREAM_ACCEPT = ("accept", "text/event-stream")
#: The session the server hands out in its answer to ``initialize``.
SESSION_ID = "mcp-session-id"


def initialize(call_id: int = 1, client_name: str = "sansio-upscope-interop") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "0"},
        },
    }


INITIALIZE = initialize()
#: The notification that ends the handshake (no id: the server answers 202).
INITIALIZED: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def tools_list(call_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call_id, "method": "tools/list"}


def tools_call(call_id: int, name: str, **arguments: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


# -- on every adapter -------------------------------------------------------------------


def mcp_call(url: str, message: dict[str, Any], session_id: str | None = None) -> Call:
    headers = list(HEADERS)
    if session_id is not None:
        headers.append((SESSION_ID, session_id))
    return Call(method="POST", url=url, headers=tuple(headers), body=json.dumps(message).encode())


def mcp_session(url: str) -> Generator[Call, Outcome, str]:
    """``initialize`` then ``notifications/initialized``; returns the session id."""
    reply = yield mcp_call(url, INITIALIZE)
    assert reply.status_code == 200, reply.content
    assert "serverInfo" in reply.json()["result"]
    session_id = reply.headers[SESSION_ID]
    reply = yield mcp_call(url, INITIALIZED, session_id)
    assert reply.status_code == 202, reply.content
    return session_id


def tool_call(url: str, session_id: str, call_id: int, name: str, **arguments: str) -> Call:
    return mcp_call(url, tools_call(call_id, name, **arguments), session_id)


def tool_text(reply: Outcome) -> str:
    assert reply.status_code == 200, reply.content
    result = reply.json()["result"]
    assert not result.get("isError"), result
    text = result["content"][0]["text"]
    assert isinstance(text, str)
    return text
