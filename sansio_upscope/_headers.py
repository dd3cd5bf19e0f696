"""Reading ``WWW-Authenticate``: the RFC 9110 §11 challenge list, in one linear pass.

Theory of operation. The field lines are combined into one field value (RFC 9110 §5.3:
joined with ", ", order kept), then a hand-written scanner walks it left to right with
the anchored patterns of ``_abnf``. Each challenge is an auth-scheme, then either a
token68 or a comma-separated list of auth-params; after a comma, an element that reads
``token BWS "="`` is one more parameter of the current challenge, and anything else
starts the next challenge (RFC 9110 §11.6.1: the value "might contain multiple
challenges ... each challenge can contain a comma-separated list of parameters").

Lenient mode (the default) never raises on ``str`` or ``bytes`` input. A challenge that
breaks the grammar is dropped whole, never returned half-read, and parsing goes on at
the recovery point defined in ``_recover`` (and in docs/parser.md). Strict mode raises
``HeaderParseError`` at the first mistake instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from . import _abnf
from ._challenges import Challenge, DPoPChallenge, dpop_nonce
from ._errors import HeaderParseError

__all__ = ["dpop_challenge", "parse_www_authenticate", "www_authenticate_values"]

_TOKEN_match = _abnf.TOKEN.match
_TOKEN68_CHALLENGE_match = _abnf.TOKEN68_CHALLENGE.match
_PARAM_NAME_match = _abnf.PARAM_NAME.match
_QUOTED_STRING_BODY_match = _abnf.QUOTED_STRING_BODY.match
_OWS_match = _abnf.OWS.match
_SP_match = _abnf.SP.match
_SEPARATORS_match = _abnf.SEPARATORS.match
_CHALLENGE_START_match = _abnf.CHALLENGE_START.match
_QUOTE_OR_COMMA_search = _abnf.QUOTE_OR_COMMA.search
_ANY_QUOTED_STRING_match = _abnf.ANY_QUOTED_STRING.match
_unescape = _abnf.QUOTED_PAIR.sub
_SINGLE_CHALLENGE_fullmatch = _abnf.SINGLE_CHALLENGE.fullmatch
_SIMPLE_PARAM_finditer = _abnf.SIMPLE_PARAM.finditer
_new_challenge = Challenge._from_parser

_EXCERPT_RADIUS = 20


class _Broken(Exception):
    """Internal: the challenge being read breaks the grammar.

    ``offset`` is where, for the message. ``resume`` is where the search for the next
    challenge starts: the opening DQUOTE of a broken quoted-string, so that the search
    skips the whole of it.
    """

    def __init__(self, reason: str, offset: int, *, resume: int = -1):
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.resume = offset if resume < 0 else resume


def _field_value(values: str | bytes | Iterable[str | bytes]) -> str:
    """One field value from a value or an iterable of field lines (RFC 9110 §5.3)."""
    if isinstance(values, str):
        return values
    if isinstance(values, bytes):
        # ISO-8859-1 maps every octet to one code point, so obs-text (%x80-FF) survives
        # as U+0080-U+00FF and offsets count octets.
        return values.decode("latin-1")
    lines: list[str] = []
    for line in values:
        if isinstance(line, bytes):
            lines.append(line.decode("latin-1"))
        elif isinstance(line, str):
            lines.append(line)
        else:
            raise TypeError(
                "parse_www_authenticate() takes a str or bytes field value, or an iterable "
                f"of them (one per field line); got an item of type {type(line).__name__}"
            )
    # RFC 9110 §5.3: "A recipient MAY combine multiple field lines ... into one field
    # line ... by appending each subsequent field line value to the initial field line
    # value in order, separated by a comma (",") and optional whitespace".
    return ", ".join(lines)


def _skip(match: Callable[[str, int], re.Match[str] | None], text: str, pos: int) -> int:
    """The end of a pattern that always matches (it can match nothing) at ``pos``."""
    found = match(text, pos)
    assert found is not None
    return found.end()


def _excerpt(text: str, offset: int) -> str:
    return text[max(0, offset - _EXCERPT_RADIUS) : offset + _EXCERPT_RADIUS]


def _unexpected(text: str, pos: int, expected: str) -> str:
    if pos >= len(text):
        return f"expected {expected}, found the end of the field value"
    return f"expected {expected}, found {text[pos]!r}"


def _auth_param(text: str, pos: int, n: int, params: dict[str, str]) -> int:
    """Read one ``auth-param`` at ``pos`` into ``params``; return the position after it.

    Raises ``_Broken`` when no valid auth-param starts at ``pos``.
    """
    m = _PARAM_NAME_match(text, pos)
    if m is None:
        if text[pos] == "=":
            raise _Broken("'=' with no parameter name before it", pos)
        bare = _TOKEN_match(text, pos)
        if bare is not None:
            raise _Broken(
                _unexpected(text, _skip(_OWS_match, text, bare.end()), f"'=' after {bare[0]!r}"),
                bare.end(),
            )
        raise _Broken(_unexpected(text, pos, "an auth-param (token BWS '=' BWS value)"), pos)
    name = m[1].lower()
    if name in params:
        # RFC 9110 §11.2: "Each parameter name MUST only occur once per challenge."
        raise _Broken(f"parameter {name!r} appears twice in one challenge", m.start(1))
    pos = m.end()
    if pos < n and text[pos] == '"':
        body = _QUOTED_STRING_BODY_match(text, pos)
        assert body is not None  # the pattern can match the lone DQUOTE
        end = body.end()
        if end == n or (text[end] == "\\" and end + 1 == n):
            raise _Broken(
                f"unterminated quoted-string for parameter {name!r}",
                pos,
                resume=pos,
            )
        if text[end] != '"':
            what = "after a backslash" if text[end] == "\\" else "in a quoted-string"
            bad = end + 1 if text[end] == "\\" else end
            raise _Broken(
                f"character {text[bad]!r} is not allowed {what} (parameter {name!r})",
                bad,
                resume=pos,
            )
        value = body[1]
        if "\\" in value:
            # RFC 9110 §5.6.4: "Recipients that process the value of a quoted-string MUST
            # handle a quoted-pair as if it were replaced by the octet following the
            # backslash."
            value = _unescape(r"\1", value)
        params[name] = value
        return end + 1
    value_match = _TOKEN_match(text, pos)
    if value_match is None:
        if pos == n or text[pos] in ", \t":
            raise _Broken(f'parameter {name!r} has no value (an empty value is written "")', pos)
        raise _Broken(
            f"the value of parameter {name!r} starts with {text[pos]!r}, which is not a "
            "token character: such a value must be sent as a quoted-string",
            pos,
        )
    end = value_match.end()
    if end < n and text[end] not in ", \t":
        # RFC 9110 §11.2: a value is a token or a quoted-string; a bare URL (":", "/")
        # or padded base64 ("=") is neither.
        raise _Broken(
            f"the unquoted value of parameter {name!r} contains {text[end]!r}, which is "
            "not a token character: such a value must be sent as a quoted-string",
            end,
        )
    params[name] = value_match[0]
    return end


def _challenge(text: str, pos: int, n: int) -> tuple[Challenge, int]:
    """Read one challenge at ``pos``; return it and the position after its last element.

    The returned position is the end of the value or a "," that is not followed by one
    more auth-param of this challenge. Raises ``_Broken`` when the challenge breaks the
    grammar.
    """
    m = _TOKEN_match(text, pos)
    if m is None:
        raise _Broken(_unexpected(text, pos, "an auth-scheme (a token)"), pos)
    scheme = m[0].lower()
    pos = m.end()
    params: dict[str, str] = {}
    token68: str | None = None
    after_scheme = pos
    if pos < n and text[pos] == " ":
        # RFC 9110 §11.3: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
        pos = _skip(_SP_match, text, pos)
        blank = _skip(_OWS_match, text, pos)
        t68 = _TOKEN68_CHALLENGE_match(text, pos)
        if blank == n or text[blank] == ",":
            pos = blank  # "#auth-param" may be empty: only OWS before the list's ","
        elif t68 is not None:
            token68 = t68[1]
            pos = t68.end(1)
        else:
            pos = _auth_param(text, pos, n, params)
    while True:
        comma = _skip(_OWS_match, text, pos)
        if comma == n:
            return _new_challenge(scheme, params, token68), comma
        if text[comma] != ",":
            if pos == after_scheme:
                if text[comma] == "=":
                    raise _Broken(
                        f"parameter {m[0]!r} with no auth-scheme before it (a challenge "
                        "starts with its scheme, RFC 9110 §11.3)",
                        m.start(),
                    )
                # RFC 9110 §11.3: only SP separates the auth-scheme from what follows.
                raise _Broken(_unexpected(text, pos, f"SP after the auth-scheme {scheme!r}"), pos)
            raise _Broken(_unexpected(text, comma, "',' or the end of the challenge"), comma)
        element = _skip(_SEPARATORS_match, text, comma)
        if _PARAM_NAME_match(text, element) is None:
            return _new_challenge(scheme, params, token68), comma
        if token68 is not None:
            raise _Broken(
                f"an auth-param follows the token68 of {scheme!r}: a challenge carries a "
                "token68 or auth-params, never both (RFC 9110 §11.3)",
                element,
            )
        pos = _auth_param(text, element, n, params)


def _single_challenge(text: str) -> Challenge | None:
    """The fast path: the one challenge of a value of the common shape, else None."""
    shape = _SINGLE_CHALLENGE_fullmatch(text)
    if shape is None:
        return None
    params: dict[str, str] = {}
    if shape[2] is not None:
        count = 0
        for m in _SIMPLE_PARAM_finditer(text, shape.start(2), shape.end(2)):
            value = m[2]
            if value is None:
                value = m[3]
                if "\\" in value:
                    value = _unescape(r"\1", value)
            params[m[1].lower()] = value
            count += 1
        if count != len(params):
            return None  # a repeated name: the scanner says where
    return _new_challenge(shape[1].lower(), params, None)


def _recover(text: str, pos: int) -> int:
    """Where the next challenge may start after a broken one; ``len(text)`` if nowhere.

    The recovery rule (docs/parser.md): the broken challenge ends at the first "," at or
    after ``pos`` that is outside every quoted-string and is followed by OWS and a token
    that is then followed by the end of the value, by OWS ",", or by SP and something
    other than "=" (so it reads as a new auth-scheme, not an auth-param name). Here a
    quoted-string runs from a DQUOTE to the next DQUOTE not escaped by a backslash,
    whatever lies between (a control character inside does not end it); a DQUOTE with no
    such closing DQUOTE is an ordinary character.

    Linear: a quoted-string found is skipped whole, and once one is unterminated every
    later DQUOTE is too (it lies inside that unterminated one), so none is tried again.
    """
    n = len(text)
    quotes_close = True
    while True:
        found = _QUOTE_OR_COMMA_search(text, pos)
        if found is None:
            return n
        at = found.start()
        pos = at + 1
        if text[at] == '"':
            if quotes_close:
                quoted = _ANY_QUOTED_STRING_match(text, at)
                if quoted is None:
                    quotes_close = False
                else:
                    pos = quoted.end()
            continue
        start = _CHALLENGE_START_match(text, at)
        if start is None:
            continue
        after = start.end()
        nxt = _skip(_OWS_match, text, after)
        if nxt == n or text[nxt] == "," or (text[after] == " " and text[nxt] != "="):
            return at


def parse_www_authenticate(
    values: str | bytes | Iterable[str | bytes], *, strict: bool = False
) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` into its challenges, in order (RFC 9110 §11.6.1).

    ``values`` is one field value (``str``, or ``bytes`` read as ISO-8859-1) or an
    iterable of field lines, combined as RFC 9110 §5.3 says. Scheme and parameter names
    come back lower-case; quoted-string values come back unescaped. The same scheme twice
    gives two challenges. Empty list elements are ignored, so ``""`` gives ``[]``.

    Lenient (``strict=False``): never raises for ``str``/``bytes`` input. A challenge
    that breaks the grammar, including one holding CR, LF or NUL (RFC 9110 §5.5), is
    skipped whole and the well-formed ones around it are kept (recovery rule:
    docs/parser.md).

    Strict (``strict=True``): raises ``HeaderParseError`` (a ``ValueError``) at the
    first grammar error, with ``offset`` into the combined field value and an
    ``excerpt``; nothing is returned. No state is kept between calls.

    Raises ``TypeError`` when an item of an iterable is neither ``str`` nor ``bytes``.
    """
    text = _field_value(values)
    if strict:
        bad = _abnf.CR_LF_NUL.search(text)
        if bad is not None:
            raise HeaderParseError(
                f"{bad[0]!r} in a field value (RFC 9110 §5.5: CR, LF and NUL are not allowed)",
                offset=bad.start(),
                excerpt=_excerpt(text, bad.start()),
            )
    # Lenient mode rejects (§5.5) at the scale of one challenge: CR, LF and NUL are in
    # no rule of the grammar, so the challenge holding one is broken and skipped. The
    # other choice, reading them as SP, would split 'scope="a<NUL>b"' into two scopes
    # the server never named.
    simple = _single_challenge(text)
    if simple is not None:
        return [simple]
    return _scan(text, strict)


