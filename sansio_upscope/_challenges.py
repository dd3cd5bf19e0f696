"""The challenge model: a generic RFC 9110 challenge and the Bearer / DPoP views on it.

INTERFACE CONTRACT (the machine relies on the names and field types below, keep them):

* ``Challenge``: ``scheme`` (lower-case str), ``params`` (read-only mapping, lower-case
  names -> unescaped values), ``token68`` (str or None). A challenge has params or a
  token68, never both. ``str(challenge)`` / ``format_challenge`` write it back in the
  RFC 9110 §11 syntax, so that parsing the result gives an equal challenge.
* ``BearerChallenge.from_challenge(ch)``: a view for any scheme that uses the RFC 6750
  parameters (``bearer`` and ``dpop``): ``scheme``, ``error``, ``error_description``,
  ``error_uri``, ``realm``, ``scope`` (frozenset of valid scope-tokens, None when absent,
  empty for ``scope=""``), ``invalid_scopes`` (tuple of tokens that break RFC 6749 §3.3,
  never sent anywhere), ``resource_metadata``, ``acr_values`` (tuple), ``max_age`` (int or
  None), ``challenge`` (the generic one).
* ``DPoPChallenge.from_challenge(ch, *, nonce=None)``: ``error``, ``error_description``,
  ``algs`` (tuple), ``nonce``; ``dpop_nonce(headers)`` reads the single ``DPoP-Nonce``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from . import _abnf
from ._scopes import parse_scope

__all__ = ["BearerChallenge", "Challenge", "DPoPChallenge", "dpop_nonce", "format_challenge"]


def _lower(scheme: str) -> str:
    return scheme.lower()


def _freeze(params: Mapping[str, str]) -> Mapping[str, str]:
    frozen = {name.lower(): value for name, value in params.items()}
    if len(frozen) != len(params):
        # RFC 9110 §11.2: names match case-insensitively and "MUST only occur once".
        raise ValueError(
            f"parameter names {sorted(params)!r} repeat when compared case-insensitively; "
            "each name may occur once per challenge (RFC 9110 §11.2)"
        )
    return MappingProxyType(frozen)


@attrs.frozen(eq=False)
class Challenge:
    """One challenge from a ``WWW-Authenticate`` field (RFC 9110 §11.3).

    ``scheme`` and the parameter names are stored lower-case (both match
    case-insensitively, §11.1, §11.2). Equality ignores the order of ``params``.

    Raises ``ValueError`` when given both params and a token68, or two parameter names
    that differ only in case.
    """

    scheme: str = attrs.field(converter=_lower)
    params: Mapping[str, str] = attrs.field(
        factory=dict, converter=_freeze, repr=lambda params: repr(dict(params))
    )
    token68: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.params and self.token68 is not None:
            raise ValueError(
                "a challenge carries a token68 or auth-params, never both (RFC 9110 §11.3)"
            )

    @classmethod
    def _from_parser(cls, scheme: str, params: dict[str, str], token68: str | None) -> Challenge:
        # The parser has already lower-cased the names, refused duplicates and kept
        # token68 and params apart: skip the converters on the hot path.
        self = object.__new__(cls)
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "params", MappingProxyType(params))
        object.__setattr__(self, "token68", token68)
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Challenge):
            return NotImplemented
        return (
            self.scheme == other.scheme
            and self.token68 == other.token68
            and self.params == other.params
        )

    def __hash__(self) -> int:
        return hash((self.scheme, self.token68, frozenset(self.params.items())))

    def __str__(self) -> str:
        return format_challenge(self)


def format_challenge(challenge: Challenge) -> str:
    """The challenge in RFC 9110 §11.3 syntax, for a ``WWW-Authenticate`` value.

    Every parameter value is sent as a quoted-string, escaping only DQUOTE and backslash
    (§5.6.4 "SHOULD NOT generate a quoted-pair" for anything else; §11.5: realm "MUST"
    be quoted). ``parse_www_authenticate`` of the result gives back an equal challenge.
    Join several with ", " for one field line.

    Raises ``ValueError`` when the scheme, a parameter name or the token68 breaks its
    grammar, or a value holds a character no quoted-string can carry (a control
    character other than HTAB, or a code point above U+00FF).
    """
    if _abnf.TOKEN.fullmatch(challenge.scheme) is None:
        raise ValueError(
            f"auth-scheme {challenge.scheme!r} is not a token (RFC 9110 §11.1); use letters, "
            "digits and !#$%&'*+-.^_`|~ only"
        )
    if challenge.token68 is not None:
        if _abnf.TOKEN68.fullmatch(challenge.token68) is None:
            raise ValueError(
                f"token68 {challenge.token68!r} of {challenge.scheme!r} breaks RFC 9110 §11.2: "
                "use letters, digits and -._~+/ followed by optional '=' padding"
            )
        return f"{challenge.scheme} {challenge.token68}"
    if not challenge.params:
        return challenge.scheme
    parts = []
    for name, value in challenge.params.items():
        if _abnf.TOKEN.fullmatch(name) is None:
            raise ValueError(
                f"parameter name {name!r} of {challenge.scheme!r} is not a token (RFC 9110 §11.2)"
            )
        if _abnf.QUOTABLE.fullmatch(value) is None:
            raise ValueError(
                f"the value of parameter {name!r} of {challenge.scheme!r} holds a character "
                "that no quoted-string can carry (RFC 9110 §5.6.4: HTAB, SP, visible "
                "ASCII and %x80-FF only); remove control characters, and encode text "
                "beyond ISO-8859-1 first"
            )
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{name}="{escaped}"')
    return f"{challenge.scheme} {', '.join(parts)}"


# RFC 9470 §3: max_age "MUST be a non-negative integer". A value longer than this (after
# leading zeros) would be over 30,000 years; it is read as not an integer, which also
# keeps int() away from its digit limit on hostile input.
_MAX_AGE_DIGITS = 12


def _non_negative_int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0") or "0"
    if len(digits) > _MAX_AGE_DIGITS:
        return None
    return int(digits)


@attrs.frozen(kw_only=True)
class BearerChallenge:
    """The RFC 6750 §3 / RFC 9728 §5.1 / RFC 9470 §3 reading of a challenge.

    ``scope`` holds the valid scope-tokens (RFC 6749 §3.3); tokens that break that
    grammar are kept apart in ``invalid_scopes`` so that they are reported, never sent.
    ``max_age`` is None unless the value is a non-negative decimal integer (token or
    quoted-string form, RFC 9470 §3). ``acr_values`` keeps the order of preference.
    """

    scheme: str = "bearer"
    error: str | None = None
    error_description: str | None = None
    error_uri: str | None = None
    realm: str | None = None
    scope: frozenset[str] | None = None
    invalid_scopes: tuple[str, ...] = ()
    resource_metadata: str | None = None
    acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    challenge: Challenge | None = attrs.field(default=None, repr=False, eq=False)

    @classmethod
    def from_challenge(cls, ch: Challenge) -> BearerChallenge:
        """Read the RFC 6750 parameters of ``ch`` (any scheme; unknown params ignored).

        Never raises: a missing or malformed parameter reads as absent, except scope
        tokens, which go to ``invalid_scopes``.
        """
        p = ch.params
        scope: frozenset[str] | None = None
        invalid: tuple[str, ...] = ()
        if "scope" in p:
            scope, invalid = parse_scope(p["scope"])
        return cls(
            scheme=ch.scheme,
            error=p.get("error"),
            error_description=p.get("error_description"),
            error_uri=p.get("error_uri"),
            realm=p.get("realm"),
            scope=scope,
            invalid_scopes=invalid,
            resource_metadata=p.get("resource_metadata"),
            # RFC 9470 §3: "a space-separated string listing the authentication context
            # class reference values in order of preference".
            acr_values=tuple(p.get("acr_values", "").split()),
            max_age=_non_negative_int(p.get("max_age")),
            challenge=ch,
        )


@attrs.frozen(kw_only=True)
class DPoPChallenge:
    """The RFC 9449 §7.1 reading of a ``DPoP`` challenge, with the §9 nonce if any."""

    error: str | None = None
    error_description: str | None = None
    algs: tuple[str, ...] = ()
    nonce: str | None = None
    challenge: Challenge | None = attrs.field(default=None, repr=False, eq=False)

    @classmethod
    def from_challenge(cls, ch: Challenge, *, nonce: str | None = None) -> DPoPChallenge:
        """Read ``error``, ``error_description`` and the space-delimited ``algs``
        (RFC 9449 §7.1) of ``ch``; ``nonce`` is the response's ``DPoP-Nonce``, if any.
        Never raises."""
        p = ch.params
        return cls(
            error=p.get("error"),
            error_description=p.get("error_description"),
            algs=tuple(p.get("algs", "").split()),
            nonce=nonce,
            challenge=ch,
        )


def dpop_nonce(headers: Iterable[tuple[str | bytes, str | bytes]]) -> str | None:
    """The ``DPoP-Nonce`` response header (RFC 9449 §8, §9), or None.

    None too when the header appears more than once (§8: "MUST NOT be more than one")
    or its value is not ``1*NQCHAR`` (§8.1). Never raises for str/bytes headers.
    """
    found: list[str] = []
    for name, value in headers:
        n = name.decode("latin-1") if isinstance(name, bytes) else name
        if n.lower() == "dpop-nonce":
            found.append(value.decode("latin-1") if isinstance(value, bytes) else value)
    if len(found) != 1:
        return None
    nonce = found[0].strip(" \t")
    return nonce if _abnf.SCOPE_TOKEN.fullmatch(nonce) is not None else None
