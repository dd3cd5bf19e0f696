"""The challenge model: Challenge, format_challenge, the Bearer and DPoP views, DPoP-Nonce."""

from __future__ import annotations

import pytest

from sansio_upscope import BearerChallenge, Challenge, parse_www_authenticate
from sansio_upscope.challenges import (
    DPoPChallenge,
    dpop_challenge,
    dpop_nonce,
    format_challenge,
    www_authenticate_values,
)


def bearer(value: str) -> BearerChallenge:
    (challenge,) = parse_www_authenticate(value, strict=True)
    return BearerChallenge.from_challenge(challenge)


# --- Challenge ----------------------------------------------------------------------


def test_names_are_lower_case_and_params_read_only() -> None:
    ch = Challenge("Bearer", {"Realm": "x"})
    assert ch.scheme == "bearer"
    assert dict(ch.params) == {"realm": "x"}
    with pytest.raises(TypeError):
        ch.params["realm"] = "y"  # type: ignore[index]


def test_equality_ignores_param_order_and_challenges_hash() -> None:
    a = Challenge("bearer", {"a": "1", "b": "2"})
    b = Challenge("bearer", {"b": "2", "a": "1"})
    assert a == b
    assert hash(a) == hash(b)
    assert a != Challenge("bearer", {"a": "1", "b": "3"})
    assert Challenge("basic", {}, "abc") != Challenge("basic", {}, "abd")
    assert Challenge("basic") != "basic"


def test_repr_shows_a_plain_dict() -> None:
    assert repr(Challenge("bearer", {"a": "1"})) == (
        "Challenge(scheme='bearer', params={'a': '1'}, token68=None)"
    )


def test_token68_and_params_together_are_refused() -> None:
    with pytest.raises(ValueError, match="never both"):
        Challenge("basic", {"realm": "x"}, "abc")


def test_names_equal_but_for_case_are_refused() -> None:
    with pytest.raises(ValueError, match="case-insensitively"):
        Challenge("bearer", {"scope": "a", "SCOPE": "b"})


# --- format_challenge -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("challenge", "text"),
    [
        (Challenge("bearer"), "bearer"),
        (Challenge("negotiate", {}, "a/b+c=="), "negotiate a/b+c=="),
        (
            Challenge("bearer", {"realm": "x", "scope": ""}),
            'bearer realm="x", scope=""',
        ),
        (
            Challenge("basic", {"title": 'Login to "apps" \\ now', "d": "caf\xe9\t!"}),
            'basic title="Login to \\"apps\\" \\\\ now", d="caf\xe9\t!"',
        ),
    ],
)
def test_format_challenge(challenge: Challenge, text: str) -> None:
    assert format_challenge(challenge) == text
    assert str(challenge) == text
    assert parse_www_authenticate(text, strict=True) == [challenge]


def test_formatted_list_round_trips() -> None:
    challenges = [Challenge("basic", {"realm": "a, b"}), Challenge("bearer", {"scope": "x y"})]
    text = ", ".join(map(str, challenges))
    assert parse_www_authenticate(text, strict=True) == challenges


@pytest.mark.parametrize(
    ("challenge", "words"),
    [
        (Challenge("bad scheme"), "auth-scheme 'bad scheme' is not a token"),
        (Challenge(""), "is not a token"),
        (Challenge("basic", {}, "a b"), "token68 'a b'"),
        (Challenge("basic", {}, "=abc"), "token68"),
        (Challenge("bearer", {"a b": "x"}), "parameter name 'a b'"),
        (Challenge("bearer", {"a": "x\ny"}), "no quoted-string can carry"),
        (Challenge("bearer", {"a": "\u20ac"}), "beyond ISO-8859-1"),
    ],
)
def test_format_challenge_refuses_what_the_grammar_cannot_carry(
    challenge: Challenge, words: str
) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        format_challenge(challenge)


# --- BearerChallenge ------------------------------------------------------------------


def test_bearer_view_of_the_mcp_403() -> None:
    b = bearer(
        'Bearer error="insufficient_scope", scope="files:read files:write", '
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", '
        'error_description="Additional file write permission required", realm="mcp", '
        'error_uri="https://docs.example/scopes"'
    )
    assert b == BearerChallenge(
        scheme="bearer",
        error="insufficient_scope",
        error_description="Additional file write permission required",
        error_uri="https://docs.example/scopes",
        realm="mcp",
        scope=frozenset({"files:read", "files:write"}),
        resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource",
    )
    assert b.challenge is not None
    assert b.challenge.scheme == "bearer"


def test_absent_parameters_read_as_absent() -> None:
    b = bearer("Bearer")
    assert b.scope is None
    assert (b.error, b.error_description, b.error_uri, b.realm, b.resource_metadata) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert b.acr_values == ()
    assert b.max_age is None
    assert b.invalid_scopes == ()


