"""Token stores: tokens, refresh tokens, registered clients and discovery results that
outlive a process, and one token request per (namespace, protected resource) across a
fleet.

* ``FileStore(path, *, namespace="default")``: one file, shared by every process on one
  machine (file lock, atomic replace, 0600).
* ``RedisStore(url, *, namespace="default")``: a fleet (the ``redis`` extra).
* ``TokenStore``: the interface, to keep tokens anywhere else.

Give one to any client: ``upscope_asyncio.Client(tokens, store=store)``,
``upscope_trio.Client(...)``, ``upscope_requests.UpscopeAuth(tokens, store=store)``.
``Flight`` is what the clients run in front of their token source.
"""

from ._file import FileStore
from ._flight import Flight
from ._protocol import (
    FleetTokenRequestError,
    Lease,
    StoreError,
    StoreFileError,
    StoreUnavailableError,
    StoreWaitTimeoutError,
    TokenStore,
)
from ._records import StoredToken
from ._redis import RedisStore

__all__ = [
    "FileStore",
    "FleetTokenRequestError",
    "Flight",
    "Lease",
    "RedisStore",
    "StoreError",
    "StoreFileError",
    "StoreUnavailableError",
    "StoreWaitTimeoutError",
    "StoredToken",
    "TokenStore",
]
