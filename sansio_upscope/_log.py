"""Logging: one stdlib logger per part of the library, and redaction of secrets.

Every logger lives under ``"sansio_upscope"`` (``get_logger("machine")`` is
``"sansio_upscope.machine"``), so an application turns all of them on with
``logging.getLogger("sansio_upscope").setLevel(logging.DEBUG)``. The library adds no
handler and configures nothing (the stdlib advice for libraries): what is printed, and
where, is the application's choice.

Rule 9 of the design: no access token, refresh token, client secret, authorization code,
PKCE verifier, private key, assertion, ID token, ID-JAG or DPoP proof ever reaches a log
line. Code that logs builds its messages from values
that hold no secret (scopes, status codes, challenge parameters, generations). ``redact``
is the second line of defence for text that might hold one (a URL with ``code=`` in
its query, a request body, a header value), and ``RedactingFilter`` applies it to every
record that passes through a handler.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = [
    "REDACTED",
    "ROOT_LOGGER",
    "RedactingFilter",
    "get_logger",
    "redact",
    "redact_headers",
]

ROOT_LOGGER = "sansio_upscope"
REDACTED = "<redacted>"

# Field names whose value is a secret wherever it appears: OAuth token and
# authorization responses (RFC 6749 §4.1.2, §5.1), token requests (§4.1.3, §6, client
# authentication §2.3.1), PKCE (RFC 7636 §4.5), JWT client assertions (RFC 7523 §2.2).
_SECRET_NAMES = (
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "assertion",
    "code",
    "code_verifier",
    "device_code",
    "password",
    "subject_token",
    "actor_token",
)
_NAMES = "|".join(_SECRET_NAMES)

# "name": "value" in JSON (token responses, registration responses), and the same with
# single quotes as a Python dict's repr prints it.
_JSON_SECRET = re.compile(
    rf"""(["'])((?:{_NAMES})\1\s*:\s*)(["'])(?:(?!\3)[^\\]|\\.)*\3""", re.IGNORECASE
)
# name=value in form bodies and URL queries (the redirect carries ``code``, RFC 6749
# §4.1.2). The look-behind keeps ``error_code=`` or ``x_code=`` intact.
_FORM_SECRET = re.compile(rf"(?<![A-Za-z0-9_\-])((?:{_NAMES})=)[^&\s#\"']*", re.IGNORECASE)

# RFC 9110 §11.4 credentials: ``auth-scheme 1*SP token68``. The parameters a challenge
# (not a credential) may start with are left alone, so that logged WWW-Authenticate
# values stay readable, and so do a few English words that follow a scheme name in prose
# ("Bearer token"); anything else after a scheme name counts as a credential.
_CHALLENGE_PARAMS = (
    "realm|scope|error|error_description|error_uri|resource_metadata|acr_values|max_age|algs"
)
_PROSE = "token|tokens|challenge|challenges|credentials|scheme|auth|authentication"
_CREDENTIALS = re.compile(
    rf"(?<![A-Za-z0-9_\-])((?:bearer|dpop|basic|digest)[ ]+)"
    rf"(?!(?:{_CHALLENGE_PARAMS})[ \t]*=)"
    rf"(?!(?:{_PROSE})(?![A-Za-z0-9\-._~+/=]))"
    r"[A-Za-z0-9\-._~+/]+=*",
    re.IGNORECASE,
)

# A JWS in compact serialization (RFC 7515 §7.1) wherever it appears: client assertions,
# ID tokens, ID-JAGs, DPoP proofs, JWT access tokens. Its header is base64url JSON, so it
# starts with "eyJ" ('{"'); the signature part may be empty (an unsecured JWT).
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
# A PEM private key block (RFC 7468 §10, §11), whole.
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)

# Header fields whose whole value is a credential or a session secret.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "dpop"}
)


def get_logger(part: str) -> logging.Logger:
    """The logger for one part of the library: ``sansio_upscope.<part>``."""
    return logging.getLogger(f"{ROOT_LOGGER}.{part}")


def redact(text: str) -> str:
    """``text`` with every credential and secret field value replaced by ``<redacted>``.

    Covers ``Bearer``/``DPoP``/``Basic`` credentials, JSON members and form or query
    fields named like secrets (``access_token``, ``refresh_token``, ``client_secret``,
    ``code``, ``code_verifier``, ``assertion``, ``subject_token``, ...), any JWT (client
    assertions, ID tokens, ID-JAGs, DPoP proofs) and PEM private keys. Never raises.
    When in doubt it redacts more, never less: a challenge whose first parameter is
    unknown loses that parameter name.
    """
    text = _PEM_PRIVATE_KEY.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _JSON_SECRET.sub(rf"\1\2\3{REDACTED}\3", text)
    text = _FORM_SECRET.sub(rf"\1{REDACTED}", text)
    return _CREDENTIALS.sub(rf"\1{REDACTED}", text)


def redact_headers(
    headers: Iterable[tuple[str | bytes, str | bytes]],
) -> list[tuple[str, str]]:
    """Header pairs as text, safe to print: credential fields (``Authorization``,
    ``Cookie``, ``DPoP`` proofs, ...) are replaced whole, the rest go through ``redact``."""
    out: list[tuple[str, str]] = []
    for name, value in headers:
        n = name.decode("latin-1") if isinstance(name, bytes) else name
        v = value.decode("latin-1") if isinstance(value, bytes) else value
        out.append((n, REDACTED if n.lower() in _SECRET_HEADERS else redact(v)))
    return out


class RedactingFilter(logging.Filter):
    """A handler filter that passes every record's final message through ``redact``.

    Attach it to the handlers that print the library's records (the ``upscope`` CLI
    does). The message is formatted once, redacted, and stored back without its
    arguments, so a formatter downstream sees only the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
