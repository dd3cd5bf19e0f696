"""Properties of the parser, checked with hypothesis.

* Lenient parsing is total: any str or bytes, or list of them, gives a list of challenges
  and raises nothing.
* Strict parsing raises HeaderParseError and nothing else, and when it succeeds it agrees
  with lenient parsing.
* format -> parse round-trips for every challenge the grammar can carry.
* Lenient parsing skips broken challenges and returns the well-formed ones around them
  exactly, in order.
"""

from __future__ import annotations

import string

from hypothesis import example, given
from hypothesis import strategies as st

from sansio_upscope import Challenge, HeaderParseError, parse_www_authenticate
from sansio_upscope._headers import _scan, _single_challenge

TCHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
TOKEN68_CHARS = string.ascii_letters + string.digits + "-._~+/"
# The alphabet the grammar cares about, so that random text hits every branch often.
GRAMMAR_TEXT = st.text(alphabet='Bearer realm=scope ,"\\\t\x01\r\n\x00=/:a\xe9\u20ac', max_size=60)

tokens = st.text(alphabet=TCHARS, min_size=1, max_size=8)
quotable_values = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF).filter(
        lambda c: c == "\t" or 0x20 <= ord(c) <= 0x7E or ord(c) >= 0x80
    ),
    max_size=12,
)
token68s = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(alphabet=TOKEN68_CHARS, min_size=1, max_size=10),
    st.integers(0, 2),
)


@st.composite
def challenges(draw: st.DrawFn) -> Challenge:
    scheme = draw(tokens)
    if draw(st.booleans()):
        return Challenge(scheme, {}, draw(token68s))
    names = draw(st.lists(tokens, max_size=4, unique_by=str.lower))
    return Challenge(scheme, {name: draw(quotable_values) for name in names})


@given(st.one_of(st.text(), st.binary(), GRAMMAR_TEXT))
@example('x="' * 50)
@example("a, " * 50)
@example('Bearer a="\\')
def test_lenient_is_total(value: str | bytes) -> None:
    result = parse_www_authenticate(value)
    assert isinstance(result, list)
    assert all(isinstance(c, Challenge) for c in result)


@given(st.lists(st.one_of(GRAMMAR_TEXT, st.binary(max_size=20)), max_size=4))
def test_lenient_is_total_over_lines(lines: list[str | bytes]) -> None:
    assert isinstance(parse_www_authenticate(lines), list)


@given(st.one_of(st.text(), st.binary(), GRAMMAR_TEXT))
def test_strict_raises_only_header_parse_error_and_agrees_with_lenient(
    value: str | bytes,
) -> None:
    try:
        strict = parse_www_authenticate(value, strict=True)
    except HeaderParseError as error:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        assert 0 <= error.offset <= len(text)
        assert error.excerpt == text[max(0, error.offset - 20) : error.offset + 20]
    else:
        assert parse_www_authenticate(value) == strict


@given(st.lists(challenges(), max_size=4))
def test_format_then_parse_round_trips(items: list[Challenge]) -> None:
    text = ", ".join(str(c) for c in items)
    assert parse_www_authenticate(text, strict=True) == items
    assert parse_www_authenticate(text.encode("latin-1")) == items


# A piece that is broken from its first character ("=" cannot start a challenge) and
# holds no "," or DQUOTE, so the only commas the recovery rule can stop at are the ones
# that join the pieces.
broken_pieces = st.text(
    alphabet=st.characters(max_codepoint=0x2FF).filter(lambda c: c not in ',"'), max_size=15
).map(lambda t: "=" + t)


@given(st.lists(st.one_of(challenges(), broken_pieces), min_size=1, max_size=6))
def test_lenient_skips_broken_challenges_and_keeps_the_rest(
    pieces: list[Challenge | str],
) -> None:
    """Well-formed challenges around broken ones come back exactly, in order."""
    text = ", ".join(str(piece) for piece in pieces)
    expected = [piece for piece in pieces if isinstance(piece, Challenge)]
    assert parse_www_authenticate(text) == expected
    if len(expected) != len(pieces):
        try:
            parse_www_authenticate(text, strict=True)
        except HeaderParseError:
            pass
        else:
            raise AssertionError("strict mode accepted a broken challenge")


simple_values = st.one_of(
    tokens, st.text(alphabet=st.sampled_from('ab ,=\t"\\\xe9'), max_size=6).map(lambda v: f'"{v}"')
)
simple_params = st.builds(
    lambda name, ows1, ows2, value: f"{name}{ows1}={ows2}{value}",
    st.sampled_from(["a", "B", "scope", "Scope", "x-y"]),
    st.sampled_from(["", " ", "\t "]),
    st.sampled_from(["", " ", "\t"]),
    simple_values,
)


@given(
    st.one_of(
        st.builds(
            lambda lead, scheme, params, sep, tail: (
                lead + scheme + (" " + sep.join(params) if params else "") + tail
            ),
            st.sampled_from(["", " ", "\t"]),
            st.sampled_from(["Bearer", "dpop", "x"]),
            st.lists(simple_params, max_size=4),
            st.sampled_from([", ", ",", " , ", "\t,\t"]),
            st.sampled_from(["", " ", "\t", ",", ", x"]),
        ),
        GRAMMAR_TEXT,
    )
)
@example("Bearer a=b, A=c")
@example('Bearer a="x\\"y", b="\\\\"')
def test_fast_path_agrees_with_the_scanner(value: str) -> None:
    """The one-match fast path is only an optimisation: where it answers, the scanner
    gives the same challenge; where the scanner fails, the fast path does not answer."""
    value = value.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
    fast = _single_challenge(value)
    if fast is not None:
        assert _scan(value, True) == [fast]
