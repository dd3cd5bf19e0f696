"""The public surface: what ``import sansio_upscope`` offers, and the public submodules.

Pinned on purpose: a name added to or dropped from the top level is a decision, made
here and in docs/, not a side effect of an import.
"""

from __future__ import annotations

import importlib

import pytest

import sansio_upscope

#: What a driver of the machine needs, plus the pinned parser names (DESIGN.md).
TOP_LEVEL = {
    # events
    "Event",
    "ResponseReceived",
    "TokenFailed",
    "TokenIssued",
    # actions
    "Action",
    "Deliver",
    "GiveUp",
    "Reason",
    "RequestToken",
    "Retry",
    "Send",
    "WaitForToken",
    # the machine
    "Exchange",
    "Policy",
    "State",
    "Token",
    "Upscope",
    "Upscopes",
    # errors
    "LocalProtocolError",
    "StepUpError",
    "BodyNotReplayableError",
    "MalformedChallengeError",
    "ScopeNotAllowedError",
    "ScopeNotGrantedError",
    "StepUpLoopError",
    "TokenRequestFailedError",
    "TooManyRetriesError",
    "TooManyTokenRequestsError",
    # the parser
    "BearerChallenge",
    "Challenge",
    "HeaderParseError",
    "parse_www_authenticate",
}

SUBMODULES = {
    "sansio_upscope.challenges": {
        "BearerChallenge",
        "Challenge",
        "DPoPChallenge",
        "HeaderParseError",
        "dpop_challenge",
        "dpop_nonce",
        "format_challenge",
        "parse_www_authenticate",
        "www_authenticate_values",
    },
    "sansio_upscope.scopes": {"format_scope", "invalid_scope_tokens", "parse_scope"},
    "sansio_upscope.redaction": {
        "REDACTED",
        "ROOT_LOGGER",
        "RedactingFilter",
        "redact",
        "redact_headers",
    },
}


def test_top_level_all_is_pinned() -> None:
    assert set(sansio_upscope.__all__) == TOP_LEVEL
    assert len(sansio_upscope.__all__) == len(TOP_LEVEL)  # no name twice
    for name in TOP_LEVEL:
        assert getattr(sansio_upscope, name) is not None


def test_every_step_up_error_is_at_the_top() -> None:
    errors = {
        name
        for name in dir(sansio_upscope._errors)
        if isinstance(getattr(sansio_upscope._errors, name), type)
        and issubclass(getattr(sansio_upscope._errors, name), sansio_upscope.StepUpError)
    }
    assert errors <= TOP_LEVEL


def test_moved_helpers_are_not_at_the_top() -> None:
    moved = set().union(*SUBMODULES.values()) - TOP_LEVEL
    assert moved and not moved & set(dir(sansio_upscope))


@pytest.mark.parametrize("module", sorted(SUBMODULES))
def test_public_submodule(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == SUBMODULES[module]
    assert mod.__doc__ and all(name in mod.__doc__ for name in SUBMODULES[module] - TOP_LEVEL)
    for name in mod.__all__:
        assert getattr(mod, name) is not None
