"""The single flight in front of a token source: one token request per (namespace,
protected resource) across every process that shares a store.

Theory of operation, for one ``RequestToken`` (the core already made it the only one of
its process for that resource: rule 5)::

    discovery results    -> the store's metadata names the protected resource (rule 11)
    kept token answers?  -> use it                 (no token request)
    take the lease       -> no: poll; a published token that answers -> use it;
                            the lease expired (holder died) -> one waiter takes it
    under the lease      -> kept token answers now? use it; else ask the token source
                            (refreshing with the kept refresh token: the fleet's newest)
    publish, release     -> the token is kept (refresh token included) before it is used,
                            with what discovery found (docs/stores.md)

A store that does not answer (``StoreUnavailableError``) is left alone for
``retry_after`` seconds: the process asks its token source itself, with one warning,
and rejoins when it answers. Async clients run each blocking step in a worker thread.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sansio_upscope import RequestToken, Token

from ._discovery import adopt_clients, keep, learn, leave
from ._protocol import Lease, StoreError, StoreUnavailableError, StoreWaitTimeoutError, TokenStore
from ._support import Health, LeaseKeeper, NarrowGrants, check_failure

__all__ = ["Flight"]

log = logging.getLogger("upscope_store")

#: What the store decided: a kept token, or go ahead (under a lease, or alone: None).
Claim = Token | tuple[Lease | None, RequestToken]


class Flight:
    """Puts ``store`` in front of a token source; one per client (it remembers whether
    the store answers). ``obtain_sync`` for sync clients, ``obtain_async`` for async ones.

    ``poll_interval``: how often a waiting worker looks for the published token.
    ``wait_seconds``: the longest a worker waits for another's token request (default:
    the store's own ``wait_seconds``, else 120: a person signing in, elsewhere).
    ``retry_after``: seconds a store that did not answer is left alone (default: the
    store's own ``retry_after``, else 5).
    """

    def __init__(
        self,
        store: TokenStore,
        *,
        poll_interval: float = 0.05,
        wait_seconds: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.store, self.poll_interval = store, poll_interval
        self.wait_seconds = wait_seconds or float(getattr(store, "wait_seconds", 120.0))
        self.retry_after = retry_after or float(getattr(store, "retry_after", 5.0))
        self._health, self._narrow = Health(store, self.retry_after), NarrowGrants()

    def obtain_sync(
        self, request: RequestToken, fetch: Callable[[RequestToken], Token], source: object = None
    ) -> Token:
        """A token answering ``request``: kept, published by another worker, or from
        ``fetch`` (the token source) under the lease. ``source`` is the token source
        itself, for what an OAuth flow must remember (where a refresh token goes).
        Raises what ``fetch`` raises, ``StoreWaitTimeoutError``, or a ``StoreError``
        for a store that is broken (not merely unavailable)."""
        claim = self._claim(request, source, threading.Event())
        if isinstance(claim, Token):
            return claim
        lease, request = claim
        try:
            with LeaseKeeper(self.store, lease):
                token = fetch(request)
        except BaseException as exc:
            self._release(lease, request, source, exc)
            raise
        return self._publish(lease, request, token, source)

    async def obtain_async(
        self,
        request: RequestToken,
        fetch: Callable[[RequestToken], Awaitable[Token]],
        run_in_thread: Callable[[Callable[[], Any]], Awaitable[Any]],
        source: object = None,
    ) -> Token:
        """``obtain_sync`` for async clients: the store's blocking calls run through
        ``run_in_thread`` (``asyncio.to_thread``, ``trio.to_thread.run_sync``), never on
        the event loop. Cancelled, it stops waiting and gives its lease back."""
        cancelled = threading.Event()
        try:
            claim: Claim = await run_in_thread(lambda: self._claim(request, source, cancelled))
        except BaseException:
            cancelled.set()  # the thread stops polling (and frees a lease it took late)
            raise
        if isinstance(claim, Token):
            return claim
        lease, request = claim
        try:
            with LeaseKeeper(self.store, lease):
                token = await fetch(request)
        except Exception as exc:
            await run_in_thread(functools.partial(self._release, lease, request, source, exc))
            raise
        except BaseException:
            self._release(lease)  # cancelled: nothing may be awaited; one short call
            raise
        published: Token = await run_in_thread(lambda: self._publish(lease, request, token, source))
        return published

    # -- the blocking steps, in a worker thread for async clients ------------------------
    def _claim(self, request: RequestToken, source: object, cancelled: threading.Event) -> Claim:
        adopt_clients(self.store, source)
        if not self._health.usable():
            return (None, request)
        store = self.store
        try:
            request = learn(store, request, source, time.time())
            resource = request.resource
            kept = store.load_token(resource)
            self._health.answered()
            if self._narrow.settles(kept, request, source):
                log.debug("kept token answers for %s", resource)
                return kept.remember(source)
            started, deadline = time.time(), time.monotonic() + self.wait_seconds
            while not cancelled.is_set():
                lease = store.take_lease(resource)
                if lease is not None:
                    return self._under_lease(lease, request, source, cancelled)
                if time.monotonic() >= deadline:
                    raise StoreWaitTimeoutError(self.wait_seconds, resource, store.namespace)
                time.sleep(self.poll_interval)
                kept = store.load_token(resource)
                if self._narrow.settles(kept, request, source):
                    log.debug("published token ends the wait for %s", resource)
                    return kept.remember(source)
                check_failure(store, request, started)  # the holder's, shared
        except StoreUnavailableError as exc:
            self._health.unavailable(exc)
        return (None, request)

    def _under_lease(
        self, lease: Lease, request: RequestToken, source: object, cancelled: threading.Event
    ) -> Claim:
        store = self.store
        try:
            kept = store.load_token(request.resource)
            settled = self._narrow.settles(kept, request, source)
            if cancelled.is_set() or settled:
                store.release_lease(lease)
                return kept.remember(source) if settled and kept else (None, request)
        except BaseException:
            self._release(lease)
            raise
        if kept is not None and kept.token.refresh_token:
            # The kept refresh token is the fleet's newest (another worker may have
            # rotated the one this process holds): refresh with it, if it can serve.
            kept.remember(source)
            request = request.with_current_token(kept.token)
        log.debug("lease %d taken for %s", lease.fence, request.resource)
        return (lease, request)

    def _publish(
        self, lease: Lease | None, request: RequestToken, token: Token, source: object
    ) -> Token:
        token = self._narrow.granted(request, token)  # scopes kept explicit
        if lease is None:
            return token
        try:
            keep(self.store, lease, request, token, source)
        except StoreUnavailableError as exc:
            self._health.unavailable(exc)
        finally:
            self._release(lease, request, source)
        return token

    def _release(self, lease: Lease | None, *found: Any) -> None:
        """Give ``lease`` back, after keeping what the source discovered under it (even
        if its token request failed: a migration is news to the fleet) and its error."""
        if lease is None:
            return
        try:
            if found:
                leave(self.store, lease, *found)
            self.store.release_lease(lease)
        except StoreUnavailableError as exc:
            self._health.unavailable(exc)  # the lease expires by itself
        except StoreError as exc:
            log.warning("could not release the lease for %s: %s", lease.resource, exc)
