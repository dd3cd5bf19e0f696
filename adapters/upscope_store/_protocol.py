"""The interface every token store implements, and its errors.

A store is blocking code (the async clients call it in a worker thread). Implement it
to keep tokens anywhere: docs/stores.md shows a store over the MCP SDK's
``TokenStorage``.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from sansio_upscope.oauth import RegisteredClient

from ._records import StoredToken

__all__ = [
    "FleetTokenRequestError",
    "Lease",
    "StoreError",
    "StoreFileError",
    "StoreUnavailableError",
    "StoreWaitTimeoutError",
    "TokenStore",
]


@attrs.frozen(kw_only=True)
class Lease:
    """The right to make the one token request for (namespace, ``resource``), until
    ``expires_at``. ``fence`` grows with every lease: a store refuses a token published
    under a lease older than the one the stored token came with."""

    resource: str
    fence: int
    expires_at: float
    holder: str = attrs.field(repr=False)


class TokenStore(Protocol):
    """Where tokens, refresh tokens and registered clients outlive a process, and where
    a fleet makes one token request at a time per (namespace, protected resource).

    Every method blocks. ``StoreUnavailableError`` means "not now" (the server is down or
    slow): the clients then go on alone, as without a store, and try the store again
    later. Any other exception fails the token request it happened in.
    A store is also a ``sansio_upscope.oauth.ClientStore`` (``get``/``set``): an
    ``AuthorizationCode`` source with the default in-memory client store uses it.

    Optional, for discovery results (RFC 9728, RFC 8414 metadata; without them they stay
    in each process's memory): ``load_discovery() -> dict[str, Any]``, every record kept
    in this namespace by key, and ``save_discovery(records)``, keep these (plain JSON
    objects by key), replacing what is kept under the same keys. The clients validate
    what they read back and skip expired records (docs/stores.md).
    Optional too: ``publish_failure(lease, failure)`` and ``load_failure(resource)``
    (that JSON object, or None), so that workers waiting for a token request that failed
    fail with its error at once instead of each repeating it.
    """

    #: Isolates principals: nothing stored under one namespace is served to another.
    namespace: str
    #: How long a lease lasts unless renewed: how soon a waiter takes over from a holder
    #: that died. Optional, besides: ``renew_lease(lease) -> bool`` (a living holder
    #: keeps its lease: False once another took it), ``wait_seconds`` (how long a worker
    #: waits for another's token request) and ``retry_after`` (seconds a store that did
    #: not answer is left alone).
    lease_seconds: float

    def load_token(self, resource: str) -> StoredToken | None:
        """The token kept for ``resource`` in this namespace, or None."""
        ...

    def take_lease(self, resource: str) -> Lease | None:
        """The lease for ``resource`` if nobody holds an unexpired one, else None."""
        ...

    def publish_token(self, lease: Lease, record: StoredToken) -> bool:
        """Keep ``record`` for ``lease.resource`` (its ``fence`` set from the lease);
        False when a token published under a newer lease is kept already."""
        ...

    def release_lease(self, lease: Lease) -> None:
        """Give ``lease`` back (a no-op once it expired and another holder took it)."""
        ...

    def get(self, issuer: str) -> RegisteredClient | None:
        """The client registered at ``issuer`` (``ClientStore``), or None."""
        ...

    def set(self, issuer: str, client: RegisteredClient) -> None:
        """Keep the client registered at ``issuer`` (``ClientStore``)."""
        ...


class StoreError(Exception):
    """A token store failed. The message says what happened and what to do next; it
    never holds a token, a secret or a password."""


class StoreUnavailableError(StoreError):
    """The store cannot answer now (connection refused, timed out). Clients go on
    without it and try it again later."""


class StoreFileError(StoreError):
    """A ``FileStore`` file cannot be used: corrupt, written by something else, or not
    accessible. ``path`` names it."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(
            f"The token store file {path} cannot be used: {problem}. Move it away (a new "
            f"one is created) or pass FileStore another path."
        )


class StoreWaitTimeoutError(StoreError):
    """Another worker held the lease for a token request longer than the wait allows."""

    def __init__(self, waited: float, resource: str, namespace: str) -> None:
        self.resource = resource
        super().__init__(
            f"Waited {waited:g} s for another worker's token request for {resource} "
            f"(namespace {namespace!r}); its lease was held all that time. Raise "
            f"wait_seconds on the store if token requests take that long (a browser "
            f"sign-in), or look at that worker."
        )


class FleetTokenRequestError(StoreError):
    """The token request this worker waited for, another worker's, failed: the error is
    shared, not repeated by every waiter. ``error`` is its type and message."""

    def __init__(self, resource: str, namespace: str, error: str) -> None:
        self.resource, self.error = resource, error
        super().__init__(
            f"Another worker's token request for {resource} (namespace {namespace!r}), which "
            f"this one waited for, failed: {error}. It was not repeated here; the next "
            f"request asks again."
        )
