"""Every error the OAuth flows report, in one place.

All derive from ``OAuthError``. A flow never raises them for server behaviour: it returns
``Failed(error=...)``; the drivers (``drive_sync``/``drive_async``) raise it for the
caller, and the core turns it into ``TokenRequestFailedError``. Each message says what
happened, what the server said, and what to do next. No message ever quotes a token,
client secret, authorization code or code verifier.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AssertionRejectedError",
    "AuthorizationError",
    "InsecureEndpointError",
    "InvalidResponseError",
    "MetadataError",
    "OAuthError",
    "RegistrationError",
    "SignInRequiredError",
    "TokenEndpointError",
]


class OAuthError(Exception):
    """An OAuth flow could not obtain a token.

    Attributes (None when not applicable): ``error``, ``error_description`` and
    ``error_uri`` as the server sent them (RFC 6749 §5.2, §4.1.2.1), ``status_code`` of the
    HTTP response, ``url`` of the request that failed.
    """

    #: What the caller can do about it; subclasses override.
    advice = "Check the authorization server's configuration and this client's settings."

    def __init__(
        self,
        what: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        error_uri: str | None = None,
        status_code: int | None = None,
        url: str | None = None,
        advice: str | None = None,
    ) -> None:
        self.what = what
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.status_code = status_code
        self.url = url
        if advice is not None:
            self.advice = advice
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [self.what.rstrip(".") + "."]
        said = []
        if self.status_code is not None:
            said.append(f"HTTP {self.status_code}")
        if self.error is not None:
            said.append(f"error={self.error!r}")
        if self.error_description is not None:
            said.append(f"error_description={self.error_description!r}")
        if self.error_uri is not None:
            said.append(f"error_uri={self.error_uri!r}")
        if said:
            where = f" ({self.url})" if self.url else ""
            parts.append(f"The server{where} said: " + ", ".join(said) + ".")
        parts.append(self.advice)
        return " ".join(parts)


class MetadataError(OAuthError):
    """Discovery failed or a metadata document was refused (RFC 9728 §3.3, RFC 8414 §3.3).

    Nothing was sent to the authorization server after it.
    """

    advice = (
        "Check the resource's protected resource metadata (RFC 9728) and the authorization "
        "server's metadata (RFC 8414), or configure the endpoints explicitly."
    )


class InsecureEndpointError(MetadataError):
    """A metadata, authorization or token URL is plain http on a non-loopback host.

    Refused before anything was sent (RFC 6749 §3.1, §3.2 require TLS; RFC 9728 §7.7).
    """

    advice = "Use an https URL; plain http is accepted only for loopback hosts (RFC 8252 §7.3)."


class InvalidResponseError(OAuthError):
    """A response was not the JSON object the RFC asks for (non-JSON, truncated, HTML,
    a 5xx page, a missing or malformed member)."""

    advice = "The server answered with something other than OAuth JSON; check its logs."


class TokenEndpointError(OAuthError):
    """The token endpoint answered with an RFC 6749 §5.2 error response.

    ``error`` is the code: ``invalid_request``, ``invalid_client``, ``invalid_grant``,
    ``unauthorized_client``, ``unsupported_grant_type``, ``invalid_scope`` (RFC 6749 §5.2),
    ``invalid_target`` (RFC 8707 §2), ``use_dpop_nonce`` (RFC 9449 §8; then ``dpop_nonce``
    holds the server's ``DPoP-Nonce``) or any extension code.
    """

    _ADVICE: ClassVar[dict[str, str]] = {
        "invalid_scope": "Ask only for scopes this client may hold, or grant them to it.",
        "invalid_grant": (
            "The grant (code, refresh token) is invalid, expired or revoked: "
            "start a new authorization."
        ),
        "invalid_client": "Check the client_id, the client secret and the auth method.",
        "unauthorized_client": "Allow this grant type for the client at the server.",
        "invalid_target": (
            "The server does not accept this resource indicator (RFC 8707): register the "
            "resource at the authorization server."
        ),
        "use_dpop_nonce": "Retry with a DPoP proof that carries the server's nonce.",
    }

    def __init__(self, what: str, *, dpop_nonce: str | None = None, **kwargs: object) -> None:
        self.dpop_nonce = dpop_nonce
        error = kwargs.get("error")
        if isinstance(error, str) and error in self._ADVICE and "advice" not in kwargs:
            kwargs["advice"] = self._ADVICE[error]
        super().__init__(what, **kwargs)  # type: ignore[arg-type]


class AuthorizationError(OAuthError):
    """The authorization response was refused or was an error (RFC 6749 §4.1.2.1):
    ``state`` mismatch (§10.12), ``iss`` mismatch (RFC 9207 §2.4), a redirect to the wrong
    URL, no code, or an error such as ``access_denied``."""

    advice = "Start the authorization again; if it repeats, check the redirect URI and the server."


class RegistrationError(OAuthError):
    """No client could be registered (MCP client registration; RFC 7591)."""

    advice = (
        "Register a client at the authorization server and pass client_id=..., or enable "
        "dynamic client registration (RFC 7591) there."
    )


# -- JWT grants (RFC 7523, RFC 8693, SEP-990) -------------------------------------------


class AssertionRejectedError(TokenEndpointError):
    """The authorization server refused a JWT bearer assertion (RFC 7523 §3.1:
    ``invalid_grant``): expired, for another audience, from an issuer it does not trust,
    or already used. Never retried with the same assertion."""

    _ADVICE: ClassVar[dict[str, str]] = {}
    advice = (
        "Get a fresh assertion (JwtBearer takes a callable that returns the platform's "
        "current one) and check its aud is the authorization server's issuer and its "
        "issuer is trusted there."
    )


class SignInRequiredError(OAuthError):
    """Cross-app access (SEP-990) cannot go on with this ID token: it has expired, or
    the identity provider refused it in the token exchange (RFC 8693 ``invalid_grant``).
    Nothing was sent to the authorization server."""

    advice = (
        "Sign the user in again at the identity provider and give CrossAppAccess the "
        "new ID token (pass a callable for id_token so it always reads the current one)."
    )
