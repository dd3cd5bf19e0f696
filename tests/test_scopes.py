"""Scope arithmetic: RFC 6749 §3.3 scope-token syntax, stable formatting."""

from __future__ import annotations

import pytest

from sansio_upscope.scopes import format_scope, invalid_scope_tokens, parse_scope


@pytest.mark.parametrize(
    ("value", "valid", "invalid"),
    [
        ("", frozenset(), ()),
        ("   ", frozenset(), ()),
        ("read", frozenset({"read"}), ()),
        ("read  write read", frozenset({"read", "write"}), ()),
        ("files:read files:write user:profile", {"files:read", "files:write", "user:profile"}, ()),
        # RFC 6750 §3's own example: "=", "&" and "," are scope-token characters.
        (
            "urn:example:channel=HBO&urn:example:rating=G,PG-13",
            {"urn:example:channel=HBO&urn:example:rating=G,PG-13"},
            (),
        ),
        ('a "b" c', {"a", "c"}, ('"b"',)),
        ("a\\b", frozenset(), ("a\\b",)),
        ("a\tb c", {"c"}, ("a\tb",)),  # only SP delimits
        ("caf\xe9 x \x7f", {"x"}, ("caf\xe9", "\x7f")),
    ],
)
def test_parse_scope(value: str, valid: set[str], invalid: tuple[str, ...]) -> None:
    assert parse_scope(value) == (frozenset(valid), invalid)


def test_format_scope_is_sorted_distinct_and_stable() -> None:
    assert format_scope(["b", "a", "b", "c:d"]) == "a b c:d"
    assert format_scope(frozenset({"z", "y"})) == format_scope(("y", "z")) == "y z"
    assert format_scope([]) == ""


def test_format_then_parse_round_trips() -> None:
    scopes = frozenset({"openid", "files:write", "urn:x=1,2"})
    assert parse_scope(format_scope(scopes)) == (scopes, ())


@pytest.mark.parametrize("bad", ["a b", "", 'q"', "back\\slash", "t\tab", "caf\xe9"])
def test_format_scope_refuses_what_is_not_a_scope_token(bad: str) -> None:
    with pytest.raises(ValueError, match=r"not RFC 6749 §3\.3 scope-tokens") as info:
        format_scope(["ok", bad])
    assert repr(bad) in str(info.value)


def test_invalid_scope_tokens() -> None:
    assert invalid_scope_tokens(["ok", "b b", "a a", "b b"]) == ("a a", "b b")
    assert invalid_scope_tokens([]) == ()
