"""Hypothesis over hostile bytes: the response head as the socket gives it, through the h11
glue, the parser and the machine (issue 8).

The grammar-level properties of the parser live in test_parser_properties.py and the
machine's adversary over well-formed challenges in test_machine_properties.py. Here the
input is raw octets, built from the pieces that break parsers (quotes, backslashes,
commas, CR/LF/NUL, obs-text, huge runs), and the properties are the ones an adapter
relies on:

* the h11 glue raises nothing but ``TransportError`` for any bytes;
* lenient parsing is total and strict parsing raises only ``HeaderParseError``;
* the machine never raises for any response, never parses a challenge larger than
  ``Policy.max_challenge_size``, and ends every exchange within its budgets whatever the
  sequence of responses and the policy;
* only the token held now is ever sent, and no secret reaches a give-up message;
* an exchange abandoned at any point (a transport error) leaves the resource usable.
"""

from __future__ import annotations

import contextlib
import importlib.util
import pathlib
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from _upscope_io import Http11, ResponseHead, TransportError
from sansio_upscope import (
    Deliver,
    GiveUp,
    HeaderParseError,
    MalformedChallengeError,
    Policy,
    RequestToken,
    ResponseReceived,
    Retry,
    Send,
    Token,
    TokenFailed,
    TokenIssued,
    Upscope,
    WaitForToken,
    parse_www_authenticate,
)

URL = "http://127.0.0.1:8000/api"
SECRET = "FUZZ-SECRET-"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Pieces that matter to a challenge parser, and a few that matter to HTTP/1.1 framing.
PIECES = [
    b"Bearer",
    b"DPoP",
    b"Basic",
    b" ",
    b"\t",
    b",",
    b"=",
    b'"',
    b"\\",
    b"error",
    b"insufficient_scope",
    b"invalid_token",
    b"use_dpop_nonce",
    b"scope",
    b"resource_metadata",
    b"acr_values",
    b"max_age",
    b"realm",
    b"read write",
    b"https://rs.example/prm",
    b"a",
    b"9" * 30,
    b"x=",
    b"==",
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b"\x7f",
    b"\x01",
    b"\x80",
    b"\xff",
    b"\xc3\xa9",
]

field_values = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)
field_names = st.sampled_from(
    [b"WWW-Authenticate", b"www-authenticate", b"WWW-AUTHENTICATE", b"DPoP-Nonce", b"X-Other"]
)
statuses = st.sampled_from([200, 204, 302, 400, 401, 401, 401, 403, 403, 403, 500])


@st.composite
def response_heads(draw: st.DrawFn) -> bytes:
    status = draw(statuses)
    lines = [b"HTTP/1.1 %d X" % status]
    for _ in range(draw(st.integers(0, 4))):
        lines.append(draw(field_names) + b": " + draw(field_values))
    lines.append(b"Content-Length: 0")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _head_through_h11(raw: bytes) -> ResponseHead | None:
    """What an async adapter gets from these bytes: a head, or None for TransportError
    (any other exception fails the test)."""
    http = Http11()
    http.request("GET", URL, [], content_length=0)
    http.end()
    http.receive_data(raw)
    try:
        head = http.read_head()
    except TransportError:
        return None
    assert head is None or isinstance(head, ResponseHead), head
    return head


@SETTINGS
@given(response_heads())
def test_h11_glue_raises_only_transport_error_and_the_core_takes_what_it_passes(
    raw: bytes,
) -> None:
    head = _head_through_h11(raw)
    event("h11 refused" if head is None else "h11 passed")
    if head is None:
        return
    values = [v for n, v in head.headers if n.lower() == "www-authenticate"]
    parse_www_authenticate(values)  # lenient: total
    with contextlib.suppress(HeaderParseError):  # strict: only this, never another
        parse_www_authenticate(values, strict=True)
    upscope = Upscope(URL)
    exchange = upscope.exchange("GET", URL)
    assert isinstance(exchange.start(), Send)
    action = exchange.receive(ResponseReceived(status_code=head.status_code, headers=head.headers))
    assert isinstance(action, Deliver | RequestToken | Retry | GiveUp), action
    event(f"core: {type(action).__name__}")


@SETTINGS
@given(st.lists(st.tuples(field_names, field_values), max_size=6), statuses)
def test_the_machine_never_raises_on_raw_header_bytes(
    headers: list[tuple[bytes, bytes]], status: int
) -> None:
    upscope = Upscope(URL)
    exchange = upscope.exchange("GET", URL)
    exchange.start()
    action = exchange.receive(ResponseReceived(status_code=status, headers=headers))
    assert isinstance(action, Deliver | RequestToken | Retry | GiveUp), action


@SETTINGS
@given(
    st.integers(1, 4096),
    st.lists(st.binary(min_size=1, max_size=2048), min_size=1, max_size=4),
    st.sampled_from([401, 403]),
)
def test_a_challenge_over_the_size_limit_is_never_parsed(
    limit: int, values: list[bytes], status: int
) -> None:
    upscope = Upscope(URL, policy=Policy(max_challenge_size=limit))
    exchange = upscope.exchange("GET", URL)
    exchange.start()
    headers = [(b"WWW-Authenticate", value) for value in values]
    with mock.patch(
        "sansio_upscope._state.parse_www_authenticate", wraps=parse_www_authenticate
    ) as parse:
        action = exchange.receive(ResponseReceived(status_code=status, headers=headers))
    if sum(map(len, values)) > limit:
        assert not parse.called
        assert isinstance(action, GiveUp)
        assert isinstance(action.error, MalformedChallengeError)
    else:
        assert parse.called


policies = st.builds(
    Policy,
    max_token_requests=st.integers(1, 4),
    max_retries=st.integers(1, 5),
    allowed_scopes=st.none() | st.just(frozenset({"read", "write", "a", "b"})),
)


