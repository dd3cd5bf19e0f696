"""RFC 7591 dynamic client registration against oidc-provider 9, end to end.

``AuthorizationCode(client_id=None)`` discovers the authorization server from the MCP
TypeScript SDK's challenge (RFC 9728, then RFC 8414), registers a public native client at
the advertised ``registration_endpoint``, and steps up ``read`` -> ``read write`` through
each adapter. The client is registered once: the second authorization reuses it from the
``ClientStore``. The authorization server's own counters are the witnesses.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

import pytest
import requests
from interop_peers import AuthorizationServer, HeadlessBrowser, ResourceServer
from test_step_up_interop import TIMEOUT, notes_step_up

from sansio_upscope import Policy
from sansio_upscope.oauth import AuthorizationCode, InMemoryClientStore
from tests.driver import names, run

if TYPE_CHECKING:  # a type only: several conftest modules share the name at run time
    from conftest import SystemBrowser

pytestmark = pytest.mark.interop


def registrations(server: AuthorizationServer) -> int:
    """How many registration requests the server has received since it started."""
    response = requests.get(f"{server.issuer}/interop/registrations", timeout=10)
    response.raise_for_status()
    count = response.json()["count"]
    assert isinstance(count, int)
    return count


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def test_registration_endpoint_is_advertised(oidc_provider: AuthorizationServer) -> None:
    document = requests.get(
        f"{oidc_provider.issuer}/.well-known/openid-configuration", timeout=10
    ).json()
    assert document["registration_endpoint"] == f"{oidc_provider.issuer}/reg"


@pytest.mark.parametrize("adapter", names())
def test_registered_client_steps_up_read_to_read_write(
    adapter: str,
    oidc_provider: AuthorizationServer,
    mcp_ts_server: ResourceServer,
    headless_authorize: HeadlessBrowser,
) -> None:
    store = InMemoryClientStore()
    tokens = AuthorizationCode(
        None, oidc_provider.native_redirect_uri, authorize=headless_authorize, client_store=store
    )
    registered_before = registrations(oidc_provider)
    tokens_before = oidc_provider.token_requests()
    counted: list[int] = []
    run(
        adapter,
        notes_step_up(mcp_ts_server, oidc_provider, counted),
        tokens=tokens,
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    assert counted, "the scenario did not finish"
    assert registrations(oidc_provider) - registered_before == 1
    client = store.get(oidc_provider.issuer)
    assert client is not None and client.client_id != oidc_provider.native_client_id
    assert client.client_secret is None  # a public client: PKCE, no secret (RFC 8252 §8.5)
    # Two authorizations (read, then read write) by the one registered client.
    visited = [query(url) for url in headless_authorize.visited]
    assert [q["client_id"] for q in visited] == [client.client_id] * 2
    assert [set(q["scope"].split()) for q in visited] == [{"read"}, {"read", "write"}]
    assert oidc_provider.token_requests() - tokens_before == 2


@pytest.mark.parametrize("adapter", names())
def test_registered_client_on_loopback_ports(
    adapter: str,
    oidc_provider: AuthorizationServer,
    mcp_ts_server: ResourceServer,
    system_browser: SystemBrowser,
) -> None:
    # No redirect_uri and no authorize hook: each authorization opens the "system
    # browser" and listens on a new loopback port (RFC 8252 §7.3). The client registered
    # with the first port must be accepted on the second: it registers as a native app.
    store = InMemoryClientStore()
    registered_before = registrations(oidc_provider)
    counted: list[int] = []
    # No authorize= either: the adapter opens the system browser and waits on a
    # loopback receiver (off the event loop for the async clients).
    run(
        adapter,
        notes_step_up(mcp_ts_server, oidc_provider, counted),
        tokens=AuthorizationCode(client_store=store),
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    system_browser.finish()
    assert counted, "the scenario did not finish"
    assert registrations(oidc_provider) - registered_before == 1
    redirect_uris = [query(url)["redirect_uri"] for url in system_browser.opened]
    assert len(redirect_uris) == 2 and redirect_uris[0] != redirect_uris[1]
    client = store.get(oidc_provider.issuer)
    assert client is not None
    assert [query(url)["client_id"] for url in system_browser.opened] == [client.client_id] * 2
