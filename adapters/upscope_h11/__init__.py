"""HTTP/1.1 glue shared by the asyncio and trio adapters, written once.

h11 does the protocol; this package adds what both adapters need on top of it, with no
event loop imported: the request bytes and response events of one connection
(``Http11``), a bounded keep-alive pool and a streaming ``Response`` over any async byte
stream (``ConnectionPool``), the ``TransportError`` both adapters raise, and the one
place that runs a token source (``obtain_token``). Each adapter supplies the sockets and
its own primitives (semaphores, events).
"""

from ._client import AsyncClient, Framework, Headers, with_authorization
from ._errors import TransportError
from ._http11 import DEFAULT_MAX_HEADER_SIZE, Http11, Origin, ResponseHead, request_target
from ._pool import ByteStream, Connection, ConnectionPool, Content, Response, Slots
from ._sockets import socket_is_readable
from ._tokens import AsyncTokenSource, is_oauth_source, obtain_token

__all__ = [
    "DEFAULT_MAX_HEADER_SIZE",
    "AsyncClient",
    "AsyncTokenSource",
    "ByteStream",
    "Connection",
    "ConnectionPool",
    "Content",
    "Framework",
    "Headers",
    "Http11",
    "Origin",
    "Response",
    "ResponseHead",
    "Slots",
    "TransportError",
    "is_oauth_source",
    "obtain_token",
    "request_target",
    "socket_is_readable",
    "with_authorization",
]
