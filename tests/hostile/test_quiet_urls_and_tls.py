"""What transport errors show of a URL, and a TLS handshake cut short by cancellation.

A query string may carry an API key or a signature: ``TransportError`` messages and
``Response`` reprs show scheme, host, port and path only (``error.url`` keeps it all).
A trio request cancelled during the TLS handshake closes its TCP connection.
"""

from __future__ import annotations

import socket
import threading

import h11
import pytest
import trio

import upscope_trio
from _upscope_io import ResponseHead, TransportError
from _upscope_io._pool import Response
from sansio_upscope import RequestToken, Token
from sansio_upscope._urls import display_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.example/v1/x?api_key=KEY-secret", "https://api.example/v1/x?..."),
        ("http://user:PASS-secret@127.0.0.1:8080/p#frag", "http://127.0.0.1:8080/p"),
        ("http://[::1]:9/", "http://[::1]:9/"),
        ("http://127.0.0.1:99999999/", "<an invalid URL>"),
    ],
)
def test_messages_show_a_url_without_its_query(url: str, shown: str) -> None:
    assert display_url(url) == shown
    error = TransportError(url, "the server closed the connection")
    assert shown in str(error) and "secret" not in str(error) and error.url == url
    head = ResponseHead(h11.Response(status_code=200, reason=b"OK", headers=[]))
    assert repr(Response(url=url, head=head, connection=None, pool=None)) == (
        f"<Response 200 {shown}>"
    )


def test_a_trio_request_cancelled_mid_handshake_closes_its_connection() -> None:
    # A server that accepts TCP and never answers the TLS ClientHello.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    closed = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(5.0)
            while connection.recv(4096):  # the ClientHello, then the client's close
                pass
        closed.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def tokens(_request: RequestToken) -> Token:
        return Token("unused")

    async def main() -> None:
        async with upscope_trio.Client(tokens) as client:
            with trio.move_on_after(0.3) as scope:
                await client.request("GET", f"https://127.0.0.1:{port}/")
            assert scope.cancelled_caught
            # The connection is closed now, while the client is still open.
            assert closed.wait(2.0), "the TCP connection was left open"

    try:
        trio.run(main)
    finally:
        listener.close()
