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
from sansio_upscope.oauth import TokenSource

from ._codec import (
    client_from_json,
    client_to_json,
    failure_from_json,
    malformed,
    number_or_none,
    text,
    text_or_none,
    thumbprint,
)

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
    #: A DPoP token's key, as its RFC 7638 thumbprint: the key itself is not kept, so
    #: the token serves only a source holding that key (RFC 9449 §6).
    dpop_jkt: str | None = None

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
            dpop_jkt=None if token.dpop_key is None else thumbprint(token.dpop_key),
        )

    def remember(self, source: object) -> Token:
        """The token, after telling an OAuth ``source`` which authorization server its
        refresh token goes back to (RFC 6749 §10.4)."""
        token = self.token
        if token.refresh_token and self.refresh_issuer and isinstance(source, TokenSource):
            source.remember_refresh_token(token.refresh_token, self.refresh_issuer)
        if token.token_type == "DPoP":
            return attrs.evolve(token, dpop_key=getattr(source, "_dpop_key", None))
        return token

    def usable_by(self, source: object) -> bool:
        """Can ``source``'s requests carry this token? A DPoP token needs proofs signed
        with the key it is bound to (RFC 9449 §6): only a source holding that key."""
        if self.token.token_type != "DPoP":
            return True
        key = getattr(source, "_dpop_key", None)
        return key is not None and self.dpop_jkt == thumbprint(key)

    def answers(self, request: RequestToken, now: float) -> bool:
        """Can this token answer ``request`` instead of a token request (the core's
        ``RequestToken.answered_by``: unexpired, not the token the request carried, every
        scope asked for, the same RFC 9470 need)?"""
        return request.answered_by(
            self.token, now=now, acr_values=self.acr_values, obtained_at=self.obtained_at
        )

    def settles(self, request: RequestToken, now: float, source: object = None) -> bool:
        """Is it the fleet's answer to ``request``? It answers it, or it is the unexpired
        token obtained for the very scopes asked, granted narrower (RFC 6749 §3.3): the
        core then gives up (``ScopeNotGrantedError``) with no token request, as it does in
        one process for a scope the authorization server already refused. Never a DPoP
        token ``source`` cannot use (``usable_by``)."""
        if not self.usable_by(source):
            return False
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
            "dpop_jkt": self.dpop_jkt,
        }

    @classmethod
    def from_json(cls, data: Any) -> StoredToken:
        """Raises ``ValueError`` (or ``TypeError``, ``KeyError``) for anything that is not
        a record this module wrote."""
        if not isinstance(data, dict):
            raise ValueError("a token record is not a JSON object")
        token = Token(
            text(data["access_token"]),
            token_type=text(data["token_type"]),
            scopes=None if data["scopes"] is None else [text(s) for s in data["scopes"]],
            expires_at=number_or_none(data["expires_at"]),
            refresh_token=text_or_none(data["refresh_token"]),
            # Rule 11: the protected resource it was issued for (older records: None).
            resource=text_or_none(data.get("resource")),
        )
        max_age = data["max_age"]
        if max_age is not None and not isinstance(max_age, int):
            raise ValueError("max_age is not an integer")
        return cls(
            token=token,
            obtained_at=float(number_or_none(data["obtained_at"]) or 0.0),
            acr_values=tuple(text(value) for value in data["acr_values"]),
            max_age=max_age,
            refresh_issuer=text_or_none(data["refresh_issuer"]),
            fence=int(data["fence"]),
            requested=None
            if data["requested"] is None
            else frozenset(map(text, data["requested"])),
            dpop_jkt=text_or_none(data.get("dpop_jkt")),
        )


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
        for data in space.get("failures", {}).values():
            failure_from_json(data)
        for data in space.get("leases", {}).values():
            float(data["expires_at"]), int(data["fence"]), str(data["holder"])
