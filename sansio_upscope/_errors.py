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


class StepUpLoopError(StepUpError):
    """The same challenge came back after a token was obtained to answer it (rule 4)."""

    advice = (
        "Asking again would loop. The authorization server issued a token for this, and "
        "the resource server still refuses it: check that the user or client is allowed "
        "the scope at the authorization server, or name the scope the server needs in "
        "Policy(initial_scopes=...) if the challenge does not say."
    )


class MalformedChallengeError(StepUpError):
    """The challenge breaks a syntax rule that matters for acting on it."""

    advice = (
        "Nothing was sent to the authorization server. Report the header to the "
        "resource server's operators."
    )


class ScopeNotGrantedError(StepUpError):
    """The authorization server granted less than the challenge needs (RFC 6749 §3.3)."""

    advice = (
        "The authorization server may ignore requested scopes. Grant the missing scopes "
        "to this client or user at the authorization server."
    )


class TooManyTokenRequestsError(StepUpError):
    """One request needed more token requests than ``Policy.max_token_requests``."""

    advice = "Raise Policy(max_token_requests=...) only if the server really needs more rounds."


class TooManyRetriesError(StepUpError):
    """One request was retried more often than ``Policy.max_retries``."""

    advice = "The server keeps challenging; raise Policy(max_retries=...) only if it must."


class BodyNotReplayableError(StepUpError):
    """The request must be sent again, but its body cannot be replayed (rule 8)."""

    advice = (
        "Pass the body as bytes (or a seekable file) so it can be sent again, or send "
        "the request again yourself: the next request will use the new token."
    )


class TokenRequestFailedError(StepUpError):
    """The token source failed; ``cause`` (and ``__cause__``) holds its exception."""

    advice = "See the cause below; fix the token source or the authorization server."

    def __init__(self, what: str, *, cause: BaseException | None = None, **kwargs: object) -> None:
        self.cause = cause
        super().__init__(what, **kwargs)  # type: ignore[arg-type]
        self.__cause__ = cause
