"""``RedisStore``: a store for a fleet of processes on many machines (redis-py).

Keys, per namespace (quoted, so no namespace can reach into another's keys)::

    upscope:<ns>:token:<resource>   the token record (JSON, with its fence)
    upscope:<ns>:lease:<resource>   "<fence>:<holder>", SET NX PX: the single flight
    upscope:<ns>:fence              INCR: the fencing values
    upscope:<ns>:clients            hash issuer -> registered client (JSON)
    upscope:<ns>:discovery          hash key -> discovery record (JSON, public metadata)
    upscope:<ns>:failure:<resource> the last failed token request (JSON), PX wait_seconds

Publishing, releasing, keeping discovery records: Lua scripts (atomic). Any Redis failure is
``StoreUnavailableError``: the clients work alone until Redis answers."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sansio_upscope.oauth import RegisteredClient

from ._discovery import decode_hash, discovery_arguments
from ._protocol import Lease, StoreError, StoreUnavailableError
from ._records import StoredToken, client_from_json, client_to_json, malformed
from ._scripts import DISCOVER, PUBLISH, RELEASE, RENEW, TAKE
from ._support import without_password

__all__ = ["RedisStore"]

log = logging.getLogger("upscope_store")


class RedisStore:
    """Tokens, refresh tokens and registered clients in Redis at ``url``, per
    ``namespace``, with a fleet-wide single flight per (namespace, protected resource).

    Nothing connects until the first use; ``timeout`` bounds every Redis call, so a slow
    or unreachable Redis costs a token request at most that long: the client then goes
    on alone, and tries Redis again after ``retry_after`` seconds. Needs the ``redis``
    extra: ``pip install 'sansio-upscope[redis]'``.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        lease_seconds: float = 10.0,
        wait_seconds: float = 120.0,
        timeout: float = 0.5,
        retry_after: float = 5.0,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise StoreError(
                "RedisStore needs redis-py: pip install 'sansio-upscope[redis]'"
            ) from None
        self.namespace, self._url = namespace, url
        self.lease_seconds, self.wait_seconds = lease_seconds, wait_seconds
        self.retry_after = retry_after
        timeouts = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        self._redis = redis.Redis.from_url(url, **timeouts)
        self._errors = (redis.RedisError, OSError)
        scripts = (TAKE, PUBLISH, RELEASE, RENEW, DISCOVER)
        self._take, self._publish, self._release, self._renew, self._discover = map(
            self._redis.register_script, scripts
        )
        self._clients: dict[str, RegisteredClient] = {}
        self._prefix = f"upscope:{quote(namespace, safe='')}:"

    def __repr__(self) -> str:
        return f"RedisStore({without_password(self._url)!r}, namespace={self.namespace!r})"

    def _key(self, kind: str, name: str = "") -> str:
        return self._prefix + kind + (":" + name if name else "")

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailableError(
                f"Redis at {without_password(self._url)} did not answer {what} "
                f"({type(exc).__name__}: {exc}); going on without the store until it answers"
            ) from None

    # -- TokenStore ---------------------------------------------------------------------

    def load_token(self, resource: str) -> StoredToken | None:
        raw = self._call("a token read", self._redis.get, self._key("token", resource))
        if raw is None:
            return None
        try:
            return StoredToken.from_json(json.loads(raw))
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(
                f"The token kept in Redis for {resource} (namespace {self.namespace!r}) is "
                f"malformed ({malformed(exc)}); delete the key {self._key('token', resource)!r}"
            ) from None

    def take_lease(self, resource: str) -> Lease | None:
        holder = secrets.token_hex(16)
        milliseconds = max(1, int(self.lease_seconds * 1000))
        keys = [self._key("lease", resource), self._key("fence")]
        fence = int(self._call("a lease", self._take, keys=keys, args=[holder, milliseconds]))
        if not fence:
            return None
        expires_at = time.time() + self.lease_seconds
        return Lease(resource=resource, fence=fence, expires_at=expires_at, holder=holder)

    def publish_token(self, lease: Lease, record: StoredToken) -> bool:
        token = record.token
        # Without a refresh token, the record is worthless once the token expires.
        expiry = (
            str(int(token.expires_at * 1000))
            if token.expires_at is not None and not token.refresh_token
            else ""
        )
        document = json.dumps({**record.to_json(), "fence": lease.fence})
        kept = self._call(
            "a token write",
            self._publish,
            keys=[self._key("token", lease.resource)],
            args=[lease.fence, document, expiry],
        )
        return bool(kept)

    def renew_lease(self, lease: Lease) -> bool:
        milliseconds = max(1, int(self.lease_seconds * 1000))
        value = f"{lease.fence}:{lease.holder}"
        keys = [self._key("lease", lease.resource)]
        return bool(
            self._call("a lease renewal", self._renew, keys=keys, args=[value, milliseconds])
        )

    def release_lease(self, lease: Lease) -> None:
        self._call(
            "a lease release",
            self._release,
            keys=[self._key("lease", lease.resource)],
            args=[f"{lease.fence}:{lease.holder}"],
        )

    def publish_failure(self, lease: Lease, failure: Mapping[str, Any]) -> None:
        document = json.dumps(dict(failure))
        key, milliseconds = self._key("failure", lease.resource), int(self.wait_seconds * 1000)
        self._call("a failure write", self._redis.set, key, document, px=max(1, milliseconds))

    def load_failure(self, resource: str) -> Any:
        raw = self._call("a failure read", self._redis.get, self._key("failure", resource))
        return None if raw is None else json.loads(raw)

    def load_discovery(self) -> dict[str, Any]:
        key = self._key("discovery")
        raw = self._call("a discovery read", self._redis.hgetall, key)
        return decode_hash(raw, key, self.namespace)

    def save_discovery(self, records: Mapping[str, Any]) -> None:
        keys, arguments = [self._key("discovery")], discovery_arguments(records, time.time())
        self._call("a discovery write", self._discover, keys=keys, args=arguments)

    # -- ClientStore: inside an OAuth flow, which must not fail for Redis (memory serves) --

    def get(self, issuer: str) -> RegisteredClient | None:
        if issuer not in self._clients:  # one Redis read per issuer (on the event loop)
            try:
                raw = self._call("a client read", self._redis.hget, self._key("clients"), issuer)
            except StoreUnavailableError as exc:
                log.warning("%s", exc)
                return None
            if raw is None:
                return None
            try:
                self._clients[issuer] = client_from_json(json.loads(raw))
            except (ValueError, TypeError, KeyError) as exc:
                raise StoreError(
                    f"The client kept in Redis for {issuer} (namespace {self.namespace!r}) is "
                    f"malformed ({malformed(exc)}); delete it from the hash "
                    f"{self._key('clients')!r}"
                ) from None
        return self._clients[issuer]

    def set(self, issuer: str, client: RegisteredClient) -> None:
        self._clients[issuer] = client
        document = json.dumps(client_to_json(client))
        try:
            self._call("a client write", self._redis.hset, self._key("clients"), issuer, document)
        except StoreUnavailableError as exc:
            log.warning("%s", exc)

    def close(self) -> None:  # the connections to Redis
        self._redis.close()
