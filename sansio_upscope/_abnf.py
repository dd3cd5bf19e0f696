"""The grammar of ``WWW-Authenticate``, one RFC rule at a time.

Each pattern below is built from the ABNF rule quoted above it (RFC 9110 §5.6, §11;
RFC 6749 §3.3 and Appendix A; RFC 9449 §8.1). Nothing here matches on its own: the
scanner in ``_headers`` uses these compiled patterns with ``.match(text, pos)``, so
every match is anchored where the previous one stopped and the whole parse is one
left-to-right pass.

Why no pattern can backtrack badly: every repetition below is over a single character
class, or is the "unrolled loop" ``A*(?:\\\\B A*)*`` whose pieces start with different
characters, so a failing match gives up after looking at each character once.

Values are matched as ``str``: the parser decodes bytes as ISO-8859-1 first, so each
octet %x80-FF is the code point U+0080-U+00FF and ``obs-text`` keeps its meaning. A
``str`` handed over already decoded (httpx and aiohttp decode field values as UTF-8)
may hold any code point: everything above U+007F is read as obs-text, kept as given.
"""

from __future__ import annotations

import re

__all__ = [
    "ANY_QUOTED_STRING",
    "CHALLENGE_START",
    "CR_LF_NUL",
    "OWS",
    "PARAM_NAME",
    "QUOTABLE",
    "QUOTED_PAIR",
    "QUOTED_STRING_BODY",
    "QUOTE_OR_COMMA",
    "SCOPE_TOKEN",
    "SEPARATORS",
    "SIMPLE_PARAM",
    "SINGLE_CHALLENGE",
    "SP",
    "TOKEN",
    "TOKEN68",
    "TOKEN68_CHALLENGE",
]

# RFC 9110 §5.6.2
#   token          = 1*tchar
#   tchar          = "!" / "#" / "$" / "%" / "&" / "'" / "*"
#                  / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
#                  / DIGIT / ALPHA
#                  ; any VCHAR, except delimiters
tchar = r"[-!#$%&'*+.^_`|~0-9A-Za-z]"
token = tchar + "+"

# RFC 9110 §5.6.3
#   OWS            = *( SP / HTAB )
#   BWS            = OWS
OWS_RE = r"[ \t]*"

# RFC 9110 §5.6.4
#   quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext         = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair    = "\" ( HTAB / SP / VCHAR / obs-text )
# RFC 9110 §5.5
#   obs-text       = %x80-FF
# obs-text as code points: U+0080-U+00FF from bytes read as ISO-8859-1, and anything
# above, from a str some HTTP library decoded as UTF-8 (the octets of a UTF-8 sequence
# are all %x80-FF, so the field was obs-text on the wire either way).
obs_text = r"\x80-\U0010ffff"
qdtext = rf"[\t \x21\x23-\x5b\x5d-\x7e{obs_text}]"
quoted_pair = rf"\\[\t \x21-\x7e{obs_text}]"
# The body without its closing DQUOTE, as an unrolled loop (qdtext* (quoted-pair
# qdtext*)*): the scanner checks for the closing DQUOTE itself, so that where the match
# stops is exactly where the quoted-string went wrong (end of input, a control
# character, or a backslash before one).
quoted_string_body = rf'"({qdtext}*(?:{quoted_pair}{qdtext}*)*)'

# RFC 9110 §11.2
#   token68        = 1*( ALPHA / DIGIT /
#                        "-" / "." / "_" / "~" / "+" / "/" ) *"="
token68 = r"[-._~+/0-9A-Za-z]+=*"

# RFC 9110 §11.2
#   auth-param     = token BWS "=" BWS ( token / quoted-string )
# Only the name and the "=" here: the scanner reads the value, to say which of
# "no value", "unquoted value with a delimiter" or "broken quoted-string" happened.
auth_param_name = rf"({token}){OWS_RE}={OWS_RE}"

# RFC 9110 §11.3
#   challenge      = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
#   auth-scheme    = token
# A token68 is the whole rest of its challenge: it is followed by the end of the field
# value or by the list's OWS ",". Anything else after it ("realm=" + DQUOTE ...) means
# the same characters start an auth-param instead: "Bearer realm=" is a token68,
# 'Bearer realm="x"' is an auth-param.
token68_challenge = rf"({token68}){OWS_RE}(?:,|\Z)"

# RFC 9110 §5.6.1.2 (recipient's list rule)
#   #element => [ element ] *( OWS "," OWS [ element ] )
# Empty elements are ignored, so any run of SP, HTAB and "," separates two elements.
separators = r"[ \t,]*"

# Where a new challenge may start after a comma: "," OWS auth-scheme, then the scanner
# checks that the scheme is followed by the end, by OWS ",", or by SP and something that
# is not "=" (which would make it an auth-param name with BWS).
challenge_start = rf",{OWS_RE}({token})"

# Recovery only: where a quoted-string ends, even a broken one. Any character but DQUOTE
# and backslash, or a backslash and any character, up to the closing DQUOTE. A control
# character inside makes the challenge broken; it does not move the quoted-string's end.
any_quoted_string = r'"[^"\\]*(?:\\.[^"\\]*)*"'

# The ISO-8859-1 range a quoted-string value may hold once unescaped: what
# ``format_challenge`` can write back as qdtext or quoted-pair.
quotable = r"[\t \x21-\x7e\x80-\xff]*"

# The common shape, tried as one match before the scanner runs: a single challenge with
# auth-params (no token68, no second challenge, no empty list elements). Only an
# optimisation: anything else, and any repeated parameter name, goes through the
# scanner, which gives the same result for this shape.
# Each repeated piece starts with a character the one before it cannot end with, so a
# failing match costs time linear in the input.
simple_param = rf'({token}){OWS_RE}={OWS_RE}(?:({token})|{quoted_string_body}")'
_simple_param = rf'{token}{OWS_RE}={OWS_RE}(?:{token}|"{qdtext}*(?:{quoted_pair}{qdtext}*)*")'
single_challenge = (
    rf"{OWS_RE}({token})"
    rf"(?: +({_simple_param}(?:{OWS_RE},{OWS_RE}{_simple_param})*))?{OWS_RE}"
)

# RFC 6749 §3.3
#   scope-token    = 1*( %x21 / %x23-5B / %x5D-7E )
# RFC 9449 §8.1
#   nonce          = 1*NQCHAR
# RFC 6749 Appendix A
#   NQCHAR         = %x21 / %x23-5B / %x5D-7E
scope_token = r"[\x21\x23-\x5b\x5d-\x7e]+"

# RFC 9110 §5.5: "a recipient of CR, LF, or NUL within a field value MUST either reject
# the message or replace each of those characters with SP".
cr_lf_nul = r"[\r\n\x00]"

TOKEN = re.compile(token)
TOKEN68 = re.compile(token68)
TOKEN68_CHALLENGE = re.compile(token68_challenge)
PARAM_NAME = re.compile(auth_param_name)
QUOTED_STRING_BODY = re.compile(quoted_string_body)
QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
OWS = re.compile(OWS_RE)
SP = re.compile(" +")
QUOTE_OR_COMMA = re.compile('[",]')
ANY_QUOTED_STRING = re.compile(any_quoted_string, re.DOTALL)
SEPARATORS = re.compile(separators)
CHALLENGE_START = re.compile(challenge_start)
SCOPE_TOKEN = re.compile(scope_token)
CR_LF_NUL = re.compile(cr_lf_nul)
SIMPLE_PARAM = re.compile(simple_param)
SINGLE_CHALLENGE = re.compile(single_challenge)
QUOTABLE = re.compile(quotable)
