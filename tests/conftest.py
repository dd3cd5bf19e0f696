"""Shared fixtures: the loopback demo servers (``upscope_cli.servers``) and scripted
servers (``serve``, tests/hostile/server.py), fresh for each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.hostile.server import Reply, Request, ScriptedServer
from upscope_cli.servers import AuthorizationServer, ResourceServer

#: How a scripted server answers one request: a ``Reply`` or the raw response bytes.
Script = Callable[[Request], Reply | bytes]


@pytest.fixture
def authorization_server() -> Iterator[AuthorizationServer]:
    """A demo OAuth authorization server on 127.0.0.1 (client_credentials, scriptable)."""
    with AuthorizationServer() as server:
        yield server


@pytest.fixture
def resource_server(authorization_server: AuthorizationServer) -> Iterator[ResourceServer]:
    """A demo protected resource on 127.0.0.1 that trusts ``authorization_server``."""
    with ResourceServer(authorization_server) as server:
        yield server


@pytest.fixture
def other_origin(authorization_server: AuthorizationServer) -> Iterator[ResourceServer]:
    """A second resource server: another origin (another port), for redirects."""
    with ResourceServer(authorization_server) as server:
        yield server


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    """``serve(script)`` starts a scripted server on 127.0.0.1 (tests/hostile/server.py);
    every one is closed at teardown."""
    servers: list[ScriptedServer] = []

    def make(script: Script) -> ScriptedServer:
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()
