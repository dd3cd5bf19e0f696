"""One HTTP/1.1 client connection's protocol state, bytes in and bytes out (no I/O).

A thin layer over h11 that speaks in the terms the adapters need: the bytes of a
request, the head of the response, its body chunks, and whether the connection may
carry another request afterwards (RFC 9112 §9.3: persistence).
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

import h11

from sansio_upscope._urls import Origin, origin

from ._errors import TransportError

__all__ = [
    "DEFAULT_MAX_HEADER_SIZE",
    "Http11",
    "Origin",
    "ResponseHead",
    "decoded",
]

#: The largest response head (status line and fields) a connection reads by default:
#: room for a challenge as large as the core parses (``Policy.max_challenge_size``,
#: 64 KiB) and the rest of a head. h11's own default, 16 KiB, would cut such a
#: challenge off before the core could judge it.
DEFAULT_MAX_HEADER_SIZE = 128 * 1024


_END_OF_MESSAGE = h11.EndOfMessage()

# RFC 9110 §5.1: field-name = token.
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")


#: What a request head is built from: method, URL, header fields, body length.
_RequestKey = tuple[str, str, list[tuple[str, str]], int | None]


@functools.lru_cache(maxsize=1024)
def _split(url: str) -> tuple[Origin, str]:
    # Cached: an application calls the same few URLs again and again.
    parts = urlsplit(url)
    target = parts.path or "/"
    return origin(url), f"{target}?{parts.query}" if parts.query else target


class ResponseHead:
    """Status line and header fields of a final (non-1xx) response.

    ``raw_headers`` are the (name, value) byte pairs exactly as h11 gives them, which is
    what the core takes; ``headers`` decodes them (latin-1) for a caller. Both, and
    ``reason``, are taken from h11's event only when first read: a 200 needs none."""

    __slots__ = ("_event", "_raw_headers", "status_code")

    def __init__(self, event: h11.Response) -> None:
        self.status_code: int = event.status_code
        self._event = event
        self._raw_headers: list[tuple[bytes, bytes]] | None = None

    @property
    def reason(self) -> str:
        return self._event.reason.decode("latin-1")

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        if self._raw_headers is None:
            self._raw_headers = self._event.headers.raw_items()
        return self._raw_headers

    @property
    def headers(self) -> list[tuple[str, str]]:
        return decoded(self.raw_headers)


