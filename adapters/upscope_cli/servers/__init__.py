"""Loopback demo servers: an OAuth authorization server and a protected resource.

Used by the test suite and by ``upscope demo``. Both listen on 127.0.0.1 on a port the
OS picks and serve from a background thread::

    with AuthorizationServer() as auth, ResourceServer(auth) as resource:
        ...  # resource.url + "/files" needs scope files:read
"""

from ._authorization_server import AuthorizationServer, DemoTokenError, Grant, TokenRequestRecord
from ._base import LoopbackServer
from ._resource_server import ResourceServer, Route, SeenRequest, default_routes

__all__ = [
    "AuthorizationServer",
    "DemoTokenError",
    "Grant",
    "LoopbackServer",
    "ResourceServer",
    "Route",
    "SeenRequest",
    "TokenRequestRecord",
    "default_routes",
]
