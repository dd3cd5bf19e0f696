"""URLs as the whole library sees them: the origin a URL belongs to, and how a URL is
shown in a message, a repr or a log line. The core, the OAuth flows and the I/O layer
all use these two, so an origin compares the same everywhere and no query string (an
API key, a signature) or userinfo (a password) ever reaches a message.
"""

from __future__ import annotations

import functools
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from ._errors import LocalProtocolError

__all__ = ["Origin", "covers", "display_url", "origin", "resource_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """Scheme, host and port of an http(s) URL (RFC 6454 §4): lower-cased, the default
    port filled in. The unit a token is bound to (rule 10) and a connection is reused in."""

    scheme: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        """``host[:port]``, the port only when it is not the scheme's default; an IPv6
        address in brackets. Also the ``Host`` field value (RFC 9110 §7.2)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    @property
    def serialized(self) -> str:
        """``scheme://host[:port]`` (RFC 6454 §6.2), with no trailing slash."""
        return f"{self.scheme}://{self.authority}"


@functools.lru_cache(maxsize=1024)  # an application calls the same few URLs again and again
def origin(url: str) -> Origin:
    """The origin of an absolute http(s) URL.

    Raises ``LocalProtocolError`` for anything else (another scheme, no host, a port
    that is not a number): such a URL was never meant to carry a token.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise LocalProtocolError(f"{display_url(url)!r} is not an absolute http or https URL")
    try:
        port = parts.port
    except ValueError:
        raise LocalProtocolError(f"{display_url(url)!r} has an invalid port") from None
    return Origin(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])


def resource_of(url: str) -> str:
    """The RFC 8707 resource indicator of a request URL: no query, no fragment (§2), no
    userinfo; scheme and host lower-cased."""
    return _bare(urlsplit(url))


#: Path segments that HTTP clients and servers may resolve away (RFC 3986 §5.2.4), so a
#: URL textually under a resource may reach a path outside it: "/api/../admin".
_DOT_SEGMENTS = frozenset({".", "..", "%2e", "%2e%2e", ".%2e", "%2e."})


@functools.lru_cache(maxsize=1024)  # asked for every request that carries such a token
def covers(resource: str, url: str) -> bool:
    """Is ``url`` part of the protected resource ``resource``?

    Yes when both have the same origin and the resource's path is a prefix of the
    URL's path on a segment boundary: ``https://h/api`` covers ``https://h/api`` and
    ``https://h/api/files/1``, not ``https://h/apix``; ``https://h`` and ``https://h/``
    cover every URL of the origin. Paths compare code point by code point (RFC 9728
    §6); queries are not compared. A URL with a dot segment is covered by nothing
    narrower than its origin. Anything that is not an http(s) URL is covered by nothing.
    """
    try:
        if origin(resource) != origin(url):
            return False
    except LocalProtocolError:
        return False
    prefix = urlsplit(resource).path.rstrip("/")
    if not prefix:
        return True
    path = urlsplit(url).path
    if any(segment.lower() in _DOT_SEGMENTS for segment in path.split("/")):
        return False
    return path == prefix or path.startswith(prefix + "/")


def display_url(url: str) -> str:
    """``url`` as messages, reprs and logs show it: scheme, host, port and path, then
    ``?...`` when there was a query. The query (it may carry an API key or a signature),
    the fragment and any userinfo are left out (rule 9)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "<an invalid URL>"
    return _bare(parts) + "?..." if parts.query else _bare(parts)


def _bare(parts: SplitResult) -> str:
    host = parts.netloc.rpartition("@")[2].lower()
    return f"{parts.scheme.lower()}://{host}{parts.path}"
