"""The adapters' configurable maximum header size (issue 8: "a configurable maximum header
size handled before parsing"), through every adapter.

Without the option, each adapter already refuses an oversized head with its transport
error (tests/hostile/test_challenges.py). With it, the caller chooses the limit: a larger
one lets a big (but legal) challenge reach the core, whose own ``max_challenge_size``
then decides; a smaller one refuses a head the default would take, and says so.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sansio_upscope import MalformedChallengeError
from tests.driver import DRIVERS, Call, names, run

from .conftest import Issuer, protected
from .expect import assert_typed_error
from .server import Reply, Request, ScriptedServer, response, routes

Script = Callable[[Request], Reply | bytes]

#: http.client reads no header line over 65536 bytes, whatever the caller configures, so
#: under requests ``max_header_size`` can only lower the limit.
HTTP_CLIENT_MAX_LINE = 65536


def _challenge(size: int) -> bytes:
    value = b'Bearer realm="' + b"x" * size + b'", error="invalid_token"'
    return response(401, [(b"WWW-Authenticate", value)])


@pytest.mark.parametrize("adapter", names(options=["max_header_size"]))
def test_a_raised_header_limit_lets_the_core_judge_the_challenge(
    adapter: str, serve: Callable[[Script], ScriptedServer], issuer: Issuer
) -> None:
    big = _challenge(200 * 1024)  # over every default head limit, under 1 MiB
    server = serve(routes({"/hostile": lambda _r: big, "/ok": protected}))
    first, second = run(
        adapter,
        [Call(url=server.url + "/hostile"), Call(url=server.url + "/ok")],
        issuer,
        options={"max_header_size": 1 << 20},
    )
    if adapter == "requests":
        # The line is over http.client's fixed cap: a clear transport error that says so.
        error = assert_typed_error(first, *DRIVERS[adapter].transport_errors)
        assert str(HTTP_CLIENT_MAX_LINE) in str(error)
    else:
        assert_typed_error(first, MalformedChallengeError)  # Policy.max_challenge_size: 64 KiB
    assert server.count("/hostile") == 1 and issuer.count <= 1
    assert second.ok, second


@pytest.mark.parametrize("adapter", names(options=["max_header_size"]))
def test_a_lowered_header_limit_refuses_with_a_message_naming_it(
    adapter: str, serve: Callable[[Script], ScriptedServer], issuer: Issuer
) -> None:
    small = _challenge(8 * 1024)  # under every default, over the limit set below
    server = serve(routes({"/hostile": lambda _r: small, "/ok": protected}))
    first, second = run(
        adapter,
        [Call(url=server.url + "/hostile"), Call(url=server.url + "/ok")],
        issuer,
        options={"max_header_size": 4096},
    )
    error = assert_typed_error(first, *DRIVERS[adapter].transport_errors)
    assert "max_header_size" in str(error)
    assert second.ok, second
