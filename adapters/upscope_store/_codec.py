"""Plain JSON for what a store keeps besides token records: registered clients, DPoP key
thumbprints, and the checks a record's fields pass on the way back in."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from sansio_upscope.oauth import RegisteredClient

__all__ = [
    "client_from_json",
    "client_to_json",
    "failure_from_json",
    "malformed",
    "need_key",
    "number_or_none",
    "text",
    "text_or_none",
    "thumbprint",
    "write_atomically",
]


def thumbprint(key: Any) -> str:
    """The RFC 7638 JWK thumbprint of a ``SigningKey``'s public half (SHA-256 of the
    required members, sorted, no whitespace), as RFC 9449 §6.1 ``jkt`` spells it."""
    jwk = key.public_jwk()
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def client_to_json(client: RegisteredClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
    }


def client_from_json(data: Any) -> RegisteredClient:
    """Raises ``ValueError``, ``TypeError`` or ``KeyError`` for a malformed record."""
    if not isinstance(data, dict):
        raise ValueError("a client record is not a JSON object")
    return RegisteredClient(
        client_id=text(data["client_id"]),
        client_secret=text_or_none(data["client_secret"]),
        token_endpoint_auth_method=text_or_none(data["token_endpoint_auth_method"]),
    )


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a text field is not a string")
    return value


def text_or_none(value: Any) -> str | None:
    return None if value is None else text(value)


def number_or_none(value: Any) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError("a time field is not a number")
    return value


def malformed(exc: Exception) -> str:
    """What is wrong with a record, without its values (a value may be a secret)."""
    if isinstance(exc, KeyError):
        return f"the field {exc} is missing"
    return "a field has the wrong type" if isinstance(exc, TypeError) else "a field is invalid"


def failure_from_json(data: Any) -> tuple[float, str, str]:
    """A failed token request's record: when, its error (type and message), and the
    need it was for (``need_key``). Raises ``ValueError``, ``TypeError`` or
    ``KeyError`` for a malformed one."""
    if not isinstance(data, dict):
        raise ValueError("a failure record is not a JSON object")
    failed_at = float(number_or_none(data["failed_at"]) or 0.0)
    return failed_at, text(data["error"]), text(data["need"])


def need_key(request: Any) -> str:
    """What a token request asked for, as text: two requests that fail alike ask for
    the same scopes and RFC 9470 authentication."""
    acr = " ".join(request.acr_values)
    return f"{' '.join(sorted(request.scopes))}|{acr}|{request.max_age}"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file (0600) beside it, fsynced, then
    ``os.replace``, so a reader sees the old or the new state, never a part. Raises
    ``OSError`` (the temporary file is removed)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # on disk before it replaces the old state
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
