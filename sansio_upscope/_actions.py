"""Actions: commands the machine gives the caller, one per input."""

from __future__ import annotations

import enum

import attrs

from ._challenges import BearerChallenge
from ._errors import StepUpError
from ._jose import SigningKey
from ._token import Token

__all__ = [
    "REFRESHABLE",
    "Action",
    "Deliver",
    "GiveUp",
    "Reason",
    "RequestToken",
    "Retry",
    "Send",
    "WaitForToken",
]


class Reason(enum.Enum):
    """Why a token is needed, in the RFCs' words."""

    # Speed: reasons key the loop guard's memory, looked up on every challenge, and
    # Enum's own __hash__ is Python code; members are singletons, so identity will do.
    __hash__ = object.__hash__

    #: 401 to a request sent without a token (RFC 6750 §3: no error code expected).
    NO_TOKEN = "no_token"
    #: 401 ``invalid_token`` or 401 without error to a request sent with one (§3.1).
    INVALID_TOKEN = "invalid_token"
    #: ``Token.expires_at`` has passed; renewed before sending.
    EXPIRED = "expired"
    #: 403 ``insufficient_scope`` (RFC 6750 §3.1): step-up.
    INSUFFICIENT_SCOPE = "insufficient_scope"
    #: ``insufficient_user_authentication`` (RFC 9470 §3).
    INSUFFICIENT_USER_AUTHENTICATION = "insufficient_user_authentication"


#: Why a token is needed, when a refresh grant can answer (RFC 6749 §6): the token was
#: refused or has expired. A wider scope or a new authentication needs a new grant.
REFRESHABLE = frozenset({Reason.INVALID_TOKEN, Reason.EXPIRED})


@attrs.frozen(kw_only=True)
class Send:
    """Send the request for the first time with this ``Authorization`` value (or none).

    ``dpop_nonce`` is the newest nonce the resource server gave (RFC 9449 §9) for the
    DPoP proof, when the token is a DPoP token; ``dpop_key`` the key the token is bound
    to. ``authorization_fields(action, ...)`` turns all three into header fields.
    """

    authorization: str | None = attrs.field(repr=False)
    dpop_nonce: str | None = None
    dpop_key: SigningKey | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class Retry:
    """Send the same request again (same method, URL and body) with this value."""

    authorization: str | None = attrs.field(repr=False)
    dpop_nonce: str | None = None
    dpop_key: SigningKey | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class RequestToken:
    """This exchange must obtain a token, then feed ``TokenIssued`` or ``TokenFailed``.

    * ``scopes``: the scopes to ask for (may be empty: then omit ``scope``, or let the
      token source choose from resource metadata, as the MCP spec says).
    * ``resource``: the RFC 8707 resource indicator (the request URL without query or
      fragment) to send in both the authorization and the token request.
    * ``resource_metadata``: the RFC 9728 metadata URL from the challenge, or None.
    * ``acr_values``, ``max_age``: RFC 9470 §4, for the authorization request.
    * ``can_refresh``: a refresh grant can serve (RFC 6749 §6: the scopes are within what
      was granted and the current token has a refresh token); otherwise a new grant.
    * ``current_token``: the token held now (for its refresh token), or None.
    """

    scopes: frozenset[str]
    resource: str
    reason: Reason
    resource_metadata: str | None = None
    acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    challenge: BearerChallenge | None = None
    can_refresh: bool = False
    current_token: Token | None = attrs.field(default=None, repr=False)

    def granted_by(self, token: Token) -> frozenset[str]:
        """The scopes ``token``, issued for this request, grants: its own, or the scopes
        asked for when the token response named none (RFC 6749 §5.1)."""
        return token.scopes if token.scopes is not None else self.scopes

    def answered_by(
        self,
        token: Token,
        *,
        now: float,
        acr_values: tuple[str, ...] = (),
        obtained_at: float | None = None,
    ) -> bool:
        """Can ``token``, obtained before (a token store keeps it), answer this request
        instead of a token request? It has not expired; it is not the very token this
        request carried (refused, or stale); it is known to hold every scope asked for
        (RFC 6749 §3.3); for an RFC 9470 need it was obtained for the same
        ``acr_values`` (passed in), and within ``max_age`` of ``obtained_at``."""
        if token.expired(now) or token.scopes is None or not self.scopes <= token.scopes:
            return False
        current = self.current_token
        if current is not None and current.access_token == token.access_token:
            return False
        if self.acr_values and self.acr_values != acr_values:
            return False
        return self.max_age is None or (
            obtained_at is not None and now - obtained_at <= self.max_age
        )

    def with_current_token(self, token: Token) -> RequestToken:
        """This request with ``token`` as the token held now (a token store's newer token
        for the same resource, whose refresh token a fleet shares). ``can_refresh`` is
        decided again for it: RFC 6749 §6, a refresh serves only scopes already granted,
        and only for the reasons a refresh can answer (RFC 9470 §4 needs a new
        authentication)."""
        can_refresh = (
            self.reason in REFRESHABLE
            and token.refresh_token is not None
            and token.scopes is not None
            and self.scopes <= token.scopes
        )
        return attrs.evolve(self, current_token=token, can_refresh=can_refresh)


@attrs.frozen(kw_only=True)
class WaitForToken:
    """Another exchange is obtaining a token for this resource: wait until its token
    request has ended, then call ``resume()``.

    ``token_request`` numbers the token request waited for (the first an ``Upscope``
    makes is 1). ``upscope.token_request_ended(action)`` says whether it has ended (a
    token issued, a failure, or its exchange abandoned); adapters check it whenever a
    token request of that ``Upscope`` ends, and resume when it says True.
    """

    token_request: int


@attrs.frozen(kw_only=True)
class Deliver:
    """The last response is final: give it to the caller."""


@attrs.frozen(kw_only=True)
class GiveUp:
    """Stop. ``error`` says why; the adapter raises it (or attaches it to the response)."""

    error: StepUpError = attrs.field(eq=False)


Action = Send | Retry | RequestToken | WaitForToken | Deliver | GiveUp
