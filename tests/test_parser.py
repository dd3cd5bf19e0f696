"""parse_www_authenticate: a table of real and RFC headers, then the error paths.

Each case is (field value or lines, expected challenges as (scheme, params, token68)).
Sources: RFC 9110 §11, RFC 6750 §3, RFC 9470 §3, RFC 9449 §7 and §9, RFC 9728 §5.1,
the headers MCP servers send (mcp-notes §2) and the regex pitfalls (mcp-notes §5.1).
"""

from __future__ import annotations

import doctest
from collections.abc import Iterable
from pathlib import Path

import pytest

from sansio_upscope import Challenge, HeaderParseError, parse_www_authenticate

Expected = list[tuple[str, dict[str, str], str | None]]

CASES: list[tuple[str, str | bytes | list[str | bytes], Expected]] = [
    # --- RFC 9110 §11.6.1 -----------------------------------------------------------
    (
        "rfc9110-two-challenges-one-line",
        'Basic realm="simple", Newauth realm="apps", type=1, title="Login to \\"apps\\""',
        [
            ("basic", {"realm": "simple"}, None),
            ("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}, None),
        ],
    ),
    # RFC 9110 §11.2: token68 "x=" and "realm=" are token68 values.
    ("token68-realm=", "Bearer realm=", [("bearer", {}, "realm=")]),
    (
        "token68-base64",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        [("basic", {}, "QWxhZGRpbjpvcGVuIHNlc2FtZQ==")],
    ),
    (
        "token68-then-challenge",
        "Negotiate a/b+c==, Basic realm=x",
        [
            ("negotiate", {}, "a/b+c=="),
            ("basic", {"realm": "x"}, None),
        ],
    ),
    ("token68-trailing-ows", "Negotiate abc \t", [("negotiate", {}, "abc")]),
    # RFC 9110 §11.5: same scheme twice, different realms: two challenges.
    (
        "same-scheme-twice",
        'Basic realm="a", Basic realm="b"',
        [
            ("basic", {"realm": "a"}, None),
            ("basic", {"realm": "b"}, None),
        ],
    ),
    # RFC 9110 §5.6.1.2: empty list elements are ignored, in the challenge list and
    # in the parameter list.
    ("empty-elements", " , ,Bearer , a=b,, c=d ,\t,", [("bearer", {"a": "b", "c": "d"}, None)]),
    ("only-separators", ", ,\t,", []),
    ("empty", "", []),
    ("bare-scheme", "Bearer", [("bearer", {}, None)]),
    ("bare-scheme-trailing-sp", "Bearer   ", [("bearer", {}, None)]),
    (
        "case-insensitive-names",
        'BEARER Realm="x", ERROR=invalid_token',
        [
            ("bearer", {"realm": "x", "error": "invalid_token"}, None),
        ],
    ),
    # RFC 9110 §11.2 BWS around "=".
    ("bws", 'Bearer scope \t= \t"w" , realm= x', [("bearer", {"scope": "w", "realm": "x"}, None)]),
    # RFC 9110 §5.6.4: quoted-pair is the octet after the backslash.
    ("quoted-pair", r'Bearer a="\a\\\"", b=""', [("bearer", {"a": 'a\\"', "b": ""}, None)]),
    ("quoted-pair-tab", 'Bearer a="x\\\ty"', [("bearer", {"a": "x\ty"}, None)]),
    # obs-text inside quotes survives from bytes (ISO-8859-1) and from str.
    (
        "obs-text-bytes",
        b'Bearer error_description="caf\xe9 \xff"',
        [
            ("bearer", {"error_description": "caf\xe9 \xff"}, None),
        ],
    ),
    (
        "obs-text-str",
        'Bearer error_description="d\u00e9j\u00e0"',
        [
            ("bearer", {"error_description": "d\u00e9j\u00e0"}, None),
        ],
    ),
    # RFC 9110 §5.3: field lines combined with ", "; a challenge may continue on the
    # next line.
    (
        "lines",
        ['Basic realm="a"', b'Bearer scope="s"'],
        [
            ("basic", {"realm": "a"}, None),
            ("bearer", {"scope": "s"}, None),
        ],
    ),
    (
        "lines-continue",
        ['Bearer realm="a"', 'scope="s"'],
        [
            ("bearer", {"realm": "a", "scope": "s"}, None),
        ],
    ),
    ("lines-empty", ["", "Bearer", ""], [("bearer", {}, None)]),
    # --- RFC 6750 §3 ---------------------------------------------------------------
    ("rfc6750-realm", 'Bearer realm="example"', [("bearer", {"realm": "example"}, None)]),
    (
        "rfc6750-expired",
        'Bearer realm="example", error="invalid_token", '
        'error_description="The access token expired"',
        [
            (
                "bearer",
                {
                    "realm": "example",
                    "error": "invalid_token",
                    "error_description": "The access token expired",
                },
                None,
            )
        ],
    ),
    (
        "rfc6750-scope-openid",
        'Bearer scope="openid profile email"',
        [
            ("bearer", {"scope": "openid profile email"}, None),
        ],
    ),
    (
        "rfc6750-scope-urn",
        'Bearer scope="urn:example:channel=HBO&urn:example:rating=G,PG-13"',
        [("bearer", {"scope": "urn:example:channel=HBO&urn:example:rating=G,PG-13"}, None)],
    ),
    # --- RFC 9470 §3 ---------------------------------------------------------------
    (
        "rfc9470-acr",
        'Bearer error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="myACR"',
        [
            (
                "bearer",
                {
                    "error": "insufficient_user_authentication",
                    "error_description": "A different authentication level is required",
                    "acr_values": "myACR",
                },
                None,
            )
        ],
    ),
    (
        "rfc9470-max-age",
        'Bearer error="insufficient_user_authentication", '
        'error_description="More recent authentication is required", max_age="5"',
        [
            (
                "bearer",
                {
                    "error": "insufficient_user_authentication",
                    "error_description": "More recent authentication is required",
                    "max_age": "5",
                },
                None,
            )
        ],
    ),
    # --- RFC 9449 (DPoP) -----------------------------------------------------------
    (
        "rfc9449-fig17",
        'Bearer, DPoP algs="ES256 PS256"',
        [
            ("bearer", {}, None),
            ("dpop", {"algs": "ES256 PS256"}, None),
        ],
    ),
    (
        "rfc9449-fig18",
        'Bearer, DPoP error="invalid_token", error_description="Invalid DPoP key binding", '
        'algs="ES256"',
        [
            ("bearer", {}, None),
            (
                "dpop",
                {
                    "error": "invalid_token",
                    "error_description": "Invalid DPoP key binding",
                    "algs": "ES256",
                },
                None,
            ),
        ],
    ),
    (
        "rfc9449-fig19",
        'Bearer error="invalid_request", error_description="Multiple methods used to '
        'include access token", DPoP algs="ES256 PS256", error="invalid_request", '
        'error_description="Multiple methods used to include access token"',
        [
            (
                "bearer",
                {
                    "error": "invalid_request",
                    "error_description": "Multiple methods used to include access token",
                },
                None,
            ),
            (
                "dpop",
                {
                    "algs": "ES256 PS256",
                    "error": "invalid_request",
                    "error_description": "Multiple methods used to include access token",
                },
                None,
            ),
        ],
    ),
    (
        "rfc9449-fig24",
        'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce '
        'in DPoP proof"',
        [
            (
                "dpop",
                {
                    "error": "use_dpop_nonce",
                    "error_description": "Resource server requires nonce in DPoP proof",
                },
                None,
            )
        ],
    ),
    # --- RFC 9728 §5.1 -------------------------------------------------------------
    (
        "rfc9728",
        'Bearer resource_metadata="https://resource.example.com/.well-known/'
        'oauth-protected-resource"',
        [
            (
                "bearer",
                {
                    "resource_metadata": "https://resource.example.com/.well-known/"
                    "oauth-protected-resource",
                },
                None,
            )
        ],
    ),
    (
        "rfc9728-with-max-age",
        'Bearer error="insufficient_user_authentication", max_age=5, '
        'resource_metadata="https://r.example/.well-known/oauth-protected-resource"',
        [
            (
                "bearer",
                {
                    "error": "insufficient_user_authentication",
                    "max_age": "5",
                    "resource_metadata": "https://r.example/.well-known/oauth-protected-resource",
                },
                None,
            )
        ],
    ),
    # --- What MCP servers send (mcp-notes §2) ------------------------------------------
    (
        "mcp-ts-403",
        'Bearer error="insufficient_scope", error_description="Insufficient scope", '
        'scope="read write", '
        'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"',
        [
            (
                "bearer",
                {
                    "error": "insufficient_scope",
                    "error_description": "Insufficient scope",
                    "scope": "read write",
                    "resource_metadata": "https://api.example.com/.well-known/oauth-protected-resource",
                },
                None,
            )
        ],
    ),
    (
        "mcp-ts-401-format",
        'Bearer error="invalid_token", error_description="Invalid Authorization header '
        "format, expected 'Bearer TOKEN'\"",
        [
            (
                "bearer",
                {
                    "error": "invalid_token",
                    "error_description": (
                        "Invalid Authorization header format, expected 'Bearer TOKEN'"
                    ),
                },
                None,
            )
        ],
    ),
    (
        "mcp-python-401",
        'Bearer error="invalid_token", error_description="Authentication required", '
        'resource_metadata="http://localhost:8000/.well-known/oauth-protected-resource/mcp"',
        [
            (
                "bearer",
                {
                    "error": "invalid_token",
                    "error_description": "Authentication required",
                    "resource_metadata": "http://localhost:8000/.well-known/oauth-protected-resource/mcp",
                },
                None,
            )
        ],
    ),
    (
        "mcp-python-403",
        'Bearer error="insufficient_scope", error_description="Required scope: files:write"',
        [
            (
                "bearer",
                {
                    "error": "insufficient_scope",
                    "error_description": "Required scope: files:write",
                },
                None,
            )
        ],
    ),
    (
        "mcp-spec-2025-11-25",
        'Bearer error="insufficient_scope", scope="files:read files:write user:profile", '
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", '
        'error_description="Additional file write permission required"',
        [
            (
                "bearer",
                {
                    "error": "insufficient_scope",
                    "scope": "files:read files:write user:profile",
                    "resource_metadata": "https://mcp.example.com/.well-known/oauth-protected-resource",
                    "error_description": "Additional file write permission required",
                },
                None,
            )
        ],
    ),
    (
        "mcp-spec-2026-07-28",
        'Bearer error="insufficient_scope", scope="files:write", '
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", '
        'error_description="File write permission required for this operation"',
        [
            (
                "bearer",
                {
                    "error": "insufficient_scope",
                    "scope": "files:write",
                    "resource_metadata": "https://mcp.example.com/.well-known/oauth-protected-resource",
                    "error_description": "File write permission required for this operation",
                },
                None,
            )
        ],
    ),
    # --- The regex pitfalls (mcp-notes §5.1) ---------------------------------------
    ("pitfall-empty-scope", 'Bearer scope=""', [("bearer", {"scope": ""}, None)]),
    (
        "pitfall-error-scope",
        'Bearer error_scope="x", scope="y"',
        [
            ("bearer", {"error_scope": "x", "scope": "y"}, None),
        ],
    ),
    (
        "pitfall-x-resource-metadata",
        'Bearer x_resource_metadata="a", resource_metadata="b"',
        [
            ("bearer", {"x_resource_metadata": "a", "resource_metadata": "b"}, None),
        ],
    ),
    (
        "pitfall-description-decoy",
        'Bearer error_description="need scope=admin", scope="read"',
        [
            ("bearer", {"error_description": "need scope=admin", "scope": "read"}, None),
        ],
    ),
    (
        "pitfall-realm-decoy",
        'Bearer realm="x, scope=decoy"',
        [
            ("bearer", {"realm": "x, scope=decoy"}, None),
        ],
    ),
    (
        "pitfall-escaped-quotes",
        r'Bearer scope="a \"b\" c"',
        [("bearer", {"scope": 'a "b" c'}, None)],
    ),
    ("pitfall-bws", 'Bearer scope = "w"', [("bearer", {"scope": "w"}, None)]),
    (
        "pitfall-bearer-not-first",
        'Basic realm="x", Bearer scope="s", error=insufficient_scope',
        [
            ("basic", {"realm": "x"}, None),
            ("bearer", {"scope": "s", "error": "insufficient_scope"}, None),
        ],
    ),
    (
        "pitfall-fetch-joined",
        'Basic realm="legacy", Bearer error="insufficient_scope", scope="files:write", '
        'DPoP algs="ES256"',
        [
            ("basic", {"realm": "legacy"}, None),
            ("bearer", {"error": "insufficient_scope", "scope": "files:write"}, None),
            ("dpop", {"algs": "ES256"}, None),
        ],
    ),
    # werkzeug reads this as one challenge with a parameter named "Newauth realm".
    (
        "pitfall-werkzeug-newauth",
        'Basic realm="simple", Newauth realm="apps"',
        [
            ("basic", {"realm": "simple"}, None),
            ("newauth", {"realm": "apps"}, None),
        ],
    ),
    # getsentry/sentry-mcp #939: two resource_metadata in one challenge. RFC 9110 §11.2
    # says MUST occur once; taking either one is a guess, so the challenge is dropped.
    (
        "pitfall-sentry-duplicate",
        'Bearer resource_metadata="https://wrong.example/a", '
        'resource_metadata="https://right.example/b", Basic realm="x"',
        [("basic", {"realm": "x"}, None)],
    ),
]


def _shape(challenges: Iterable[Challenge]) -> Expected:
    return [(c.scheme, dict(c.params), c.token68) for c in challenges]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_table_lenient(value: str | bytes | list[str | bytes], expected: Expected) -> None:
    assert _shape(parse_www_authenticate(value)) == expected


WELL_FORMED = [c for c in CASES if c[0] != "pitfall-sentry-duplicate"]


@pytest.mark.parametrize(
    ("value", "expected"), [c[1:] for c in WELL_FORMED], ids=[c[0] for c in WELL_FORMED]
)
def test_table_strict(value: str | bytes | list[str | bytes], expected: Expected) -> None:
    assert _shape(parse_www_authenticate(value, strict=True)) == expected


def test_bytes_and_str_agree() -> None:
    value = 'Bearer realm="r\xe9", scope="a b"'
    assert parse_www_authenticate(value) == parse_www_authenticate(value.encode("latin-1"))


@pytest.mark.parametrize("strict", [False, True])
def test_a_str_decoded_as_utf8_keeps_its_obs_text(strict: bool) -> None:
    # httpx and aiohttp hand header values over as str decoded from UTF-8: any code
    # point above U+007F inside a quoted-string was obs-text on the wire (RFC 9110 §5.5).
    value = 'Bearer error_description="caf\u00e9 \u2014 ok", realm="api"'
    (challenge,) = parse_www_authenticate(value, strict=strict)
    assert challenge.params == {"error_description": "caf\u00e9 \u2014 ok", "realm": "api"}
    escaped = 'Bearer error="insufficient_scope", error_description="\\\U0001f512 x"'
    (challenge,) = parse_www_authenticate(escaped, strict=strict)
    assert challenge.params["error_description"] == "\U0001f512 x"


def test_iterables_of_any_kind() -> None:
    lines = ('Basic realm="a"', 'Bearer scope="s"')
    expected = parse_www_authenticate(list(lines))
    assert parse_www_authenticate(lines) == expected
    assert parse_www_authenticate(iter(lines)) == expected
    assert parse_www_authenticate(", ".join(lines)) == expected


def test_iterable_of_wrong_items_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="got an item of type int"):
        parse_www_authenticate([1])  # type: ignore[list-item]


