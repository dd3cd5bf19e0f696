"""``FileStore``: the embedded store for one machine, shared by any number of processes.

One JSON file holds every namespace. Readers read it whole, without a lock: it only ever
changes by an atomic ``os.replace`` of a fully written, fsynced file, so a process killed
in the middle of a write leaves the previous state in place. Writers serialise on
``fcntl.flock`` of a lock file beside it (released by the kernel when a process dies).
The file is created 0600, its directory 0700: it holds refresh tokens and secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sansio_upscope.oauth import RegisteredClient

from ._codec import write_atomically
from ._discovery import DiscoveryRecordError, merge_discovery
from ._protocol import Lease, StoreFileError
from ._records import StoredToken, check_state, client_from_json, client_to_json, malformed

__all__ = ["FileStore"]

#: The first field of every store file: anything else is not ours, and is not touched.
FORMAT = "sansio-upscope token store"
VERSION = 1

State = dict[str, Any]


class FileStore:
    """Tokens, refresh tokens and registered clients in one file at ``path``, per
    ``namespace``. Safe to share between processes and threads on one machine.

    Raises ``StoreFileError`` naming the path when the file is corrupt, was written by
    something else, or cannot be read or written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = "default",
        lease_seconds: float = 10.0,
        wait_seconds: float = 120.0,
    ) -> None:
        self.path, self.namespace = Path(path).expanduser(), namespace
        self.lease_seconds, self.wait_seconds = lease_seconds, wait_seconds
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r}, namespace={self.namespace!r})"

    # -- TokenStore ---------------------------------------------------------------------

    def load_token(self, resource: str) -> StoredToken | None:
        data = self._space(self._read()).get("tokens", {}).get(resource)
        return None if data is None else StoredToken.from_json(data)

    def take_lease(self, resource: str) -> Lease | None:
        now = time.time()
        with self._writing() as state:
            leases = self._space(state, create=True).setdefault("leases", {})
            held = leases.get(resource)
            if held is not None and float(held["expires_at"]) > now:
                return None
            state["fence"] = fence = int(state.get("fence", 0)) + 1
            lease = Lease(
                resource=resource,
                fence=fence,
                expires_at=now + self.lease_seconds,
                holder=secrets.token_hex(16),
            )
            leases[resource] = {
                "fence": fence,
                "expires_at": lease.expires_at,
                "holder": lease.holder,
            }
            return lease

    def publish_token(self, lease: Lease, record: StoredToken) -> bool:
        with self._writing() as state:
            tokens = self._space(state, create=True).setdefault("tokens", {})
            kept = tokens.get(lease.resource)
            if kept is not None and int(kept["fence"]) > lease.fence:
                return False
            tokens[lease.resource] = {**record.to_json(), "fence": lease.fence}
            return True

    def renew_lease(self, lease: Lease) -> bool:
        with self._writing() as state:
            held = self._space(state, create=True).get("leases", {}).get(lease.resource)
            if held is None or held["holder"] != lease.holder:
                return False  # expired, and another worker took it
            held["expires_at"] = time.time() + self.lease_seconds
            return True

    def release_lease(self, lease: Lease) -> None:
        with self._writing() as state:
            leases = self._space(state, create=True).setdefault("leases", {})
            held = leases.get(lease.resource)
            if held is not None and held["holder"] == lease.holder:
                del leases[lease.resource]

    def publish_failure(self, lease: Lease, failure: Mapping[str, Any]) -> None:
        with self._writing() as state:
            failures = self._space(state, create=True).setdefault("failures", {})
            failures[lease.resource] = dict(failure)

    def load_failure(self, resource: str) -> Any:
        return self._space(self._read()).get("failures", {}).get(resource)

    # -- discovery results (RFC 9728, RFC 8414): public, kept for their lifetime -----

    def load_discovery(self) -> dict[str, Any]:
        return dict(self._space(self._read()).get("discovery", {}))

    def save_discovery(self, records: Mapping[str, Any]) -> None:
        with self._writing() as state:
            kept = self._space(state, create=True).setdefault("discovery", {})
            merge_discovery(kept, records, time.time())

    # -- ClientStore --------------------------------------------------------------------

    def get(self, issuer: str) -> RegisteredClient | None:
        data = self._space(self._read()).get("clients", {}).get(issuer)
        return None if data is None else client_from_json(data)

    def set(self, issuer: str, client: RegisteredClient) -> None:
        with self._writing() as state:
            clients = self._space(state, create=True).setdefault("clients", {})
            clients[issuer] = client_to_json(client)

    # -- the file -----------------------------------------------------------------------

    def _space(self, state: State, *, create: bool = False) -> dict[str, Any]:
        if create:
            return state.setdefault("namespaces", {}).setdefault(self.namespace, {})  # type: ignore[no-any-return]
        return state.get("namespaces", {}).get(self.namespace, {})  # type: ignore[no-any-return]

    def _read(self) -> State:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"format": FORMAT, "version": VERSION}
        except OSError as exc:
            raise StoreFileError(str(self.path), f"it cannot be read ({exc.strerror})") from None
        try:
            state = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise StoreFileError(str(self.path), "it is not JSON (corrupt?)") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise StoreFileError(str(self.path), "it is not a sansio-upscope token store")
        if state.get("version") != VERSION:
            raise StoreFileError(
                str(self.path), f"it has format version {state.get('version')!r}, not {VERSION}"
            )
        try:
            check_state(state)
        except DiscoveryRecordError as exc:  # public metadata: the problem may be quoted
            raise StoreFileError(str(self.path), str(exc)) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problem = f"a record is malformed: {malformed(exc)}"
            raise StoreFileError(str(self.path), problem) from None
        return state

    @contextlib.contextmanager
    def _writing(self) -> Iterator[State]:
        """The state under the lock; written back (atomically) when the block ends."""
        import fcntl  # POSIX; imported here so that the adapters import anywhere

        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreFileError(str(self.path), f"cannot create it ({exc.strerror})") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:  # a refused lease writes nothing
                self._replace(state)
        finally:
            os.close(lock)  # releases the flock

    def _replace(self, state: State) -> None:
        data = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        try:
            write_atomically(self.path, data)
        except OSError as exc:
            raise StoreFileError(str(self.path), f"cannot write it ({exc.strerror})") from None
