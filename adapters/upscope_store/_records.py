"""What a token store keeps, and when a kept token answers a token request.

A record is a token as the authorization server issued it (granted scopes, expiry,
refresh token) plus what a later reader must know to reuse it: when it was obtained,
for which RFC 9470 authentication need, and which authorization server issued its
refresh token (RFC 6749 §10.4: the refresh token goes back there and nowhere else).
"""

from __future__ import annotations

from typing import Any

import attrs

from sansio_upscope import RequestToken, Token
from sansio_upscope.oauth import RegisteredClient, TokenSource

__all__ = [
    "StoredToken",
    "check_state",
    "client_from_json",
    "client_to_json",
    "malformed",
]


@attrs.frozen(kw_only=True)
class StoredToken:
    """A token kept for one (namespace, protected resource). Secrets stay out of the repr
    (``Token`` hides them)."""

    token: Token
    #: When it was obtained (``time.time()``), for RFC 9470 ``max_age``.
    obtained_at: float
    #: The RFC 9470 need it was obtained for.
    acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    #: The authorization server that issued ``token.refresh_token``, when known.
    refresh_issuer: str | None = None
    #: The fencing value of the lease it was published under (0: none).
    fence: int = 0
    #: The scopes the token request asked for (None: not known).
    requested: frozenset[str] | None = None

    @classmethod
    def obtained(
        cls, token: Token, request: RequestToken, source: object, *, now: float
    ) -> StoredToken:
        """The record of ``token``, just obtained from ``source`` for ``request``."""
        issuer = None
        if token.refresh_token and isinstance(source, TokenSource):
            issuer = source.refresh_token_issuer(token.refresh_token)
        return cls(
            token=token,
            obtained_at=now,
            acr_values=request.acr_values,
            max_age=request.max_age,
            refresh_issuer=issuer,
            requested=request.scopes,
        )

    def remember(self, source: object) -> Token:
        """The token, after telling an OAuth ``source`` which authorization server its
        refresh token goes back to (RFC 6749 §10.4)."""
        token = self.token
        if token.refresh_token and self.refresh_issuer and isinstance(source, TokenSource):
            source.remember_refresh_token(token.refresh_token, self.refresh_issuer)
        return token

    def answers(self, request: RequestToken, now: float) -> bool:
        """Can this token answer ``request`` instead of a token request (the core's
        ``RequestToken.answered_by``: unexpired, not the token the request carried, every
        scope asked for, the same RFC 9470 need)?"""
        return request.answered_by(
            self.token, now=now, acr_values=self.acr_values, obtained_at=self.obtained_at
        )

    def settles(self, request: RequestToken, now: float) -> bool:
        """Is it the fleet's answer to ``request``? It answers it, or it is the unexpired
        token obtained for the very scopes asked, granted narrower (RFC 6749 §3.3): the
        core then gives up (``ScopeNotGrantedError``) with no token request, as it does in
        one process for a scope the authorization server already refused."""
        if self.answers(request, now):
            return True
        current = request.current_token
        return (
            self.requested == request.scopes
            and not self.token.expired(now)
            and (current is None or current.access_token != self.token.access_token)
        )

    def to_json(self) -> dict[str, Any]:
        token = self.token
        return {
            "access_token": token.access_token,
            "token_type": token.token_type,
            "scopes": None if token.scopes is None else sorted(token.scopes),
            "expires_at": token.expires_at,
            "refresh_token": token.refresh_token,
            "resource": token.resource,
            "obtained_at": self.obtained_at,
            "acr_values": list(self.acr_values),
            "max_age": self.max_age,
            "refresh_issuer": self.refresh_issuer,
            "fence": self.fence,
            "requested": None if self.requested is None else sorted(self.requested),
        }

    @classmethod
    def from_json(cls, data: Any) -> StoredToken:
        """Raises ``ValueError`` (or ``TypeError``, ``KeyError``) for anything that is not
        a record this module wrote."""
        if not isinstance(data, dict):
            raise ValueError("a token record is not a JSON object")
        token = Token(
            _text(data["access_token"]),
            token_type=_text(data["token_type"]),
            scopes=None if data["scopes"] is None else [_text(s) for s in data["scopes"]],
            expires_at=_number_or_none(data["expires_at"]),
            refresh_token=_text_or_none(data["refresh_token"]),
            # Rule 11: the protected resource it was issued for (older records: None).
            resource=_text_or_none(data.get("resource")),
        )
        max_age = data["max_age"]
        if max_age is not None and not isinstance(max_age, int):
            raise ValueError("max_age is not an integer")
        return cls(
            token=token,
            obtained_at=float(_number_or_none(data["obtained_at"]) or 0.0),
            acr_values=tuple(_text(value) for value in data["acr_values"]),
            max_age=max_age,
            refresh_issuer=_text_or_none(data["refresh_issuer"]),
            fence=int(data["fence"]),
            requested=None
            if data["requested"] is None
            else frozenset(map(_text, data["requested"])),
        )


def client_to_json(client: RegisteredClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
    }


def client_from_json(data: Any) -> RegisteredClient:
    """Raises ``ValueError``, ``TypeError`` or ``KeyError`` for a malformed record."""
    if not isinstance(data, dict):
        raise ValueError("a client record is not a JSON object")
    return RegisteredClient(
        client_id=_text(data["client_id"]),
        client_secret=_text_or_none(data["client_secret"]),
        token_endpoint_auth_method=_text_or_none(data["token_endpoint_auth_method"]),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a text field is not a string")
    return value


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)


def _number_or_none(value: Any) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError("a time field is not a number")
    return value


def malformed(exc: Exception) -> str:
    """What is wrong with a record, without its values (a value may be a secret)."""
    if isinstance(exc, KeyError):
        return f"the field {exc} is missing"
    return "a field has the wrong type" if isinstance(exc, TypeError) else "a field is invalid"


def check_state(state: dict[str, Any]) -> None:
    """Raises ``ValueError`` (or ``TypeError``...) unless every record decodes: a broken
    file is refused as a whole, on the first read, and never written over."""
    from ._discovery import check_discovery  # (it imports this module)

    int(state.get("fence", 0))
    for namespace, space in state.get("namespaces", {}).items():
        check_discovery(space.get("discovery", {}), namespace)
        for data in space.get("tokens", {}).values():
            StoredToken.from_json(data)
        for data in space.get("clients", {}).values():
            client_from_json(data)
        for data in space.get("leases", {}).values():
            float(data["expires_at"]), int(data["fence"]), str(data["holder"])
