"""Fixtures of the hostile-server suite: a counting token source and a well-behaved
protected resource (``serve``, the scripted servers, is in tests/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from sansio_upscope import RequestToken, Token

from .server import Reply, Request, response

Script = Callable[[Request], Reply | bytes]


class Issuer:
    """A token source that grants whatever is asked and counts the requests; thread-safe.
    Tokens look like ``hostile-token-<n>`` so tests can find them in captured requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[RequestToken] = []

    def __call__(self, request: RequestToken) -> Token:
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
        return Token(f"hostile-token-{number}", scopes=request.scopes)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


def protected(request: Request) -> bytes:
    """A well-behaved protected resource: 200 with a token, else a bare Bearer 401."""
    if request.header("authorization"):
        return response(200, [("Content-Type", "text/plain")], b"fine")
    return response(401, [("WWW-Authenticate", 'Bearer realm="hostile"')])
