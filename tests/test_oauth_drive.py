"""The drivers (drive_sync, drive_async) over a scripted `send`, and the loopback
redirect receiver over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from _upscope_io import LoopbackReceiver, drive_async, drive_sync
from sansio_upscope.oauth import (
    AuthorizationCode,
    ClientCredentials,
    HttpRequest,
    HttpResponse,
    TokenEndpointError,
)
from tests.test_oauth_support import (
    ASM_URL,
    PRM_URL,
    REDIRECT,
    TOKEN_URL,
    asm,
    form,
    json_response,
    prm,
    query,
    request_token,
    token_json,
)


def scripted(
    responses: list[HttpResponse],
) -> tuple[Callable[[HttpRequest], HttpResponse], list[HttpRequest]]:
    sent: list[HttpRequest] = []
    pending = iter(responses)

    def send(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return next(pending)

    return send, sent


DISCOVERED = [json_response(prm()), json_response(asm())]


def fake_browser(url: str) -> str:
    """What the user's browser ends at after a successful login."""
    params = query(url)
    return f"{params['redirect_uri']}?code=CODE&state={params['state']}"


def test_drive_sync_client_credentials_with_a_clock() -> None:
    send, sent = scripted([*DISCOVERED, json_response(token_json())])
    ticks = iter([10.0, 11.0, 12.0, 13.0])
    token = drive_sync(
        ClientCredentials("agent", "s3cret"), request_token(), send=send, now=lambda: next(ticks)
    )
    assert token.expires_at == 3613.0  # dated by the clock when the response arrived
    assert [r.url for r in sent] == [PRM_URL, ASM_URL, TOKEN_URL]


def test_drive_sync_raises_the_flows_error() -> None:
    send, _ = scripted([json_response({"error": "invalid_scope"}, status=400)])
    source = ClientCredentials("agent", token_endpoint=TOKEN_URL)
    with pytest.raises(TokenEndpointError, match="invalid_scope"):
        drive_sync(source, request_token(), send=send)


def test_drive_sync_authorization_code_with_an_authorize_hook() -> None:
    send, sent = scripted([*DISCOVERED, json_response(token_json())])
    token = drive_sync(
        AuthorizationCode("app", REDIRECT), request_token(), send=send, authorize=fake_browser
    )
    assert token.access_token == "AT-secret" and form(sent[-1])["code"] == "CODE"
    # The source's own hook is used when the driver gets none.
    source = AuthorizationCode("app", REDIRECT, authorize=fake_browser)
    send, _ = scripted([*DISCOVERED, json_response(token_json())])
    assert drive_sync(source, request_token(), send=send).access_token == "AT-secret"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Replace the system browser by one that follows the redirect over real HTTP."""
    opened: list[str] = []
    threads: list[threading.Thread] = []

    def open_url(url: str) -> bool:
        opened.append(url)
        target = fake_browser(url)

        def visit() -> None:
            with urllib.request.urlopen(target, timeout=5) as answer:
                assert answer.status == 200

        threads.append(threading.Thread(target=visit))
        threads[-1].start()
        return True

    monkeypatch.setattr("webbrowser.open", open_url)
    yield opened
    for thread in threads:
        thread.join(5)


def test_drive_sync_default_opens_the_browser_and_catches_the_redirect(
    browser: list[str],
) -> None:
    send, sent = scripted([*DISCOVERED, json_response(token_json())])
    token = drive_sync(AuthorizationCode("app"), request_token(), send=send)
    assert token.access_token == "AT-secret"
    redirect_uri = query(browser[0])["redirect_uri"]
    assert redirect_uri.startswith("http://127.0.0.1:") and redirect_uri.endswith("/callback")
    assert form(sent[-1])["redirect_uri"] == redirect_uri


def test_drive_async_default_waits_for_the_browser_in_a_thread(browser: list[str]) -> None:
    async def main() -> None:
        responses = iter([*DISCOVERED, json_response(token_json())])

        async def send(request: HttpRequest) -> HttpResponse:
            return next(responses)

        token = await drive_async(
            AuthorizationCode("app"), request_token(), send=send, run_in_thread=asyncio.to_thread
        )
        assert token.access_token == "AT-secret"

    asyncio.run(main())
    assert query(browser[0])["redirect_uri"].startswith("http://127.0.0.1:")


def test_drive_async_with_sync_and_async_hooks() -> None:
    async def main() -> None:
        responses = iter([*DISCOVERED, json_response(token_json()), json_response(token_json())])

        async def send(request: HttpRequest) -> HttpResponse:
            return next(responses)

        async def browse(url: str) -> str:
            return fake_browser(url)

        source = AuthorizationCode("app", REDIRECT)
        token = await drive_async(source, request_token(), send=send, authorize=browse, now=5.0)
        assert token.expires_at == 3605.0
        token = await drive_async(source, request_token(), send=send, authorize=fake_browser)
        assert token.access_token == "AT-secret"
        with pytest.raises(ValueError, match=r"needs authorize= .* or run_in_thread="):
            await drive_async(source, request_token(), send=send)
        errors = iter([json_response({"error": "invalid_client"}, status=401)])

        async def refuse(request: HttpRequest) -> HttpResponse:
            return next(errors)

        with pytest.raises(TokenEndpointError, match="invalid_client"):
            await drive_async(
                ClientCredentials("a", token_endpoint=TOKEN_URL), request_token(), send=refuse
            )

    asyncio.run(main())


# -- the loopback receiver ----------------------------------------------------------------


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_receiver_ignores_other_paths_and_returns_the_redirect() -> None:
    with LoopbackReceiver(path="/cb") as receiver:
        assert receiver.redirect_uri == f"http://127.0.0.1:{receiver.port}/cb"
        assert repr(receiver) == f"LoopbackReceiver(redirect_uri={receiver.redirect_uri!r})"
        statuses: list[int] = []

        def browser() -> None:
            statuses.append(get(f"http://127.0.0.1:{receiver.port}/favicon.ico"))
            statuses.append(get(receiver.redirect_uri + "?code=c&state=s"))

        thread = threading.Thread(target=browser)
        thread.start()
        assert receiver.wait(timeout=5) == receiver.redirect_uri + "?code=c&state=s"
        thread.join(5)
        assert statuses == [404, 200]


def test_receiver_times_out_clearly() -> None:
    with LoopbackReceiver() as receiver, pytest.raises(TimeoutError, match="finish the login"):
        receiver.wait(timeout=0.05)


def test_receiver_for_redirect_uri() -> None:
    with LoopbackReceiver.for_redirect_uri("http://localhost/done") as receiver:
        assert receiver.redirect_uri.startswith("http://localhost:")
        assert receiver.redirect_uri.endswith("/done") and receiver.port > 0
    with LoopbackReceiver.for_redirect_uri(None, timeout=1.0) as receiver:
        assert receiver.timeout == 1.0 and receiver.path == "/callback"
    with pytest.raises(ValueError, match="loopback"):
        LoopbackReceiver.for_redirect_uri("https://app.example/callback")
    with pytest.raises(ValueError, match="loopback"):
        LoopbackReceiver(host="0.0.0.0")