def decoded(raw_headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Header fields as str pairs (RFC 9110 §5.5: octets; latin-1 maps each to one char)."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw_headers]


class Http11:
    """The h11 state of one client connection, for one request at a time.

    Call ``request()``, then ``body()``/``end()`` for the body (or ``message()`` for
    both), feed what the socket gives with ``receive_data()``, call ``read_head()`` until
    it gives the head, then ``read_body()`` until it says the body has ended. Each method
    raises ``TransportError`` (naming ``url``) when the peer breaks HTTP/1.1; after that
    the connection must be closed.
    """

    def __init__(self, *, max_header_size: int = DEFAULT_MAX_HEADER_SIZE) -> None:
        self.max_header_size = max_header_size
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_header_size)
        self.url = ""
        #: Bytes of the response to the current request received so far.
        self.received = 0
        # The last request head sent: what it was built from, and the event h11 checked.
        self._last_request: tuple[_RequestKey, h11.Request] | None = None

    @property
    def response_started(self) -> bool:
        """True once any byte of a response to the current request has arrived."""
        return self.received > 0

    def request(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        *,
        content_length: int | None,
    ) -> bytes:
        """The bytes of a request head. ``content_length`` None means a chunked body.

        Until the server answers, nothing of a response is buffered (a connection with
        bytes nobody asked for is not ``reusable``): read from the socket before the
        first ``read_head()``."""
        return self._send(self._request_for(method, url, headers, content_length))

    def message(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> bytes:
        """The bytes of a whole request whose body (if any) is ``body``: what
        ``request()``, ``body()`` and ``end()`` give, in one call."""
        if body:
            event = self._request_for(method, url, headers, len(body))
            return self._send(event, h11.Data(data=body), _END_OF_MESSAGE)
        return self._send(self._request_for(method, url, headers, 0), _END_OF_MESSAGE)

    def _request_for(
        self, method: str, url: str, headers: list[tuple[str, str]], content_length: int | None
    ) -> h11.Request:
        self.url = url
        self.received = 0
        # A keep-alive connection often sends the same request again: reuse the event
        # h11 validated last time (events are immutable) instead of building it anew.
        key = (method, url, headers, content_length)
        last = self._last_request
        if last is not None and last[0] == key:
            return last[1]
        event = self._request_event(method, url, headers, content_length)
        self._last_request = (method, url, headers.copy(), content_length), event
        return event

    def _request_event(
        self, method: str, url: str, headers: list[tuple[str, str]], content_length: int | None
    ) -> h11.Request:
        url_origin, target = _split(url)
        if headers and any(name.lower() == "host" for name, _ in headers):
            fields = headers.copy()
        else:
            fields = [("Host", url_origin.authority), *headers]
        if content_length is None:
            fields.append(("Transfer-Encoding", "chunked"))
        elif content_length or method.upper() not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            # RFC 9110 §8.6: a length for every body, and 0 for an empty one on methods
            # that usually carry one, so the server does not wait for a body.
            fields.append(("Content-Length", str(content_length)))
        try:
            return h11.Request(method=method, target=target, headers=fields)
        except h11.LocalProtocolError as exc:
            # h11 quotes the offending value, which may be a credential (an Authorization
            # field built from a token): name the field, never its value.
            raise TransportError(url, _refused_request(method, target, fields)) from exc

    def body(self, data: bytes) -> bytes:
        return self._send(h11.Data(data=data)) if data else b""

    def end(self) -> bytes:
        return self._send(_END_OF_MESSAGE)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed it."""
        self.received += len(data)
        self._h11.receive_data(data)

    def read_head(self) -> ResponseHead | None:
        """The response's head once it has arrived (1xx responses skipped), else None:
        read more."""
        while True:
            event = self._next()
            if type(event) is h11.Response:
                return self._head(event)
            if event is h11.NEED_DATA:
                return None
            if type(event) is h11.ConnectionClosed:
                raise TransportError(self.url, "the server closed the connection")
            if event is h11.PAUSED:  # after a 101: RFC 9110 §15.2.2, another protocol
                raise TransportError(self.url, "the server switched to another protocol")
            # h11.InformationalResponse (1xx, RFC 9110 §15.2): not final, skip it. (h11
            # gives no body before a head.)

    def read_body(self, chunks: list[bytes]) -> bool:
        """After ``read_head``: append the pieces of the body that have arrived to
        ``chunks``. True once the body has ended, False when more must be read."""
        while True:
            event = self._next()
            # Exact types, most frequent first: h11's event classes are ABCs, and an
            # isinstance() that fails on an ABC is slow.
            if type(event) is h11.Data:
                chunks.append(bytes(event.data))
            elif type(event) is h11.EndOfMessage:
                return True
            elif event is h11.NEED_DATA:
                return False
            else:  # h11.ConnectionClosed: no other event comes inside a body
                raise TransportError(self.url, "the server closed the connection")

    def _next(self) -> object:
        """h11's next event; ``TransportError`` when the server broke HTTP/1.1."""
        try:
            return self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise TransportError(self.url, self._broken_because(exc)) from exc

    def _head(self, response: h11.Response) -> ResponseHead:
        # h11 bounds only a head still arriving; one that came in a single read is
        # measured here (only a response this large can hold such a head), so the
        # limit holds however the bytes were split.
        if self.received > self.max_header_size:
            unread_body = len(self._h11.trailing_data[0])
            if self.received - unread_body > self.max_header_size:
                raise TransportError(self.url, self._too_large())
        return ResponseHead(response)

    def _broken_because(self, exc: h11.RemoteProtocolError) -> str:
        if not self.received:
            return "the server closed the connection before sending a response"
        if "peer closed" in str(exc):
            return "the server closed the connection before the response was complete"
        if exc.error_status_hint == 431:  # RFC 6585 §5: Request Header Fields Too Large
            return self._too_large()
        # h11 quotes the offending line, which a hostile server can make huge.
        return f"the server sent a response that breaks HTTP/1.1: {str(exc)[:200]}"

    def _too_large(self) -> str:
        return (
            f"the response head is larger than max_header_size ({self.max_header_size} "
            "bytes); pass a larger max_header_size= to the client if the server's headers "
            "are meant to be this large"
        )

    @property
    def reusable(self) -> bool:
        """True when the last request/response cycle ended cleanly, both sides keep the
        connection open (RFC 9112 §9.3) and the server sent nothing after the response;
        the connection is then ready for another request."""
        connection = self._h11
        if (
            connection.our_state is h11.DONE
            and connection.their_state is h11.DONE
            and not connection.trailing_data[0]
        ):
            connection.start_next_cycle()
            return True
        return False

    def _send(self, *events: h11.Request | h11.Data | h11.EndOfMessage) -> bytes:
        data = b""
        try:
            for event in events:
                data += self._h11.send(event) or b""
        except h11.LocalProtocolError as exc:
            # Not quoted: h11's message may hold a header value (a credential).
            raise TransportError(
                self.url, f"the request cannot be sent ({type(exc).__name__})"
            ) from exc
        return data


def _refused_request(method: str, target: str, fields: list[tuple[str, str]]) -> str:
    """Why h11 refused a request head, naming the field at fault but not its value."""
    for name, value in fields:
        probe = [(name, value)] if name.lower() == "host" else [("Host", "x"), (name, value)]
        try:
            h11.Request(method="GET", target="/", headers=probe)
        except h11.LocalProtocolError:
            if not _TOKEN.fullmatch(name):
                return (
                    "the request cannot be sent: a header field name is not an RFC 9110 "
                    "§5.1 token (it is not shown, nor its value)"
                )
            return (
                f"the request cannot be sent: the value of the {name!r} header field is not "
                "valid HTTP (RFC 9110 §5.5: no CR, LF or NUL, no leading or trailing "
                "whitespace); the value is not shown, as it may be a credential"
            )
    return f"the request cannot be sent: h11 refused the method {method!r} or the target"
