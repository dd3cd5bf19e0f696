"""``upscope parse``: read ``WWW-Authenticate`` values, show the challenges, the grammar
errors with their position, and what the state machine does with them.

The "what the machine does" part is not a re-implementation: it drives a real
``Exchange`` with made-up responses (the given challenges on a 401, then on a 403) and
prints the actions it returns, until it delivers or gives up.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

from sansio_upscope import (
    BearerChallenge,
    Challenge,
    GiveUp,
    HeaderParseError,
    RequestToken,
    ResponseReceived,
    Retry,
    Send,
    Token,
    TokenIssued,
    Upscope,
    WaitForToken,
    parse_www_authenticate,
)
from sansio_upscope.challenges import DPoPChallenge
from sansio_upscope.scopes import format_scope

from ._exit import EXIT_OK, EXIT_USAGE, UsageError

__all__ = ["field_lines", "run_parse", "simulate"]

FIELD_NAME = "www-authenticate"
#: The made-up value standing in for a token in the simulation; never printed anyway.
_SIMULATED = "simulated-access-token"
#: More steps than any exchange can take under the default Policy; a safety stop only.
_MAX_STEPS = 20


def field_lines(args: Sequence[str], stdin: TextIO) -> list[str]:
    """The field lines to parse: the arguments, else the non-blank lines of stdin.

    A leading ``WWW-Authenticate:`` is dropped, so lines pasted from ``curl -i`` work.
    Raises ``UsageError`` when there is nothing to parse.
    """
    raw = list(args) if args else stdin.read().splitlines()
    lines: list[str] = []
    for line in raw:
        name, colon, rest = line.partition(":")
        # RFC 9112 §5: field-line = field-name ":" OWS field-value OWS.
        value = rest if colon and name.strip().lower() == FIELD_NAME else line
        value = value.strip(" \t\r\n")
        if value or args:
            lines.append(value)
    if not lines:
        raise UsageError(
            "no WWW-Authenticate value given: pass it as an argument, for example\n"
            '  upscope parse \'Bearer error="insufficient_scope", scope="a b"\'\n'
            "or pipe header lines on stdin"
        )
    return lines


def _challenge_json(ch: Challenge) -> dict[str, Any]:
    out: dict[str, Any] = {"scheme": ch.scheme, "params": dict(ch.params), "token68": ch.token68}
    if ch.scheme in ("bearer", "dpop"):
        b = BearerChallenge.from_challenge(ch)
        out["bearer"] = {
            "error": b.error,
            "error_description": b.error_description,
            "error_uri": b.error_uri,
            "realm": b.realm,
            "scope": sorted(b.scope) if b.scope is not None else None,
            "invalid_scopes": list(b.invalid_scopes),
            "resource_metadata": b.resource_metadata,
            "acr_values": list(b.acr_values),
            "max_age": b.max_age,
        }
    if ch.scheme == "dpop":
        out["dpop"] = {"algs": list(DPoPChallenge.from_challenge(ch).algs)}
    return out


def _action_json(action: object) -> dict[str, Any]:
    """An action as plain data; an ``Authorization`` value only as present/absent."""
    out: dict[str, Any] = {"action": type(action).__name__}
    if isinstance(action, Send | Retry):
        out["with_token"] = action.authorization is not None
        if action.dpop_nonce is not None:
            out["dpop_nonce"] = action.dpop_nonce
    elif isinstance(action, RequestToken):
        out.update(
            scopes=sorted(action.scopes),
            reason=action.reason.value,
            resource=action.resource,
            resource_metadata=action.resource_metadata,
            acr_values=list(action.acr_values),
            max_age=action.max_age,
            can_refresh=action.can_refresh,
        )
    elif isinstance(action, WaitForToken):
        out["token_request"] = action.token_request
    elif isinstance(action, GiveUp):
        out.update(error=type(action.error).__name__, message=str(action.error))
    return out


def simulate(
    lines: Sequence[str], status_code: int, *, url: str, granted: frozenset[str]
) -> list[dict[str, Any]]:
    """Drive a real ``Exchange``: a GET sent with a token granted ``granted`` gets
    ``status_code`` with these challenges; every token request is granted in full and
    the server answers every retry the same way. Returns the steps, one per input."""
    upscope = Upscope(url)
    # Get a token installed first, so that the exchange below sends one, as a client
    # that meets a step-up challenge does. Any challenge-free 401 asks for a token.
    first = upscope.exchange("GET", url)
    action = first.start(now=0.0)
    action = first.receive(ResponseReceived(status_code=401, headers=(), now=0.0))
    if isinstance(action, RequestToken):
        first.receive(TokenIssued(token=Token(_SIMULATED, scopes=granted)))
        first.receive(ResponseReceived(status_code=200, now=0.0))
    first.abandon()

    headers = tuple((FIELD_NAME, line) for line in lines)
    response = ResponseReceived(status_code=status_code, headers=headers, now=0.0)
    exchange = upscope.exchange("GET", url)
    steps = [{"input": "start()", **_action_json(action := exchange.start(now=0.0))}]
    seen_response = False
    while len(steps) < _MAX_STEPS:
        if isinstance(action, Send | Retry):
            what = f"{status_code} again" if seen_response else f"{status_code} response"
            seen_response = True
            action = exchange.receive(response)
        elif isinstance(action, RequestToken):
            what = f"token issued for {format_scope(action.scopes) or '(no scope)'}"
            token = Token(_SIMULATED, scopes=action.scopes)
            action = exchange.receive(TokenIssued(token=token))
        elif isinstance(action, WaitForToken):
            what = "resume()"
            action = exchange.resume(now=0.0)
        else:
            break
        steps.append({"input": what, **_action_json(action)})
    exchange.abandon()
    return steps


def _caret(text: str, offset: int, width: int = 76) -> list[str]:
    """Two lines: a window of ``text`` around ``offset``, and a caret under it."""
    start = max(0, min(offset - width // 2, len(text) - width))
    window = text[start : start + width]
    caret = " " * (offset - start) + "^"
    return [("..." if start else "   ") + window, "   " + caret]


def _describe_action(step: dict[str, Any]) -> str:
    name = step["action"]
    if name in ("Send", "Retry"):
        return f"{name} ({'with the token' if step['with_token'] else 'no token'})"
    if name == "RequestToken":
        scopes = format_scope(step["scopes"]) or "(no scope)"
        extra = ", refresh can serve" if step["can_refresh"] else ", new grant"
        if step["acr_values"]:
            extra += f", acr_values={' '.join(step['acr_values'])}"
        if step["max_age"] is not None:
            extra += f", max_age={step['max_age']}"
        if step["resource_metadata"]:
            extra += f", resource_metadata={step['resource_metadata']}"
        return f"RequestToken (scopes: {scopes}; reason: {step['reason']}{extra})"
    if name == "GiveUp":
        return f"GiveUp ({step['error']}):"
    return str(name)


def _text(report: dict[str, Any]) -> list[str]:
    out = [f"{len(report['field_lines'])} field line(s):"]
    out += [f"  {line}" for line in report["field_lines"]]
    error = report["grammar_error"]
    if error is None:
        out.append("Grammar: valid (RFC 9110 §11.6.1, §11.3)")
    else:
        out.append(f"Grammar error at offset {error['offset']}: {error['reason']}")
        combined = report["combined"]
        if combined[error["offset"] : error["offset"] + 1] or error["offset"] == len(combined):
            out += _caret(combined, error["offset"])
        out.append("The lenient parse skips the broken challenge and keeps the others.")
    if not report["challenges"]:
        out.append("No challenge found.")
    for n, ch in enumerate(report["challenges"], 1):
        out.append(f"Challenge {n}: scheme {ch['scheme']}")
        if ch["token68"] is not None:
            out.append(f"  token68            {ch['token68']}")
        for name, value in ch["params"].items():
            out.append(f"  {name:<18} {value!r}")
        bearer = ch.get("bearer")
        if bearer is not None:
            scope = bearer["scope"]
            out.append(
                "  scope (RFC 6749)   "
                + ("(absent)" if scope is None else format_scope(scope) or '"" (empty)')
            )
            if bearer["invalid_scopes"]:
                bad = ", ".join(repr(s) for s in bearer["invalid_scopes"])
                out.append(f"  invalid scopes     {bad} (break RFC 6749 §3.3; never sent)")
    machine = report["machine"]
    granted = format_scope(machine["granted"]) or "no scope"
    out.append(f"What the machine does (GET {machine['url']}, sent with a token for {granted}):")
    for status in ("401", "403"):
        out.append(f"  on {status}:")
        for n, step in enumerate(machine[status], 1):
            out.append(f"    {n}. {step['input']:<28} -> {_describe_action(step)}")
            if step["action"] == "GiveUp":
                out += textwrap.wrap(
                    step["message"], 96, initial_indent=" " * 8, subsequent_indent=" " * 8
                )
    return out


def run_parse(
    args: Sequence[str],
    *,
    stdin: TextIO,
    stdout: TextIO,
    as_json: bool,
    strict: bool,
    url: str,
    granted: str,
) -> int:
    """The ``parse`` command. Returns the exit code (2 for a grammar error with
    ``--strict``); raises ``UsageError`` for input it cannot read at all."""
    lines = field_lines(args, stdin)
    if not url.lower().startswith(("http://", "https://")):
        raise UsageError(f"--url {url!r} is not an http(s) URL")
    granted_scopes = frozenset(granted.split())
    grammar_error: dict[str, Any] | None = None
    try:
        parse_www_authenticate(lines, strict=True)
    except HeaderParseError as e:
        grammar_error = {"reason": e.reason, "offset": e.offset, "excerpt": e.excerpt}
    challenges = parse_www_authenticate(lines)
    report: dict[str, Any] = {
        "field_lines": lines,
        # RFC 9110 §5.3: field lines combine with "comma SP"; offsets count in this value.
        "combined": ", ".join(lines),
        "valid": grammar_error is None,
        "grammar_error": grammar_error,
        "challenges": [_challenge_json(ch) for ch in challenges],
        "machine": {
            "url": url,
            "granted": sorted(granted_scopes),
            "401": simulate(lines, 401, url=url, granted=granted_scopes),
            "403": simulate(lines, 403, url=url, granted=granted_scopes),
        },
    }
    if as_json:
        json.dump(report, stdout, indent=2)
        stdout.write("\n")
    else:
        stdout.write("\n".join(_text(report)) + "\n")
    return EXIT_USAGE if strict and grammar_error is not None else EXIT_OK
