"""Small things the stores share: is the store answering, keeping a lease while a token
request runs, and URLs without passwords."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

import attrs

from sansio_upscope import Token

from ._codec import failure_from_json, need_key
from ._protocol import FleetTokenRequestError, Lease, StoreError, StoreUnavailableError
from ._records import StoredToken

__all__ = [
    "Health",
    "LeaseKeeper",
    "NarrowGrants",
    "check_failure",
    "share_failure",
    "without_password",
]

log = logging.getLogger("upscope_store")


class Health:
    """Whether a store answers, as one client saw it: after ``unavailable()`` it is left
    alone for ``retry_after`` seconds (one warning), then tried again; ``answered()``
    rejoins it (one warning that it is back)."""

    def __init__(self, store: object, retry_after: float) -> None:
        self._store = store
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._down_until: float | None = None

    def usable(self) -> bool:
        with self._lock:
            return self._down_until is None or time.monotonic() >= self._down_until

    def unavailable(self, error: StoreUnavailableError) -> None:
        with self._lock:
            first = self._down_until is None
            self._down_until = time.monotonic() + self._retry_after
        if first:
            log.warning(
                "token store %r unavailable, going on alone (tried again every %g s): %s",
                self._store,
                self._retry_after,
                error,
            )

    def answered(self) -> None:
        with self._lock:
            was_down, self._down_until = self._down_until is not None, None
        if was_down:
            log.warning("token store %r answers again; using it", self._store)


def without_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (never in a repr or a message)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


class LeaseKeeper:
    """Renews ``lease`` every third of ``store.lease_seconds`` from a daemon thread, while
    the token request under it runs (``with LeaseKeeper(store, lease):``): a holder that
    lives keeps its lease however long a sign-in takes; one that dies loses it within
    ``lease_seconds``. A store without ``renew_lease`` is left alone. Thread, not task,
    so it serves asyncio, trio and sync clients alike; leaving the block never blocks."""

    def __init__(self, store: object, lease: Lease | None) -> None:
        self._renew = getattr(store, "renew_lease", None) if lease is not None else None
        self._lease = lease
        self._interval = float(getattr(store, "lease_seconds", 30.0)) / 3
        self._done = threading.Event()

    def __enter__(self) -> None:
        if self._renew is not None:
            threading.Thread(target=self._run, name="upscope-lease", daemon=True).start()

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()

    def _run(self) -> None:
        assert self._renew is not None and self._lease is not None
        while not self._done.wait(self._interval):
            try:
                if not self._renew(self._lease):
                    if not self._done.is_set():  # (released meanwhile: not lost)
                        log.warning("lost the lease for %s", self._lease.resource)
                    return
            except StoreError as exc:
                log.debug("could not renew the lease for %s: %s", self._lease.resource, exc)


def share_failure(store: object, lease: Lease, request: Any, error: object) -> None:
    """Tell the workers waiting for ``lease``'s token request that it failed (a store
    without ``publish_failure`` lets each try in turn). Messages hold no secret (every
    error of this library's says so), so the type and message are shared."""
    publish = getattr(store, "publish_failure", None)
    if publish is not None and isinstance(error, Exception):
        message, need = f"{type(error).__name__}: {error}", need_key(request)
        publish(lease, {"failed_at": time.time(), "error": message, "need": need})


def check_failure(store: Any, request: Any, since: float) -> None:
    """Raises ``FleetTokenRequestError`` when the token request this worker waited for
    (since ``since``), for the same need, failed; ``StoreError`` for a malformed record
    (``StoreFileError`` from a ``FileStore``, naming its file)."""
    load, resource = getattr(store, "load_failure", None), request.resource
    try:
        kept = None if load is None else load(resource)
        failure = None if kept is None else failure_from_json(kept)
    except (ValueError, TypeError, KeyError):
        raise StoreError(
            f"The failed token request kept in {store!r} for {resource} is malformed; "
            f"delete it there"
        ) from None
    if failure is not None and failure[0] >= since and failure[2] == need_key(request):
        raise FleetTokenRequestError(resource, store.namespace, failure[1])


class NarrowGrants:
    """Whether a kept token settles a request (``StoredToken.settles``), remembering the
    narrower grants (RFC 6749 §3.3) this client got, by (resource, scopes). The core
    asks for scopes it was refused only after ``Upscope.forget()``: the same ask again
    means "ask the authorization server again", so a kept narrow token no longer settles
    it (another worker's copy would otherwise answer until it expires)."""

    def __init__(self) -> None:
        self._served: set[tuple[str, frozenset[str]]] = set()

    def settles(
        self, kept: StoredToken | None, request: Any, source: object
    ) -> TypeGuard[StoredToken]:
        now = time.time()
        if kept is None or not kept.settles(request, now, source):
            return False
        if kept.answers(request, now):
            return True
        key = (request.resource, request.scopes)
        if key in self._served:
            return False  # asked again, after forget(): the authorization server decides
        self._remember(key)
        return True

    def granted(self, request: Any, token: Token) -> Token:
        """``token`` with its granted scopes explicit (RFC 6749 §5.1); a narrower grant
        than ``request`` asked is remembered as one served, a full one forgets it."""
        token = attrs.evolve(token, scopes=request.granted_by(token))
        key = (request.resource, request.scopes)
        if request.scopes <= (token.scopes or frozenset()):
            self._served.discard(key)
        else:
            self._remember(key)
        return token

    def _remember(self, key: tuple[str, frozenset[str]]) -> None:
        if len(self._served) >= 1024:
            self._served.clear()  # bounded: forgetting one costs a token request at most
        self._served.add(key)