@st.composite
def responses(draw: st.DrawFn) -> ResponseReceived:
    headers = draw(st.lists(st.tuples(field_names, field_values), max_size=3))
    if draw(st.integers(0, 3)):  # mostly a challenge the machine acts on
        scope = draw(st.sampled_from([b"a", b"b", b"a b", b"read", b"write admin"]))
        error = draw(st.sampled_from([b"insufficient_scope", b"invalid_token", b"use_dpop_nonce"]))
        headers.append((b"WWW-Authenticate", b'Bearer error="%s", scope="%s"' % (error, scope)))
    if draw(st.booleans()):
        headers.append((b"DPoP-Nonce", b"n%d" % draw(st.integers(0, 1000))))
    # mostly challenges: a sequence of them is what must not loop
    status = draw(st.sampled_from([401, 401, 401, 403, 403, 403, 200, 500]))
    return ResponseReceived(status_code=status, headers=headers)


@SETTINGS
@given(policies, st.lists(responses(), min_size=1, max_size=30), st.data())
def test_any_response_sequence_ends_within_the_budgets_sending_only_the_current_token(
    policy: Policy, script: list[ResponseReceived], data: st.DataObject
) -> None:
    upscope = Upscope(URL, policy=policy)
    exchange = upscope.exchange("GET", URL)
    action: Any = exchange.start()
    sends = token_requests = steps = 0
    issued = 0
    replies = iter(script)
    while not isinstance(action, Deliver | GiveUp):
        steps += 1
        assert steps <= 3 * (policy.max_retries + policy.max_token_requests) + 3
        if isinstance(action, Send | Retry):
            sends += 1
            current = upscope.token.authorization if upscope.token is not None else None
            assert action.authorization == current  # never an older token
            reply = next(replies, None)
            if reply is None:  # the server has nothing more to say: it stays silent
                exchange.abandon()
                break
            action = exchange.receive(reply)
        elif isinstance(action, RequestToken):
            token_requests += 1
            if data.draw(st.booleans(), label="token source fails"):
                action = exchange.receive(TokenFailed(error=RuntimeError("no token")))
            else:
                issued += 1
                granted = data.draw(st.none() | st.just(action.scopes), label="granted")
                token = Token(f"{SECRET}{issued}", scopes=granted, refresh_token=SECRET + "r")
                action = exchange.receive(TokenIssued(token=token))
        else:
            raise AssertionError(f"a lone exchange was told to {action!r}")
    event(type(action.error).__name__ if isinstance(action, GiveUp) else type(action).__name__)
    event(f"token requests: {token_requests}")
    assert sends <= policy.max_retries + 1
    assert token_requests <= policy.max_token_requests
    if isinstance(action, GiveUp):
        assert SECRET not in str(action.error) and SECRET not in repr(action.error)
    # whatever happened, the next exchange on this resource is not wedged
    follow = upscope.exchange("GET", URL).start()
    assert isinstance(follow, Send | RequestToken), follow
    assert not isinstance(follow, WaitForToken)


@SETTINGS
@given(st.lists(responses(), min_size=1, max_size=8), st.integers(0, 8))
def test_an_exchange_abandoned_at_any_point_leaves_the_resource_usable(
    script: list[ResponseReceived], stop_after: int
) -> None:
    upscope = Upscope(URL)
    exchange = upscope.exchange("GET", URL)
    waiter = upscope.exchange("GET", URL)
    action: Any = exchange.start()
    waiter_action: Any = None
    for step, reply in enumerate(script):
        if step == stop_after or isinstance(action, Deliver | GiveUp):
            break
        if isinstance(action, RequestToken) and waiter_action is None:
            waiter_action = waiter.start()
            assert isinstance(waiter_action, WaitForToken)
            break  # the transport fails while the token request is under way
        assert isinstance(action, Send | Retry), action
        action = exchange.receive(reply)
    exchange.abandon()  # what every adapter does in its finally
    exchange.abandon()  # and it is idempotent
    assert not upscope.token_request_under_way
    if waiter_action is not None:
        resumed = waiter.resume()
        assert isinstance(resumed, RequestToken | Send), resumed
    follow = upscope.exchange("GET", URL).start()
    assert isinstance(follow, Send | RequestToken | WaitForToken)
    if not upscope.token_request_under_way:
        assert not isinstance(follow, WaitForToken)


# -- the atheris target (fuzz/parser_fuzz.py, run by `make fuzz`) ------------------------

FUZZ = pathlib.Path(__file__).resolve().parent.parent / "fuzz"

#: Inputs `make fuzz` found that once broke ``check``: each stays here as a regression.
#: (None so far: 60 s runs, ~260k inputs each, found nothing.) Also hostile shapes
#: worth keeping whatever the fuzzer does.
CRASHES: list[bytes] = [
    b'Bearer realm="' + b"\\" * 5000 + b'"',
    b", " * 5000,
    b'Bearer max_age="' + b"9" * 5000 + b'"',
    b"\x00\r\n" * 100,
]


def _fuzz_check() -> Any:
    spec = importlib.util.spec_from_file_location("parser_fuzz", FUZZ / "parser_fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check


def test_the_fuzz_target_holds_on_its_seeds_and_past_crashes() -> None:
    check = _fuzz_check()
    seeds = [path.read_bytes() for path in sorted((FUZZ / "seeds").iterdir())]
    assert len(seeds) >= 5
    for data in seeds + CRASHES:
        check(data)


@SETTINGS
@given(st.lists(field_values, max_size=4).map(b"\n".join))
def test_the_fuzz_target_holds_on_generated_values(data: bytes) -> None:
    _FUZZ_CHECK(data)


_FUZZ_CHECK = _fuzz_check()
