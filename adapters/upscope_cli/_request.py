"""``upscope request``: a curl-like call that steps up as the server asks.

The call runs on the asyncio adapter. The token source is OAuth client credentials, or
with ``--authorize`` the authorization code flow with PKCE through the system browser and
a loopback redirect; both discover their endpoints from the challenge. The client secret
comes from an environment variable or a prompt, never from the command line.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from sansio_upscope import Policy, StepUpError
from sansio_upscope.oauth import AuthorizationCode, ClientCredentials

from ._exit import EXIT_NETWORK, EXIT_OK, EXIT_REFUSED, UsageError
from ._trace import Trace, traced

__all__ = ["parse_header", "read_secret", "run_request"]

# RFC 9110 §5.1: field-name = token; §5.6.2 tchar.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; else ``UsageError``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as e:
        raise UsageError(f"bad URL {url!r}: {e}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"bad URL {url!r}: give an absolute http:// or https:// URL with a host, "
            "for example https://api.example/files"
        )
    return url


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` as a pair; ``UsageError`` when it is not a header field line."""
    name, colon, value = text.partition(":")
    if not colon or not _FIELD_NAME.fullmatch(name):
        raise UsageError(f"bad header {text!r}: write it as 'Name: value'")
    if name.lower() == "authorization":
        raise UsageError(
            "-H 'Authorization: ...' is not allowed: upscope obtains the token and sets "
            "Authorization itself"
        )
    if any(c in value for c in "\r\n\0"):
        raise UsageError(f"bad header {name!r}: CR, LF and NUL are not allowed in a value")
    return name, value.strip(" \t")


def read_data(data: str | None) -> bytes | None:
    """The request body from ``-d``: the text itself, or ``@path`` for a file's bytes."""
    if data is None:
        return None
    if data.startswith("@"):
        try:
            return Path(data[1:]).read_bytes()
        except OSError as e:
            raise UsageError(f"-d {data}: cannot read the file: {e.strerror}") from None
    return data.encode()


def read_secret(variable: str | None, client_id: str, stdin: TextIO) -> str | None:
    """The client secret: from ``variable`` in the environment, else from a prompt when
    stdin is a terminal, else none (a public client). Never from the command line:
    arguments are visible to every user of the machine."""
    if variable is not None:
        secret = os.environ.get(variable)
        if secret is None:
            raise UsageError(
                f"--client-secret-env {variable}: the environment variable {variable} is not set"
            )
        return secret
    if stdin.isatty():
        secret = getpass.getpass(f"Client secret for {client_id} (empty for none): ")
        return secret or None
    return None


def _network_error(error: BaseException | None) -> bool:
    from _upscope_io import TransportError

    while error is not None:
        if isinstance(error, TransportError | OSError):
            return True
        error = error.__cause__
    return False


async def _call(
    client: Any,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
) -> Any:
    async with client:
        return await client.request(method, url, headers=headers, content=body)


def run_request(
    *,
    url: str,
    method: str | None,
    data: str | None,
    headers: Sequence[str],
    client_id: str | None,
    client_secret_env: str | None,
    scopes: Sequence[str],
    authorize: bool,
    verbose: bool,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """The ``request`` command; returns the exit code (docs/cli.md)."""
    from _upscope_io import TransportError
    from upscope_asyncio import Client

    check_url(url)
    pairs = [parse_header(h) for h in headers]
    body = read_data(data)
    method = (method or ("POST" if body is not None else "GET")).upper()
    if client_id is None and not authorize:
        raise UsageError("--client-id is required without --authorize (client credentials)")
    secret = read_secret(client_secret_env, client_id, stdin) if client_id is not None else None
    source: ClientCredentials | AuthorizationCode
    if authorize:
        source = AuthorizationCode(client_id, client_secret=secret)
    else:
        assert client_id is not None
        source = ClientCredentials(client_id, secret)
    initial = frozenset(s for item in scopes for s in item.split())
    client = Client(source, policy=Policy(initial_scopes=initial))
    if verbose:
        client.upscopes = traced(client.upscopes, Trace(stderr))
    try:
        response = asyncio.run(_call(client, method, url, pairs, body))
    except StepUpError as e:
        stderr.write(f"upscope request: gave up: {type(e).__name__}: {e}\n")
        return EXIT_NETWORK if _network_error(e.__cause__) else EXIT_REFUSED
    except (TransportError, OSError) as e:
        stderr.write(f"upscope request: cannot reach {url}: {e}\n")
        return EXIT_NETWORK
    if verbose:
        stderr.write(f"HTTP {response.status_code}\n")
    _write_body(stdout, response.content)
    if response.status_code >= 400:
        stderr.write(f"upscope request: the server answered {response.status_code}\n")
        return EXIT_REFUSED
    return EXIT_OK


def _write_body(stdout: TextIO, content: bytes) -> None:
    buffer = getattr(stdout, "buffer", None)
    if buffer is not None and stdout is sys.stdout:
        stdout.flush()
        buffer.write(content)
        buffer.flush()
    else:
        stdout.write(content.decode("utf-8", "replace"))
