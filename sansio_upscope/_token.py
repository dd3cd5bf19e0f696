"""Tokens and the policy that bounds what the machine may ask for."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._jose import SigningKey
from ._scopes import invalid_scope_tokens
from ._urls import covers

__all__ = ["Policy", "Token"]

_TOKEN_TYPES = {"bearer": "Bearer", "dpop": "DPoP"}


def _scope_set(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("scopes must be an iterable of scope strings, not one str")
    scopes = frozenset(value)
    invalid = invalid_scope_tokens(scopes)
    if invalid:
        # RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); never send others.
        raise ValueError(f"not RFC 6749 scope tokens: {', '.join(map(repr, invalid))}")
    return scopes


def _token_type(value: str) -> str:
    try:
        return _TOKEN_TYPES[value.lower()]
    except KeyError:
        raise ValueError(
            f"token_type {value!r} is not supported: only 'Bearer' (RFC 6750) and "
            f"'DPoP' (RFC 9449) tokens can be sent"
        ) from None


@attrs.frozen(kw_only=False)
class Token:
    """An access token as the authorization server issued it.

    ``scopes`` is what was *granted*; None means "as requested" (RFC 6749 §5.1: the
    server returns ``scope`` only when it differs). ``expires_at`` is in the same clock
    as the ``now`` values the caller feeds the machine (seconds, any epoch).
    ``resource`` is the RFC 8707 resource the token was issued for, as the resource's
    RFC 9728 metadata named it (the OAuth flows set it): the token is sent only to URLs
    it covers (same origin, path prefix on a segment boundary), and ``Upscopes`` learns
    from it which URLs share the token. None: the whole origin (rule 10).
    ``dpop_key`` is the key a DPoP token is bound to (RFC 9449 §6): every request that
    sends the token carries a proof signed with it.
    The access and refresh tokens and the key never appear in a repr.
    """

    access_token: str = attrs.field(repr=False)
    token_type: str = attrs.field(default="Bearer", converter=_token_type)
    scopes: frozenset[str] | None = attrs.field(default=None, converter=_scope_set)
    expires_at: float | None = None
    refresh_token: str | None = attrs.field(default=None, repr=False)
    resource: str | None = None
    dpop_key: SigningKey | None = attrs.field(default=None, repr=False, eq=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not self.access_token:
            raise ValueError("access_token must not be empty")
        if self.dpop_key is not None and self.token_type != "DPoP":
            raise ValueError("dpop_key is for DPoP tokens (RFC 9449); this one is Bearer")
        if self.resource is not None and not covers(self.resource, self.resource):
            raise ValueError(
                f"resource must be an http(s) URL with no dot segment: {self.resource!r}"
            )

    def covers(self, url: str) -> bool:
        """May this token be sent to ``url``: is it under ``resource``? A token with no
        ``resource`` leaves that to the origin check (rule 10)."""
        return self.resource is None or covers(self.resource, url)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` field value: ``Bearer <token>`` or ``DPoP <token>``."""
        return f"{self.token_type} {self.access_token}"

    def expired(self, now: float | None) -> bool:
        """True when ``now`` is known and at or past ``expires_at``."""
        return now is not None and self.expires_at is not None and now >= self.expires_at


def _optional_scope_set(value: Iterable[str] | None) -> frozenset[str] | None:
    return _scope_set(value)


def _required_scope_set(value: Iterable[str]) -> frozenset[str]:
    scopes = _scope_set(value)
    assert scopes is not None
    return scopes


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value}")


@attrs.frozen(kw_only=True)
class Policy:
    """What the machine may do for one protected resource.

    * ``initial_scopes``: asked for in every token request (a scope hint, for servers
      whose challenges do not name the scope they need).
    * ``allowed_scopes``: the ceiling; a challenge for a scope outside it gives up
      before any token request (rule 6). None = no ceiling.
    * ``max_token_requests``: token requests one exchange may make (rule 4).
    * ``max_retries``: times one exchange may send its request again.
    * ``max_scopes``: the most scopes one token request may ask for. Without an
      ``allowed_scopes`` ceiling, a hostile server naming a new scope on every
      response would otherwise grow the request (and the memory behind it) forever.
    * ``max_challenge_size``: the most bytes of ``WWW-Authenticate`` (all field lines
      together) the machine will parse; a larger challenge gives up unparsed.
    """

    initial_scopes: frozenset[str] = attrs.field(factory=frozenset, converter=_required_scope_set)
    allowed_scopes: frozenset[str] | None = attrs.field(default=None, converter=_optional_scope_set)
    max_token_requests: int = attrs.field(default=2, validator=_positive)
    max_retries: int = attrs.field(default=4, validator=_positive)
    max_challenge_size: int = attrs.field(default=64 * 1024, validator=_positive)
    max_scopes: int = attrs.field(default=64, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if len(self.initial_scopes) > self.max_scopes:
            raise ValueError(f"more initial_scopes than max_scopes ({self.max_scopes})")
        if self.allowed_scopes is not None and not self.initial_scopes <= self.allowed_scopes:
            outside = " ".join(sorted(self.initial_scopes - self.allowed_scopes))
            raise ValueError(f"initial_scopes outside allowed_scopes: {outside}")

    def outside_ceiling(self, scopes: frozenset[str]) -> frozenset[str]:
        """The scopes in ``scopes`` that ``allowed_scopes`` does not permit."""
        if self.allowed_scopes is None:
            return frozenset()
        return scopes - self.allowed_scopes
