"""HTTP messages and flow steps: what a token flow asks for and what it is fed.

The flow never touches the network. It returns an ``HttpRequest`` for the driver to send
and takes the ``HttpResponse`` back; it returns ``OpenAuthorizationUrl`` when a browser is
needed and takes the ``AuthorizationRedirect`` back. ``Finished`` and ``Failed`` end it.

Reprs hide every secret (RFC 6749 §10.3, §10.5, RFC 7636 §7.1): credential headers
(``Authorization``, ``Proxy-Authorization``, ``DPoP``, ``Cookie``, ``Set-Cookie``),
secret form fields, response bodies (they carry tokens) and redirect URLs (they carry
the authorization code).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import attrs

from .._token import Token
from ._errors import OAuthError

__all__ = [
    "AuthorizationRedirect",
    "Failed",
    "Finished",
    "HttpRequest",
    "HttpResponse",
    "OpenAuthorizationUrl",
    "Step",
]

#: Header names whose values are credentials (RFC 9110 §11.6.2, §11.7.2, RFC 9449 §4,
#: RFC 6265 §4.1: a session cookie the server sets is as good as a password).
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "dpop", "cookie", "set-cookie"}
)
#: Form fields that are credentials (RFC 6749 §2.3.1, §4.1.3, §6; RFC 7636 §4.5).
_SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "code",
        "code_verifier",
        "refresh_token",
        "assertion",
        "client_assertion",
        "subject_token",  # RFC 8693 §2.1: the ID token in a token exchange
        "actor_token",
    }
)

Headers = tuple[tuple[str, str], ...]


def _headers(value: object) -> Headers:
    return tuple((str(name), str(field)) for name, field in value)  # type: ignore[attr-defined]


def _headers_repr(headers: Headers) -> str:
    shown = [
        (name, "<redacted>" if name.lower() in _SECRET_HEADERS else value)
        for name, value in headers
    ]
    return repr(tuple(shown))


def _form_repr(body: bytes | None) -> str:
    if body is None:
        return "None"
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return f"<{len(body)} bytes>"
    shown = " ".join(
        f"{name}={'<redacted>' if name in _SECRET_FIELDS else value}" for name, value in fields
    )
    return f"<form {shown}>"


def _length_repr(body: bytes) -> str:
    return f"<{len(body)} bytes>"


@attrs.frozen(kw_only=True)
class HttpRequest:
    """Send this request and feed the response back with ``flow.receive(HttpResponse(...))``.

    ``body`` is None for GET; a form (``application/x-www-form-urlencoded``) for token
    requests; JSON for dynamic client registration.
    """

    method: str
    url: str
    headers: Headers = attrs.field(default=(), converter=_headers, repr=_headers_repr)
    body: bytes | None = attrs.field(default=None, repr=_form_repr)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@attrs.frozen(kw_only=True)
class HttpResponse:
    """What came back. Headers as (name, value) pairs; ``body`` the whole body as bytes."""

    status_code: int
    headers: Headers = attrs.field(default=(), converter=_headers, repr=_headers_repr)
    body: bytes = attrs.field(default=b"", repr=_length_repr)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@attrs.frozen(kw_only=True)
class OpenAuthorizationUrl:
    """Send the user's browser to ``url`` (RFC 6749 §4.1.1), then feed the URL it was
    redirected to as ``AuthorizationRedirect``. ``redirect_uri`` is where the authorization
    server will send it (a loopback receiver listens there, RFC 8252 §7.3).
    """

    url: str
    redirect_uri: str


@attrs.frozen(kw_only=True)
class AuthorizationRedirect:
    """The redirect URL the browser ended at (it holds the code: never shown in a repr)."""

    url: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Finished:
    """The flow obtained ``token``."""

    token: Token


@attrs.frozen(kw_only=True)
class Failed:
    """The flow failed; ``error`` says what happened, what the server said, what to do."""

    error: OAuthError = attrs.field(eq=False)


Step = HttpRequest | OpenAuthorizationUrl | Finished | Failed
