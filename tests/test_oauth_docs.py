"""The examples in docs/oauth.md run as written: the interactive one as a doctest, and the
loop that drives a flow with your own HTTP, over real HTTP and over every kind of step."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sansio_upscope.oauth import (
    AuthorizationCode,
    ClientCredentials,
    HttpRequest,
    HttpResponse,
    TokenEndpointError,
)
from tests.test_docs_examples import fenced, section
from tests.test_oauth_support import (
    ASM_URL,
    ISSUER,
    REDIRECT,
    TOKEN_URL,
    asm,
    form,
    json_response,
    query,
    request_token,
    token_json,
)

ROOT = Path(__file__).resolve().parent.parent
OAUTH_PAGE = ROOT / "docs" / "oauth.md"
OWN_HTTP = "Driving a flow with your own HTTP"


def test_oauth_page_examples() -> None:
    result = doctest.testfile(str(OAUTH_PAGE), module_relative=False, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_own_http_example_prints_what_the_page_shows() -> None:
    text = section(OAUTH_PAGE, OWN_HTTP)
    blocks = python_blocks(text)
    assert len(blocks) == 2  # the loop, then the loop over urllib against the demo server
    run = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == fenced(text, "text")


@pytest.fixture
def obtain_token() -> Callable[..., Any]:
    """The page's loop, as written."""
    namespace: dict[str, Any] = {}
    exec(python_blocks(section(OAUTH_PAGE, OWN_HTTP))[0], namespace)
    return namespace["obtain_token"]  # type: ignore[no-any-return]


def scripted(responses: dict[str, HttpResponse], sent: list[HttpRequest]) -> Any:
    def send(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return responses[request.url]

    return send


def test_own_http_loop_sends_the_browser_and_returns_the_token(
    obtain_token: Callable[..., Any],
) -> None:
    sent: list[HttpRequest] = []
    browsed: list[str] = []

    def authorize(url: str) -> str:
        browsed.append(url)
        return f"{REDIRECT}?code=CODE-secret&state={query(url)['state']}"

    responses = {
        ASM_URL: json_response(asm(token_endpoint_auth_methods_supported=["none"])),
        TOKEN_URL: json_response(token_json(scope="read")),
    }
    source = AuthorizationCode("app", REDIRECT, issuer=ISSUER)
    token = obtain_token(
        source,
        request_token(),
        send=scripted(responses, sent),
        authorize=authorize,
        now=lambda: 1000.0,
    )
    assert token.expires_at == 1000.0 + 3600
    assert token.scopes == frozenset({"read"})
    assert len(browsed) == 1
    assert [request.url for request in sent] == [ASM_URL, TOKEN_URL]
    assert form(sent[1])["code"] == "CODE-secret"


def test_own_http_loop_raises_the_flow_error(obtain_token: Callable[..., Any]) -> None:
    responses = {
        ASM_URL: json_response(asm()),
        TOKEN_URL: json_response({"error": "invalid_client"}, status=401),
    }
    source = ClientCredentials("agent", "wrong-secret", issuer=ISSUER)
    with pytest.raises(TokenEndpointError) as caught:
        obtain_token(source, request_token(), send=scripted(responses, []))
    assert caught.value.error == "invalid_client"
