"""Internal: the I/O glue the user-facing adapters share. Not a public API.

Nothing here makes a protocol decision (those are the core's, ``sansio_upscope``). It
holds what the adapters would otherwise write twice: the h11 connection state
(``Http11``), a bounded keep-alive pool with streaming responses (``ConnectionPool``),
the action loop of the asyncio and trio clients (``AsyncClient``), the OAuth drivers that
run a ``sansio_upscope.oauth`` flow over an adapter's HTTP (``drive_sync``,
``drive_async``), and the loopback receiver that catches an authorization redirect
(``LoopbackReceiver``, RFC 8252). Imports run one way: adapters -> here -> the core.

The httpx and httpx2 flows (``_upscope_io._httpx``, with ``_httpx_messages``,
``_httpx_tokens`` and ``_waiting``) are imported by ``upscope_httpx`` and
``upscope_httpx2`` only, not from here: they need ``anyio``, which httpx brings.
"""

from ._client import AsyncClient, Framework, Headers, with_authorization
from ._drive import MAX_OAUTH_RESPONSE, drive_async, drive_sync
from ._errors import TransportError
from ._http11 import DEFAULT_MAX_HEADER_SIZE, Http11, Origin, ResponseHead
from ._loopback import LoopbackReceiver
from ._pool import ByteStream, Connection, ConnectionPool, Content, Response
from ._slots import Slots
from ._sockets import readable_probe
from ._tokens import AsyncTokenSource, obtain_token

__all__ = [
    "DEFAULT_MAX_HEADER_SIZE",
    "MAX_OAUTH_RESPONSE",
    "AsyncClient",
    "AsyncTokenSource",
    "ByteStream",
    "Connection",
    "ConnectionPool",
    "Content",
    "Framework",
    "Headers",
    "Http11",
    "LoopbackReceiver",
    "Origin",
    "Response",
    "ResponseHead",
    "Slots",
    "TransportError",
    "drive_async",
    "drive_sync",
    "obtain_token",
    "readable_probe",
    "with_authorization",
]
