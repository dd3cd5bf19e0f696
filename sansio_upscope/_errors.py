"""Every exception the library raises, in one place.

Two families, as in h11:

* ``LocalProtocolError``: *you* misused the API (fed an event the current state does
  not accept, built an ``Exchange`` for the wrong origin). After it the exchange is in
  ``State.ERROR`` and every later call raises again.
* ``StepUpError``: the *server* (resource or authorization server) asked for something
  the machine will not or cannot follow. The core never raises these: it returns
  ``GiveUp(error=...)`` and the adapter raises it for the caller. Each one says what
  happened, what the server said, and what to do next.

``HeaderParseError`` (a ``ValueError``) is raised only by ``parse_www_authenticate`` in
strict mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._challenges import BearerChallenge

#: Every named constructor below (``ScopeNotAllowedError.outside_ceiling``, ...) takes
#: what the server said first, as two positional arguments: the ``BearerChallenge`` that
#: led here (or None) and the status of the response that carried it (or None). The
#: machine hands them over; the facts of the case follow as keywords.

__all__ = [
    "BodyNotReplayableError",
    "HeaderParseError",
    "LocalProtocolError",
    "MalformedChallengeError",
    "ScopeNotAllowedError",
    "ScopeNotGrantedError",
    "StepUpError",
    "StepUpLoopError",
    "TokenRequestFailedError",
    "TooManyRetriesError",
    "TooManyTokenRequestsError",
]


class LocalProtocolError(Exception):
    """The API was used in a way the state machine does not allow.

    The message names the input and the state. The exchange stays in ``State.ERROR``.
    """


class HeaderParseError(ValueError):
    """A ``WWW-Authenticate`` value breaks the RFC 9110 §11 grammar (strict mode only).

    ``offset`` is the position in the combined field value where parsing failed and
    ``excerpt`` a short piece of the input around it.
    """

    def __init__(self, message: str, *, offset: int, excerpt: str) -> None:
        super().__init__(f"{message} at offset {offset}: {excerpt!r}")
        self.reason = message
        self.offset = offset
        self.excerpt = excerpt


def _scopes_text(scopes: frozenset[str]) -> str:
    if not scopes:
        return '""'
    return '"' + " ".join(sorted(scopes)) + '"'


def _names(scopes: frozenset[str]) -> str:
    return " ".join(sorted(scopes))


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "no reason given"
    return f"{type(error).__name__}: {error}"


class StepUpError(Exception):
    """The step-up could not, or must not, go on. The base of every give-up reason.

    Attributes, all optional, so that an application can show consent UI or log a
    precise reason:

    * ``challenge``: the ``BearerChallenge`` that led here, or None.
    * ``status_code``: the status of the response that carried it, or None.
    * ``scopes``: the scopes that were (or would have been) requested.
    * ``granted``: the scopes the authorization server granted, when known.
    * ``resource_metadata``: the RFC 9728 metadata URL from the challenge.
    * ``error_description``: the server's own words, quoted in the message.
    """

    #: One sentence on what the caller can do about it; subclasses override.
    advice = "Inspect the challenge and the authorization server's configuration."

    def __init__(
        self,
        what: str,
        *,
        challenge: BearerChallenge | None = None,
        status_code: int | None = None,
        scopes: frozenset[str] | None = None,
        granted: frozenset[str] | None = None,
        advice: str | None = None,
    ) -> None:
        self.what = what
        self.challenge = challenge
        self.status_code = status_code
        self.scopes = scopes
        self.granted = granted
        if advice is not None:
            self.advice = advice
        super().__init__(self._message())

    @property
    def resource_metadata(self) -> str | None:
        return self.challenge.resource_metadata if self.challenge is not None else None

    @property
    def error_description(self) -> str | None:
        return self.challenge.error_description if self.challenge is not None else None

    def _message(self) -> str:
        parts = [self.what.rstrip(".") + "."]
        ch = self.challenge
        if ch is not None:
            said = [f"{self.status_code or 'the response'}"]
            said.append(f"error={ch.error!r}" if ch.error else "no error code")
            if ch.scope is not None:
                said.append(f"scope={_scopes_text(ch.scope)}")
            if ch.error_description:
                said.append(f"error_description={ch.error_description!r}")
            parts.append("The server said: " + ", ".join(said) + ".")
        if self.scopes is not None:
            parts.append(f"Scopes requested: {_scopes_text(self.scopes)}.")
        if self.granted is not None:
            parts.append(f"Scopes granted: {_scopes_text(self.granted)}.")
        parts.append(self.advice)
        return " ".join(parts)


class ScopeNotAllowedError(StepUpError):
    """The server asked for a scope outside ``Policy.allowed_scopes`` (rule 6)."""

    advice = (
        "No token was requested. If the application should hold this scope, add it to "
        "Policy(allowed_scopes=...)."
    )

    @classmethod
    def outside_ceiling(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        outside: frozenset[str],
        scopes: frozenset[str],
    ) -> ScopeNotAllowedError:
        """The challenge names ``outside``, scopes beyond ``Policy.allowed_scopes``;
        ``scopes`` is what would have been requested."""
        return cls(
            f"The resource server asks for {_names(outside)}, outside Policy.allowed_scopes",
            challenge=challenge,
            status_code=status_code,
            scopes=scopes,
        )

    @classmethod
    def too_many(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        count: int,
        limit: int,
    ) -> ScopeNotAllowedError:
        """Answering would ask for ``count`` scopes, more than ``Policy.max_scopes``."""
        return cls(
            f"Answering would ask for {count} scopes, more than Policy.max_scopes ({limit})",
            challenge=challenge,
            status_code=status_code,
            advice="A server that names new scopes without end is refused here; raise "
            "Policy(max_scopes=...) if this resource really needs that many.",
        )


class StepUpLoopError(StepUpError):
    """The same challenge came back after a token was obtained to answer it (rule 4)."""

    advice = (
        "Asking again would loop. The authorization server issued a token for this, and "
        "the resource server still refuses it: check that the user or client is allowed "
        "the scope at the authorization server, or name the scope the server needs in "
        "Policy(initial_scopes=...) if the challenge does not say."
    )

    @classmethod
    def same_challenge(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        scopes: frozenset[str],
        granted: frozenset[str],
    ) -> StepUpLoopError:
        """The challenge came back for a token obtained to answer it."""
        return cls(
            "The resource server sent the same challenge again for a token obtained to answer it",
            challenge=challenge,
            status_code=status_code,
            scopes=scopes,
            granted=granted,
        )

    @classmethod
    def scopes_held(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        granted: frozenset[str],
    ) -> StepUpLoopError:
        """The token refused already holds every scope the challenge names."""
        return cls(
            "The resource server refuses a token that already holds every scope it names",
            challenge=challenge,
            status_code=status_code,
            granted=granted,
            advice="A new token would hold the same scopes. Check what else the server "
            "checks: the token's audience (the RFC 8707 resource it was issued for) or the "
            "server's own scope configuration.",
        )

    @classmethod
    def nothing_new(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        scopes: frozenset[str],
        granted: frozenset[str],
    ) -> StepUpLoopError:
        """insufficient_scope named no scope, and the new token adds none."""
        return cls(
            "The resource server answered insufficient_scope without naming a scope, and "
            "the new token holds no scope the old one lacked",
            challenge=challenge,
            status_code=status_code,
            scopes=scopes,
            granted=granted,
        )

    @classmethod
    def dpop_nonce(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        repeated: bool,
    ) -> StepUpLoopError:
        """``use_dpop_nonce`` came with no usable nonce: none at all (or several), or
        the one this request already carried (``repeated``)."""
        sent = (
            "the same nonce this request already carried"
            if repeated
            else "none (exactly one DPoP-Nonce header is required)"
        )
        return cls(
            f"The resource server asked for a DPoP nonce but sent {sent}",
            challenge=challenge,
            status_code=status_code,
        )


class MalformedChallengeError(StepUpError):
    """The challenge breaks a syntax rule that matters for acting on it."""

    advice = (
        "Nothing was sent to the authorization server. Report the header to the "
        "resource server's operators."
    )

    @classmethod
    def invalid_scopes(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        invalid: tuple[str, ...],
    ) -> MalformedChallengeError:
        """The challenge's ``scope`` holds tokens that break RFC 6749 §3.3."""
        return cls(
            "The challenge names scopes that break the RFC 6749 §3.3 scope syntax ("
            + ", ".join(repr(s) for s in invalid)
            + "); they were not sent to the authorization server",
            challenge=challenge,
            status_code=status_code,
        )

    @classmethod
    def too_large(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        size: int,
        limit: int,
    ) -> MalformedChallengeError:
        """The response carries more ``WWW-Authenticate`` than ``Policy.max_challenge_size``."""
        return cls(
            f"The {status_code} response carries {size} bytes of WWW-Authenticate, more "
            f"than Policy.max_challenge_size ({limit}); it was not parsed",
            challenge=challenge,
            status_code=status_code,
        )


