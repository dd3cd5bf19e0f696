"""Hostile WWW-Authenticate headers, through every adapter.

Each case: the scripted server answers ``/hostile`` with one misbehaviour (forever, not
once), ``/ok`` is a well-behaved protected resource. The client sends ``/hostile`` then
``/ok`` on the same client. The first must end within its timeout, after a bounded number
of requests and token requests, with the expected response or a typed error; the second
must succeed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import attrs
import pytest

from sansio_upscope import (
    MalformedChallengeError,
    Policy,
    RequestToken,
    StepUpError,
    StepUpLoopError,
    Token,
    TooManyRetriesError,
)
from tests.driver import DRIVERS, Call, names, run

from .conftest import Issuer, protected
from .expect import assert_typed_error
from .server import Reply, Request, ScriptedServer, response, routes

POLICY = Policy(max_token_requests=2, max_retries=4)
BODY = b'{"error": "no"}'
TRANSPORT = "transport"  # placeholder: the adapter's transport exception


def challenge(status: int, *values: bytes) -> Callable[[Request], Reply | bytes]:
    """Answer every request with ``status`` and these WWW-Authenticate field lines."""
    data = response(status, [(b"WWW-Authenticate", value) for value in values], BODY)
    return lambda _request: data


def alternating(*replies: bytes) -> Callable[[Request], Reply | bytes]:
    cycle = itertools.cycle(replies)
    return lambda _request: next(cycle)


_NONCES = itertools.count()


def fresh_nonces(_request: Request) -> bytes:
    return response(
        401,
        [
            ("WWW-Authenticate", 'DPoP error="use_dpop_nonce", algs="ES256"'),
            ("DPoP-Nonce", f"nonce-{next(_NONCES)}"),
        ],
        BODY,
    )


@attrs.frozen(kw_only=True)
class Case:
    name: str
    script: Callable[[Request], Reply | bytes]
    #: exception types (TRANSPORT = the adapter's), or an int: the status delivered
    expect: tuple[object, ...]
    max_requests: int
    max_token_requests: int


def _huge(size: int) -> bytes:
    return b'Bearer realm="' + b"x" * size + b'", error="invalid_token"'


SCOPE_A = response(403, [("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="a"')])
SCOPE_B = response(403, [("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="b"')])
INVALID = response(401, [("WWW-Authenticate", 'Bearer error="invalid_token"')])

CASES = [
    Case(
        name="1 MB WWW-Authenticate",
        script=challenge(401, _huge(1 << 20)),
        expect=(TRANSPORT, MalformedChallengeError),
        max_requests=1,
        max_token_requests=0,
    ),
    Case(
        name="10,000 challenges on one line",
        script=challenge(
            403,
            b", ".join(b'Basic realm="r%d"' % i for i in range(9_999))
            + b', Bearer error="insufficient_scope", scope="a"',
        ),
        expect=(TRANSPORT, MalformedChallengeError),
        max_requests=1,
        max_token_requests=0,
    ),
    Case(
        name="10,000 WWW-Authenticate field lines",
        script=challenge(401, *([b"Basic"] * 10_000)),
        expect=(TRANSPORT, MalformedChallengeError, 401),
        max_requests=1,
        max_token_requests=0,
    ),
    Case(
        name="obs-text in scope",
        script=challenge(403, b'Bearer error="insufficient_scope", scope="r\xffw\x80"'),
        expect=(MalformedChallengeError,),
        max_requests=1,
        max_token_requests=0,
    ),
    Case(
        name="obs-text in realm, invalid_token forever",
        script=challenge(401, b'Bearer realm="\xfe\xff\x80", error="invalid_token"'),
        expect=(StepUpLoopError,),
        max_requests=2,
        max_token_requests=1,
    ),
    Case(
        name="control bytes in the challenge",
        script=challenge(403, b'Bearer error="insufficient_scope\x01\x7f", scope="a\x1b"'),
        expect=(TRANSPORT, 403),
        max_requests=1,
        max_token_requests=0,
    ),
    Case(
        # h11 rejects the NUL (the message); http.client lets it through and the parser
        # skips the challenge holding it (RFC 9110 §5.5: reject, never split "a b").
        name="NUL in the challenge",
        script=challenge(403, b'Bearer error="insufficient_scope", scope="a\x00b"'),
        expect=(TRANSPORT, 403),
        max_requests=1,
        max_token_requests=0,
    ),
    Case(
        name="unterminated quote on a 403",
        script=challenge(403, b'Bearer error="insufficient_scope, scope="files:write'),
        expect=(403,),
        max_requests=1,
        max_token_requests=0,
    ),
    Case(
        name="unterminated quote on a 401",
        script=challenge(401, b'Bearer error="invalid_token'),
        expect=(StepUpLoopError,),
        max_requests=2,
        max_token_requests=1,
    ),
    Case(
        name="duplicate resource_metadata",
        script=challenge(
            403,
            b'Bearer error="insufficient_scope", scope="a", '
            b'resource_metadata="https://evil.example/prm", '
            b'resource_metadata="https://rs.example/prm"',
        ),
        expect=(403,),
        max_requests=1,
        max_token_requests=0,
    ),
    Case(
        name="scopes that alternate forever",
        script=alternating(SCOPE_A, SCOPE_B),
        expect=(StepUpError,),
        max_requests=POLICY.max_retries + 1,
        max_token_requests=POLICY.max_token_requests,
    ),
    Case(
        name="invalid_token and insufficient_scope alternating forever",
        script=alternating(INVALID, SCOPE_A),
        expect=(StepUpError,),
        max_requests=POLICY.max_retries + 1,
        max_token_requests=POLICY.max_token_requests,
    ),
    Case(
        name="403 insufficient_scope on every response",
        script=challenge(403, b'Bearer error="insufficient_scope", scope="a"'),
        expect=(StepUpLoopError,),
        max_requests=2,
        max_token_requests=1,
    ),
    Case(
        name="403 insufficient_scope without a scope on every response",
        script=challenge(403, b'Bearer error="insufficient_scope"'),
        expect=(StepUpLoopError,),
        max_requests=2,
        max_token_requests=1,
    ),
    Case(
        name="401 without WWW-Authenticate",
        script=lambda _request: response(401, [("Content-Type", "text/plain")], b"go away"),
        expect=(StepUpLoopError,),
        max_requests=2,
        max_token_requests=1,
    ),
    Case(
        # A nonce is for DPoP proofs: a request that carried no DPoP token gets the 401.
        name="a DPoP nonce demanded of a request without a DPoP token",
        script=fresh_nonces,
        expect=(401,),
        max_requests=1,
        max_token_requests=0,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("adapter", names())
def test_hostile_challenge_ends_bounded_and_the_next_request_works(
    adapter: str, case: Case, serve: Callable[..., ScriptedServer], issuer: Issuer
) -> None:
    server = serve(routes({"/hostile": case.script, "/ok": protected}))
    first, second = run(
        adapter,
        [Call(url=server.url + "/hostile"), Call(url=server.url + "/ok")],
        issuer,
        policy=POLICY,
    )
    hostile_requests = server.count("/hostile")
    assert 1 <= hostile_requests <= case.max_requests, hostile_requests
    asked = [r for r in issuer.requests if r.resource.endswith("/hostile")]
    assert len(asked) <= case.max_token_requests, asked
    statuses = [e for e in case.expect if isinstance(e, int)]
    types = [e for e in case.expect if isinstance(e, type)]
    if TRANSPORT in case.expect:
        types += DRIVERS[adapter].transport_errors
    if first.error is None:
        assert first.status_code in statuses, (case.name, first)
    else:
        assert_typed_error(first, *types)
    assert first.seconds < 2.0
    assert second.ok, (case.name, second)
    assert server.count("/ok") <= 2


@pytest.mark.parametrize("adapter", names())
def test_a_new_dpop_nonce_on_every_response_is_bounded(
    adapter: str, serve: Callable[..., ScriptedServer]
) -> None:
    def dpop_tokens(request: RequestToken) -> Token:
        return Token("hostile-dpop-token", token_type="DPoP", scopes=request.scopes)

    def script(request: Request) -> bytes:
        if request.header("authorization") is None:
            return response(401, [("WWW-Authenticate", 'DPoP algs="ES256"')], BODY)
        return fresh_nonces(request)

    server = serve(routes({"/hostile": script, "/ok": protected}))
    first, _ = run(
        adapter,
        [Call(url=server.url + "/hostile"), Call(url=server.url + "/ok")],
        dpop_tokens,
        policy=POLICY,
    )
    assert_typed_error(first, TooManyRetriesError)
    assert server.count("/hostile") == POLICY.max_retries + 1