# --- Errors: strict raises with offset and excerpt; lenient drops the broken challenge,
# keeps the rest. Each: (id, value, offset, words in the reason, lenient result).
ERRORS: list[tuple[str, str, int, str, Expected]] = [
    ("unterminated-quote", 'Bearer error="oops', 13, "unterminated quoted-string", []),
    ("unterminated-after-backslash", 'Bearer error="oops\\', 13, "unterminated", []),
    (
        "equals-no-name",
        'Bearer =x, Basic realm="b"',
        7,
        "'=' with no parameter name",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "param-no-scheme",
        'realm="x", Basic realm="b"',
        0,
        "no auth-scheme before it",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    ("duplicate", 'Bearer scope="a", SCOPE="b"', 18, "'scope' appears twice", []),
    (
        "token68-then-param",
        'Negotiate abc==, realm="x", Basic realm="y"',
        17,
        "never both",
        [
            ("basic", {"realm": "y"}, None),
        ],
    ),
    (
        "bare-url",
        'Bearer resource_metadata=https://x/y, Basic realm="b"',
        30,
        "contains ':'",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "padded-base64-value",
        "Bearer a=b==, Basic realm=b",
        10,
        "contains '='",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "value-starts-with-delimiter",
        "Bearer a=/x, Basic realm=b",
        9,
        "starts with '/'",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "no-value",
        "Bearer x=y, a=, Basic realm=b",
        14,
        "has no value",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    # "Bearer a=, ..." is a token68, and so is "Bearer a=" at the end.
    (
        "token68-not-no-value",
        "Bearer a=, Basic realm=b",
        0,
        "",
        [
            ("bearer", {}, "a="),
            ("basic", {"realm": "b"}, None),
        ],
    ),
    ("no-value-at-end", "Bearer a=", 7, "", [("bearer", {}, "a=")]),  # a token68, not an error
    (
        "text-after-quoted",
        'Bearer a="x"y, Basic realm=b',
        12,
        "expected ',' or the end",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "text-after-token68",
        "Negotiate abc def, Basic realm=b",
        13,
        "expected '=' after 'abc'",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    # "!" is a tchar but not a token68 character: a name with no "=" before the end.
    (
        "name-then-end",
        "Basic realm=x, Newauth a!b",
        26,
        "expected '=' after 'a!b', found the end",
        [("basic", {"realm": "x"}, None)],
    ),
    (
        "htab-after-scheme",
        'Bearer\trealm="x", Basic realm=b',
        6,
        "SP after the auth-scheme",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "quote-after-scheme",
        'Bearer "x", Basic realm=b',
        7,
        "expected an auth-param",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "not-a-scheme",
        '"x", Basic realm=b',
        0,
        "expected an auth-scheme",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "control-in-quotes",
        'Bearer a="\x01", Basic realm=b',
        10,
        "'\\x01' is not allowed in a",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "control-after-backslash",
        'Bearer a="\\\x7f", Basic realm=b',
        11,
        "after a backslash",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "control-outside-quotes",
        "Bearer a=b\x01, Basic realm=b",
        10,
        "contains '\\x01'",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    (
        "beyond-latin-1-unquoted",
        "Bearer a=\u20ac, Basic realm=b",
        9,
        "not a token character",
        [
            ("basic", {"realm": "b"}, None),
        ],
    ),
    # RFC 9110 §5.5: CR, LF and NUL reject the value in strict mode and their challenge
    # in lenient mode; read as SP they would split one scope into two.
    (
        "cr-lf-in-quotes",
        'Bearer realm="a\r\n b", Basic realm=b',
        15,
        "CR, LF and NUL",
        [("basic", {"realm": "b"}, None)],
    ),
    (
        "nul-in-scope",
        'Bearer error="insufficient_scope", scope="a\x00b"',
        43,
        "CR, LF and NUL",
        [],
    ),
    (
        "nul-outside-quotes",
        "Basic realm=b, Bearer\x00realm=x",
        21,
        "CR, LF and NUL",
        [("basic", {"realm": "b"}, None)],
    ),
    (
        "lf-after-value",
        "Bearer realm=x\n, Basic realm=b",
        14,
        "CR, LF and NUL",
        [("basic", {"realm": "b"}, None)],
    ),
]


@pytest.mark.parametrize(
    ("value", "offset", "words", "lenient"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors(value: str, offset: int, words: str, lenient: Expected) -> None:
    assert _shape(parse_www_authenticate(value)) == lenient
    if not words:
        assert _shape(parse_www_authenticate(value, strict=True)) == lenient
        return
    with pytest.raises(HeaderParseError) as info:
        parse_www_authenticate(value, strict=True)
    error = info.value
    assert isinstance(error, ValueError)
    assert words in error.reason
    assert error.offset == offset
    assert error.excerpt == value[max(0, offset - 20) : offset + 20]
    assert f"at offset {offset}" in str(error)


def test_strict_offsets_count_in_the_combined_value() -> None:
    with pytest.raises(HeaderParseError) as info:
        parse_www_authenticate(['Basic realm="a"', 'Bearer a="'], strict=True)
    # 'Basic realm="a"' + ", " + 'Bearer a=' -> the DQUOTE is at 15 + 2 + 9.
    assert info.value.offset == 26


# --- The recovery rule (docs/parser.md) -------------------------------------------------
RECOVERY: list[tuple[str, str, Expected]] = [
    # The broken challenge ends at a comma followed by "token SP not-=" ...
    ("next-scheme-with-params", 'Bearer a b, Basic realm="x"', [("basic", {"realm": "x"}, None)]),
    # ... or by a token then the end, or OWS ","
    ("next-bare-scheme-end", "Bearer a b, Basic", [("basic", {}, None)]),
    (
        "next-bare-scheme-comma",
        "Bearer a b, Basic ,, DPoP",
        [("basic", {}, None), ("dpop", {}, None)],
    ),
    # a comma followed by "token BWS =" is more of the broken challenge
    ("param-not-a-start", "Bearer a b, c = d, e=f, Basic x=y", [("basic", {"x": "y"}, None)]),
    ("tab-not-a-start", "Bearer a b, Basic\tx=y", []),
    ("quote-not-a-start", 'Bearer a b, Basic"x=y', []),
    # commas inside a well-formed quoted-string do not end the broken challenge
    (
        "comma-in-quotes",
        'Bearer a b, c="x, Evil scope=admin", Basic realm=y',
        [
            ("basic", {"realm": "y"}, None),
        ],
    ),
    # a DQUOTE that opens no well-formed quoted-string is an ordinary character
    (
        "unterminated-then-scheme",
        'Bearer error="oops, Basic realm=simple',
        [
            ("basic", {"realm": "simple"}, None),
        ],
    ),
    (
        "bad-quote-in-broken",
        'Bearer a b "\x01, Basic realm=simple',
        [
            ("basic", {"realm": "simple"}, None),
        ],
    ),
    (
        "escaped-quote-before-control",
        'Bearer a="x\\"y, z \x01, Basic realm=s',
        [
            ("basic", {"realm": "s"}, None),
        ],
    ),
    # a well-formed challenge before the broken one is kept
    (
        "keep-before",
        'Basic realm="x", Bearer scope=a:b, DPoP algs=ES256',
        [
            ("basic", {"realm": "x"}, None),
            ("dpop", {"algs": "ES256"}, None),
        ],
    ),
    ("nothing-after", "Basic realm=x, Bearer scope=a:b", [("basic", {"realm": "x"}, None)]),
]


@pytest.mark.parametrize(
    ("value", "expected"), [r[1:] for r in RECOVERY], ids=[r[0] for r in RECOVERY]
)
def test_recovery(value: str, expected: Expected) -> None:
    assert _shape(parse_www_authenticate(value)) == expected


def test_the_examples_in_docs_parser_md_run() -> None:
    """docs/parser.md promises REPL-usable examples: run them as doctests."""
    path = Path(__file__).resolve().parent.parent / "docs" / "parser.md"
    result = doctest.testfile(str(path), module_relative=False, verbose=False)
    assert result.attempted > 30
    assert result.failed == 0


@pytest.mark.parametrize("strict", [False, True])
def test_a_scheme_with_only_whitespace_before_the_next_challenge(strict: bool) -> None:
    # RFC 9110 §11.3: "1*SP #auth-param" where the list is empty; the HTAB belongs to the
    # list's OWS before ",". The fast path and the scanner must agree (found by review).
    for value in ("Bearer \t", 'Bearer \t, Basic realm="x"'):
        challenges = parse_www_authenticate(value, strict=strict)
        assert challenges[0] == Challenge("bearer")
    assert parse_www_authenticate('Bearer \t, Basic realm="x"', strict=strict)[1] == Challenge(
        "basic", {"realm": "x"}
    )