class ScopeNotGrantedError(StepUpError):
    """The authorization server granted less than the challenge needs (RFC 6749 §3.3)."""

    advice = (
        "The authorization server may ignore requested scopes. Grant the missing scopes "
        "to this client or user at the authorization server."
    )

    @classmethod
    def not_granted(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        missing: frozenset[str],
        scopes: frozenset[str],
        granted: frozenset[str],
    ) -> ScopeNotGrantedError:
        """The new token lacks ``missing``, scopes the challenge names."""
        return cls(
            f"The authorization server did not grant {_names(missing)}, which the "
            "resource server needs",
            challenge=challenge,
            status_code=status_code,
            scopes=scopes,
            granted=granted,
        )

    @classmethod
    def refused_before(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        refused: frozenset[str],
        scopes: frozenset[str],
        granted: frozenset[str],
    ) -> ScopeNotGrantedError:
        """The challenge names ``refused``, which an earlier token request did not get."""
        return cls(
            f"The authorization server already refused {_names(refused)}, which the "
            "resource server needs; it was not asked again (Upscope.forget() allows that)",
            challenge=challenge,
            status_code=status_code,
            scopes=scopes,
            granted=granted,
        )


class TooManyTokenRequestsError(StepUpError):
    """One request needed more token requests than ``Policy.max_token_requests``."""

    advice = "Raise Policy(max_token_requests=...) only if the server really needs more rounds."

    @classmethod
    def after(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        token_requests: int,
        scopes: frozenset[str],
        granted: frozenset[str],
    ) -> TooManyTokenRequestsError:
        """This request already made ``token_requests``, the most the policy allows."""
        return cls(
            f"This request already made {token_requests} token request(s), the most "
            "Policy.max_token_requests allows",
            challenge=challenge,
            status_code=status_code,
            scopes=scopes,
            granted=granted,
        )


