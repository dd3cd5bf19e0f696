"""Scope arithmetic (RFC 6749 §3.3).

    scope       = scope-token *( SP scope-token )
    scope-token = 1*( %x21 / %x23-5B / %x5D-7E )

Scopes are sets: "the order does not matter" and each token "adds an additional access
range" (§3.3), so the library holds them as ``frozenset[str]`` and writes them sorted,
which makes every request for the same set byte-for-byte the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._abnf import SCOPE_TOKEN

__all__ = ["format_scope", "invalid_scope_tokens", "parse_scope"]

_is_scope_token = SCOPE_TOKEN.fullmatch


def parse_scope(value: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """Split a space-delimited scope; return (valid tokens, invalid tokens).

    Only SP (%x20) delimits (§3.3); runs of SP are read as one. A token with a character
    outside ``scope-token`` (DQUOTE, backslash, HTAB, a control character, non-ASCII)
    lands in the second item, in order of appearance, so the caller can report it; it is
    never silently dropped or sent on. ``""`` gives the empty set. Never raises.
    """
    valid: set[str] = set()
    invalid: list[str] = []
    for item in value.split(" "):
        if not item:
            continue
        if _is_scope_token(item):
            valid.add(item)
        else:
            invalid.append(item)
    return frozenset(valid), tuple(invalid)


def invalid_scope_tokens(scopes: Iterable[str]) -> tuple[str, ...]:
    """The items of ``scopes`` that are not RFC 6749 §3.3 scope-tokens, sorted."""
    return tuple(sorted({s for s in scopes if not _is_scope_token(s)}))


def format_scope(scopes: Iterable[str]) -> str:
    """The ``scope`` parameter value: the distinct tokens sorted and joined with SP.

    Stable: the same set always gives the same string. An empty iterable gives ``""``.
    Raises ``ValueError`` naming every item that is not a scope-token (RFC 6749 §3.3),
    so a malformed scope is never sent to an authorization server.
    """
    distinct = set(scopes)
    bad = invalid_scope_tokens(distinct)
    if bad:
        raise ValueError(
            f"not RFC 6749 §3.3 scope-tokens: {', '.join(repr(s) for s in bad)}; a scope "
            "token is one or more visible ASCII characters other than DQUOTE and "
            "backslash, with no spaces (split space-separated scopes first)"
        )
    return " ".join(sorted(distinct))
