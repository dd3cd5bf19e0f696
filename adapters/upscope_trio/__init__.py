"""Step-up authorization for trio: ``Client`` over h11, with keep-alive reuse.

::

    async with upscope_trio.Client(tokens) as client:
        response = await client.request("GET", "https://api.example/files")
"""

from _upscope_io import Response, TransportError

from ._client import Client

__all__ = ["Client", "Response", "TransportError"]