class TooManyRetriesError(StepUpError):
    """One request was retried more often than ``Policy.max_retries``."""

    advice = "The server keeps challenging; raise Policy(max_retries=...) only if it must."

    @classmethod
    def after(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        sends: int,
    ) -> TooManyRetriesError:
        """This request was already sent ``sends`` times, the most the policy allows."""
        return cls(
            f"This request was already sent {sends} times, the most Policy.max_retries allows",
            challenge=challenge,
            status_code=status_code,
        )


class BodyNotReplayableError(StepUpError):
    """The request must be sent again, but its body cannot be replayed (rule 8)."""

    advice = (
        "Pass the body as bytes (or a seekable file) so it can be sent again, or send "
        "the request again yourself: the next request will use the new token."
    )

    @classmethod
    def for_request(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        method: str,
        url: str,
    ) -> BodyNotReplayableError:
        """``method url`` (a URL shown without query or userinfo) must be sent again."""
        return cls(
            f"{method} {url} must be sent again, but its body cannot be replayed",
            challenge=challenge,
            status_code=status_code,
        )


class TokenRequestFailedError(StepUpError):
    """The token source failed; ``cause`` (and ``__cause__``) holds its exception."""

    advice = "See the cause below; fix the token source or the authorization server."

    def __init__(self, what: str, *, cause: BaseException | None = None, **kwargs: object) -> None:
        self.cause = cause
        super().__init__(what, **kwargs)  # type: ignore[arg-type]
        self.__cause__ = cause

    @classmethod
    def failed(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        cause: BaseException | None,
        cancelled: bool,
    ) -> TokenRequestFailedError:
        """This request's own token request failed with ``cause`` (or was cancelled)."""
        how = " (cancelled)" if cancelled else f": {_describe(cause)}"
        return cls(
            "The token request failed" + how,
            cause=cause,
            challenge=challenge,
            status_code=status_code,
        )

    @classmethod
    def shared(
        cls,
        challenge: BearerChallenge | None,
        status_code: int | None,
        /,
        *,
        cause: BaseException | None,
    ) -> TokenRequestFailedError:
        """The token request this request waited for (another's) failed with ``cause``."""
        return cls(
            "The token request this request was waiting for failed: " + _describe(cause),
            cause=cause,
            challenge=challenge,
            status_code=status_code,
        )
