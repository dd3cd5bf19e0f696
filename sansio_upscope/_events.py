"""Events: facts the caller feeds the machine, in the past tense."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import attrs

from ._token import Token

__all__ = ["Event", "ResponseReceived", "TokenFailed", "TokenIssued"]

Header = tuple[str | bytes, str | bytes]


def _headers(value: Iterable[Header]) -> tuple[Header, ...]:
    # Each pair as a tuple: h11's pairs already are, and tuple() hands them back as they
    # are (speed: no unpacking and repacking per field).
    return tuple(map(tuple, value))  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class ResponseReceived:
    """The response to the last ``Send`` or ``Retry`` arrived (its head is enough).

    ``headers`` are (name, value) pairs, str or bytes, exactly as h11 gives them.
    ``url``: the URL the response came from, when a redirect the client followed took
    the request elsewhere (None: the exchange's own URL). A response from another
    origin is delivered as it is.
    """

    status_code: int
    headers: tuple[Header, ...] = attrs.field(factory=tuple, converter=_headers)
    now: float | None = None
    url: str | None = None

    @staticmethod
    @functools.lru_cache(maxsize=1024)  # h11 and http.client take three-digit codes only
    def status_only(status_code: int) -> ResponseReceived:
        """The event with the status alone, one shared by every response with it (events
        are immutable): enough when ``Exchange.needs_headers(status_code)`` is False."""
        return ResponseReceived(status_code=status_code)


@attrs.frozen(kw_only=True)
class TokenIssued:
    """The token request asked for by ``RequestToken`` succeeded."""

    token: Token = attrs.field(validator=attrs.validators.instance_of(Token))


@attrs.frozen(kw_only=True)
class TokenFailed:
    """The token request failed. ``cancelled`` means it was abandoned, not refused:
    exchanges waiting for it then ask for a token themselves instead of failing."""

    error: BaseException | None = attrs.field(default=None, eq=False)
    cancelled: bool = False


Event = ResponseReceived | TokenIssued | TokenFailed
