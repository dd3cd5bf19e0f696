"""Registered clients and where they are kept (MCP client registration; RFC 7591)."""

from __future__ import annotations

import json
from typing import Protocol

import attrs

from ._errors import RegistrationError
from ._messages import HttpRequest, HttpResponse
from ._metadata import json_object

__all__ = ["ClientStore", "InMemoryClientStore", "RegisteredClient"]


@attrs.frozen(kw_only=True)
class RegisteredClient:
    """A client identifier (and secret, for confidential clients) at one issuer.

    ``token_endpoint_auth_method`` is what registration agreed (RFC 7591 §2), or None
    to choose from the server's metadata.
    """

    client_id: str
    client_secret: str | None = attrs.field(default=None, repr=False)
    token_endpoint_auth_method: str | None = None


class ClientStore(Protocol):
    """Keeps registered clients by issuer, so an application can persist them."""

    def get(self, issuer: str) -> RegisteredClient | None: ...

    def set(self, issuer: str, client: RegisteredClient) -> None: ...


class InMemoryClientStore:
    """The default ``ClientStore``: forgets everything when the process ends."""

    def __init__(self) -> None:
        self._clients: dict[str, RegisteredClient] = {}

    def get(self, issuer: str) -> RegisteredClient | None:
        return self._clients.get(issuer)

    def set(self, issuer: str, client: RegisteredClient) -> None:
        self._clients[issuer] = client

    def __repr__(self) -> str:
        return f"InMemoryClientStore(issuers={sorted(self._clients)!r})"


def registration_request(endpoint: str, *, redirect_uri: str, client_name: str) -> HttpRequest:
    """RFC 7591 §3.1: a public native client (RFC 8252 §8.4) using the code grant.

    No ``scope``: the client is registered once per issuer and then steps up, so the scopes
    of the first request would cap later ones at servers that enforce registered scopes
    (RFC 7591 §2), and servers that own no resource scopes refuse them
    (``invalid_client_metadata`` from oidc-provider). ``application_type: native``
    (OpenID Connect Dynamic Client Registration §2) lets the server accept the loopback
    redirect URI on any port (RFC 8252 §7.3): each authorization listens on a new one.
    """
    metadata: dict[str, object] = {
        "client_name": client_name,
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    return HttpRequest(
        method="POST",
        url=endpoint,
        headers=(("Content-Type", "application/json"), ("Accept", "application/json")),
        body=json.dumps(metadata).encode(),
    )


def registration_response(response: HttpResponse, endpoint: str) -> RegisteredClient:
    """RFC 7591 §3.2.1 (201 with client information) or §3.2.2 (400 with an error).

    Raises ``RegistrationError`` or ``InvalidResponseError``.
    """
    document = json_object(response, "client registration response", endpoint)
    if response.status_code not in (200, 201):
        raise RegistrationError(
            "Dynamic client registration was refused",
            error=_text(document.get("error")),
            error_description=_text(document.get("error_description")),
            status_code=response.status_code,
            url=endpoint,
        )
    client_id = document.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise RegistrationError(
            "The client registration response has no client_id",
            status_code=response.status_code,
            url=endpoint,
        )
    # RFC 7591 §3.2.1: the response holds the metadata as registered; a server that
    # leaves the method out registered what was asked for: a public client (``none``),
    # whatever secret it also returned.
    return RegisteredClient(
        client_id=client_id,
        client_secret=_text(document.get("client_secret")),
        token_endpoint_auth_method=_text(document.get("token_endpoint_auth_method")) or "none",
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