def _scan(text: str, strict: bool) -> list[Challenge]:
    """The challenges of a field value; raises HeaderParseError in strict mode, never in
    lenient mode."""
    n = len(text)
    challenges: list[Challenge] = []
    pos = _skip(_SEPARATORS_match, text, 0)
    while pos < n:
        try:
            challenge, pos = _challenge(text, pos, n)
        except _Broken as broken:
            if strict:
                raise HeaderParseError(
                    broken.reason, offset=broken.offset, excerpt=_excerpt(text, broken.offset)
                ) from None
            pos = _recover(text, broken.resume)
        else:
            challenges.append(challenge)
        pos = _skip(_SEPARATORS_match, text, pos)
    return challenges


def www_authenticate_values(
    headers: Iterable[tuple[str | bytes, str | bytes]],
) -> list[str | bytes]:
    """Every ``WWW-Authenticate`` field line of a response, in order, names matched
    case-insensitively (RFC 9110 §5.1). Feed the result to ``parse_www_authenticate``."""
    found: list[str | bytes] = []
    for name, value in headers:
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        if key.lower() == "www-authenticate":
            found.append(value)
    return found


def dpop_challenge(
    headers: Iterable[tuple[str | bytes, str | bytes]],
) -> DPoPChallenge | None:
    """The first ``DPoP`` challenge of a response, paired with its ``DPoP-Nonce`` header
    (RFC 9449 §7.1, §9), or None when the response carries no DPoP challenge.

    Parses leniently, so it never raises for ``str``/``bytes`` headers.
    """
    headers = list(headers)
    for challenge in parse_www_authenticate(www_authenticate_values(headers)):
        if challenge.scheme == "dpop":
            return DPoPChallenge.from_challenge(challenge, nonce=dpop_nonce(headers))
    return None
