"""Sans-IO OAuth token acquisition: discovery (RFC 9728, RFC 8414), client credentials,
refresh, authorization code with PKCE S256, client registration (MCP order).

A token source answers one ``RequestToken`` with a ``TokenFlow`` that emits
``HttpRequest`` / ``OpenAuthorizationUrl`` steps and takes ``HttpResponse`` /
``AuthorizationRedirect`` back; the adapters run it over their own HTTP. Nothing here
opens a socket or reads a clock.
"""

from ._clients import ClientStore, InMemoryClientStore, RegisteredClient
from ._errors import (
    AuthorizationError,
    InsecureEndpointError,
    InvalidResponseError,
    MetadataError,
    OAuthError,
    RegistrationError,
    TokenEndpointError,
)
from ._flow import Phase, TokenFlow
from ._messages import (
    AuthorizationRedirect,
    Failed,
    Finished,
    HttpRequest,
    HttpResponse,
    OpenAuthorizationUrl,
    Step,
)
from ._metadata import AuthorizationServerMetadata, ProtectedResourceMetadata
from ._sources import AuthorizationCode, ClientCredentials

__all__ = [
    "AuthorizationCode",
    "AuthorizationError",
    "AuthorizationRedirect",
    "AuthorizationServerMetadata",
    "ClientCredentials",
    "ClientStore",
    "Failed",
    "Finished",
    "HttpRequest",
    "HttpResponse",
    "InMemoryClientStore",
    "InsecureEndpointError",
    "InvalidResponseError",
    "MetadataError",
    "OAuthError",
    "OpenAuthorizationUrl",
    "Phase",
    "ProtectedResourceMetadata",
    "RegisteredClient",
    "RegistrationError",
    "Step",
    "TokenEndpointError",
    "TokenFlow",
]
