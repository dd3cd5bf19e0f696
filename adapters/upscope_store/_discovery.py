"""Discovery results in a store: RFC 9728 protected resource metadata, RFC 8414
authorization server metadata, origins that publish none (MCP 2025-03-26), and the
authorization server a configured client is bound to (SEP-2352), as the records
``TokenSource.discovery_records`` makes. All public: nothing here is a secret. Also what
a token request leaves in the store (``keep``, ``leave``): its token, under the protected
resource its metadata named, and its failure; and where an ``AuthorizationCode`` source
keeps registered clients (``adopt_clients``)."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from sansio_upscope import RequestToken, Token
from sansio_upscope._urls import covers
from sansio_upscope.oauth import (
    AuthorizationCode,
    ClientCredentials,
    InMemoryClientStore,
    TokenSource,
)
from sansio_upscope.oauth._sources import CLIENT_KEY

from ._records import StoredToken
from ._support import share_failure

if TYPE_CHECKING:
    from ._protocol import Lease

log = logging.getLogger("upscope_store")

#: Sources already warned about keeping their clients in another store (once each).
_warned: weakref.WeakSet[object] = weakref.WeakSet()

__all__ = [
    "DiscoveryRecordError",
    "adopt_clients",
    "check_discovery",
    "decode_hash",
    "discovery_arguments",
    "keep",
    "learn",
    "leave",
    "merge_discovery",
    "newer_discovery",
    "save",
]


class DiscoveryRecordError(ValueError):
    """A kept discovery record is malformed, or under a key it does not belong to. The
    message names the key and the problem (public metadata: nothing secret)."""


def check_discovery(records: Any, namespace: str) -> None:
    """Raises ``DiscoveryRecordError`` naming the key of a discovery record that is
    malformed or kept under a key it does not belong to (``learn_discovery`` validates
    each as when it was fetched)."""
    try:
        if not isinstance(records, dict):
            raise ValueError("the discovery records are not a JSON object")
        ClientCredentials("-").learn_discovery(records, now=0.0)
    except ValueError as exc:
        raise DiscoveryRecordError(f"in namespace {namespace!r}, {exc}") from None


def newer_discovery(key: str, record: Any, kept: Any) -> bool:
    """Does ``record`` replace ``kept`` under ``key``? The newer fetch wins (a refetch
    after an authorization server migration replaces what is kept); a configured
    client's first authorization server (SEP-2352) is never replaced."""
    if kept is None:
        return True
    if key.startswith(CLIENT_KEY):
        return False
    before = kept.get("fetched_at") if isinstance(kept, dict) else None
    return not isinstance(before, (int, float)) or (record.get("fetched_at") or 0.0) >= before


def merge_discovery(kept: dict[str, Any], records: Mapping[str, Any], now: float) -> None:
    """Put ``records`` into ``kept`` (``newer_discovery``); drop what has expired."""
    for key, record in records.items():
        if newer_discovery(key, record, kept.get(key)):
            kept[key] = record
    for key, record in list(kept.items()):
        until = record.get("expires_at")
        if isinstance(until, (int, float)) and until <= now:
            del kept[key]


def discovery_arguments(records: Mapping[str, Any], now: float) -> list[object]:
    """The ARGV of the ``DISCOVER`` script: now, then (key, record JSON, fetched_at,
    keep-first) per record."""
    import json

    arguments: list[object] = [now]
    for key, record in records.items():
        first = "1" if key.startswith(CLIENT_KEY) else "0"
        arguments += [key, json.dumps(record), record.get("fetched_at") or 0.0, first]
    return arguments


def decode_hash(raw: dict[bytes, bytes], key: str, namespace: str) -> dict[str, Any]:
    """The records of a Redis hash of discovery records, checked (``check_discovery``).
    Raises ``StoreError`` naming the hash and the record's key."""
    import json

    from ._protocol import StoreError  # (it imports the records, which import this)

    try:
        records = {field.decode(): json.loads(value) for field, value in raw.items()}
        check_discovery(records, namespace)
    except ValueError as exc:  # public metadata: the problem may be quoted
        problem = exc if isinstance(exc, DiscoveryRecordError) else "a record is not JSON"
        raise StoreError(
            f"A discovery record kept in Redis cannot be used: {problem}; delete it from "
            f"the hash {key!r}"
        ) from None
    return records


def learn(store: object, request: RequestToken, source: object, now: float) -> RequestToken:
    """Before a kept token is looked up: give an OAuth ``source`` the discovery results
    ``store`` keeps, then name the request's protected resource as its metadata does
    (rule 11), so every URL under it finds one kept token. The metadata is used only
    when the challenge named no other metadata URL (RFC 9728 §5.2).
    Raises ``StoreError`` for a record that cannot be used, naming its key."""
    if not isinstance(source, TokenSource):
        return request
    load = getattr(store, "load_discovery", None)
    if load is not None:
        try:
            source.learn_discovery(load(), now=now)
        except ValueError as exc:
            from ._protocol import StoreError

            raise StoreError(f"The token store {store!r} keeps {exc}; delete it there") from None
    resource = source.protected_resource(
        request.resource, now=now, resource_metadata=request.resource_metadata
    )
    if resource is None or resource == request.resource:
        return request
    return attrs.evolve(request, resource=resource)


def save(store: object, request: RequestToken, source: object, since: float) -> None:
    """After a token request: keep what ``source`` discovered for it since ``since``."""
    keep = getattr(store, "save_discovery", None)
    if keep is not None and isinstance(source, TokenSource):
        records = source.discovery_records(request.resource, since=since)
        if records:
            keep(records)


def keep(store: Any, lease: Lease, request: RequestToken, token: Token, source: object) -> None:
    """Publish ``token`` under ``lease``, and under the protected resource its metadata
    named when that covers the resource asked for (rule 11): every URL under it finds
    the token there (``learn``), whatever URL this request called."""
    record = StoredToken.obtained(token, request, source, now=time.time())
    if not store.publish_token(lease, record):
        log.info("a newer token for %s was kept already; not replaced", request.resource)
    named = token.resource
    if named is not None and named != lease.resource and covers(named, lease.resource):
        store.publish_token(attrs.evolve(lease, resource=named), record)


def adopt_clients(store: Any, source: object) -> None:
    """Registered clients go to ``store`` too: an ``AuthorizationCode`` source that
    keeps them in its default ``InMemoryClientStore`` gets ``store`` instead (with what
    it registered so far). A ``client_store`` the application chose is left alone."""
    if not isinstance(source, AuthorizationCode) or source.client_store is store:
        return
    held = source.client_store
    if type(held) is not InMemoryClientStore:
        if hasattr(held, "load_token") and source not in _warned:  # two stores, one source
            _warned.add(source)
            log.warning("%r keeps its registered clients in %r, not %r", source, held, store)
        return
    for issuer, client in list(held._clients.items()):
        store.set(issuer, client)
    source.client_store = store


def leave(
    store: Any, lease: Lease, request: RequestToken, source: object, error: object = None
) -> None:
    """Before ``lease`` is given back: keep what ``source`` discovered under it (even if
    its token request failed: a migration is news to the fleet), and share its error."""
    save(store, request, source, since=lease.expires_at - float(store.lease_seconds))
    share_failure(store, lease, request, error)