def test_empty_scope_is_the_empty_set_not_none() -> None:
    assert bearer('Bearer scope=""').scope == frozenset()


def test_error_scope_does_not_shadow_scope() -> None:
    b = bearer('Bearer error_scope="admin", scope="read"')
    assert b.scope == frozenset({"read"})


def test_invalid_scope_tokens_are_reported_never_dropped() -> None:
    b = bearer(r'Bearer scope="a \"b\" c caf' + "\xe9" + r' d\\e"')
    assert b.scope == frozenset({"a", "c"})
    assert b.invalid_scopes == ('"b"', "caf\xe9", "d\\e")


def test_dpop_challenge_reads_the_same_parameters() -> None:
    b = bearer('DPoP error="insufficient_scope", scope="x"')
    assert (b.scheme, b.error, b.scope) == ("dpop", "insufficient_scope", frozenset({"x"}))


def test_acr_values_keep_their_order_of_preference() -> None:
    b = bearer('Bearer error="insufficient_user_authentication", acr_values="  gold  silver "')
    assert b.acr_values == ("gold", "silver")


@pytest.mark.parametrize(
    ("value", "max_age"),
    [
        ("max_age=5", 5),
        ('max_age="5"', 5),
        ("max_age=0", 0),
        ("max_age=007", 7),
        ("max_age=000000000000000000000000000001", 1),
        ("max_age=999999999999", 999_999_999_999),
        ("max_age=1000000000000", None),  # more than 12 digits: over 30,000 years
        ("max_age=" + "9" * 5000, None),  # beyond int()'s digit limit: never raises
        ('max_age="-5"', None),
        ('max_age="1.5"', None),
        ('max_age=""', None),
        ('max_age=" 5"', None),
        ("max_age=five", None),
        ('max_age="\xb2"', None),  # SUPERSCRIPT TWO: str.isdigit() says yes, RFC says no
    ],
)
def test_max_age_is_a_non_negative_integer(value: str, max_age: int | None) -> None:
    assert bearer(f"Bearer {value}").max_age == max_age


# --- DPoP -----------------------------------------------------------------------------


def test_dpop_view() -> None:
    (ch,) = parse_www_authenticate('DPoP algs="ES256  PS256", error="use_dpop_nonce"')
    d = DPoPChallenge.from_challenge(ch, nonce="n-1")
    assert d == DPoPChallenge(error="use_dpop_nonce", algs=("ES256", "PS256"), nonce="n-1")
    assert d.challenge is ch


@pytest.mark.parametrize(
    ("headers", "nonce"),
    [
        ([("DPoP-Nonce", "eyJ7S_zG.eyJH0-Z.HX4w-7v")], "eyJ7S_zG.eyJH0-Z.HX4w-7v"),
        ([(b"dpop-nonce", b" a,b \t")], "a,b"),  # OWS trimmed; "," is an NQCHAR
        ([("Content-Type", "text/plain")], None),
        ([("DPoP-Nonce", "a"), ("DPoP-Nonce", "a")], None),  # §8: MUST NOT be more than one
        ([("DPoP-Nonce", "")], None),
        ([("DPoP-Nonce", "a b")], None),  # §8.1: 1*NQCHAR, no SP
        ([("DPoP-Nonce", 'a"b')], None),
        ([("DPoP-Nonce", "caf\xe9")], None),
    ],
)
def test_dpop_nonce(headers: list[tuple[str | bytes, str | bytes]], nonce: str | None) -> None:
    assert dpop_nonce(headers) == nonce


def test_dpop_challenge_pairs_the_challenge_with_the_nonce() -> None:
    headers: list[tuple[str | bytes, str | bytes]] = [
        (b"WWW-Authenticate", b"Bearer"),
        ("www-authenticate", 'DPoP error="use_dpop_nonce", error_description="nonce needed"'),
        ("DPoP-Nonce", "n-42"),
    ]
    assert dpop_challenge(iter(headers)) == DPoPChallenge(
        error="use_dpop_nonce", error_description="nonce needed", nonce="n-42"
    )


def test_dpop_challenge_is_none_without_a_dpop_challenge() -> None:
    assert dpop_challenge([("WWW-Authenticate", 'Bearer realm="x"'), ("DPoP-Nonce", "n")]) is None
    assert dpop_challenge([]) is None


def test_www_authenticate_values_keeps_every_line_in_order() -> None:
    headers: list[tuple[str | bytes, str | bytes]] = [
        ("WWW-Authenticate", "Basic"),
        ("Content-Length", "0"),
        (b"www-authenticate", b"Bearer"),
    ]
    assert www_authenticate_values(headers) == ["Basic", b"Bearer"]
