"""Sans-IO OAuth token acquisition: discovery (RFC 9728, RFC 8414), client credentials,
refresh, authorization code with PKCE S256, client registration (MCP order),
private_key_jwt (RFC 7523), jwt-bearer, cross-app access (SEP-990) and DPoP (RFC 9449).

A token source answers one ``RequestToken`` with a ``TokenFlow`` that emits
``HttpRequest`` / ``OpenAuthorizationUrl`` steps and takes ``HttpResponse`` /
``AuthorizationRedirect`` back; the adapters run it over their own HTTP. Nothing here
opens a socket or reads a clock.
"""

from .._jose import SigningKey
from ._clients import ClientStore, InMemoryClientStore, RegisteredClient
from ._errors import (
    AssertionRejectedError,
    AuthorizationError,
    InsecureEndpointError,
    InvalidResponseError,
    MetadataError,
    OAuthError,
    RegistrationError,
    SignInRequiredError,
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
from ._sources import AuthorizationCode, ClientCredentials, CrossAppAccess, JwtBearer, TokenSource

__all__ = [
    "AssertionRejectedError",
    "AuthorizationCode",
    "AuthorizationError",
    "AuthorizationRedirect",
    "AuthorizationServerMetadata",
    "ClientCredentials",
    "ClientStore",
    "CrossAppAccess",
    "Failed",
    "Finished",
    "HttpRequest",
    "HttpResponse",
    "InMemoryClientStore",
    "InsecureEndpointError",
    "InvalidResponseError",
    "JwtBearer",
    "MetadataError",
    "OAuthError",
    "OpenAuthorizationUrl",
    "Phase",
    "ProtectedResourceMetadata",
    "RegisteredClient",
    "RegistrationError",
    "SignInRequiredError",
    "SigningKey",
    "Step",
    "TokenEndpointError",
    "TokenFlow",
    "TokenSource",
]
