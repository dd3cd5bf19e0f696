"""Shared fixtures: the loopback demo servers (``upscope_cli.servers``), fresh for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from upscope_cli.servers import AuthorizationServer, ResourceServer


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
