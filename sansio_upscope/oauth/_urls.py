"""URL rules: well-known discovery URLs and which URLs may be used at all."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from .._urls import origin
from ._errors import InsecureEndpointError, MetadataError

__all__ = [
    "authorization_server_metadata_urls",
    "check_url",
    "is_loopback",
    "protected_resource_metadata_urls",
]

# RFC 3986 §2: the characters a URI may hold (unreserved, reserved, "%"). Anything else
# (a backslash, SP, a control character, non-ASCII) is read differently by different
# parsers: urllib.parse takes "http://evil\\@127.0.0.1/" to be 127.0.0.1, urllib3 goes to
# "evil". Such a URL is refused, never "cleaned".
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")

_PRM = "/.well-known/oauth-protected-resource"
_OAUTH = "/.well-known/oauth-authorization-server"
_OIDC = "/.well-known/openid-configuration"


def is_loopback(host: str | None) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (RFC 8252 §7.3, §8.3)."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> MetadataError | None:
    """The error that forbids using ``url`` as ``what``, or None when it may be used.

    OAuth endpoints need TLS (RFC 6749 §3.1, §3.2; RFC 8414 §2; RFC 9728 §3), and an
    unknown server's URLs must not steer us to plain http (RFC 9728 §7.7): http is
    accepted only for loopback hosts, where it never leaves the machine.
    """
    if not _URI_CHARS.fullmatch(url):
        return MetadataError(
            f"The {what} {url!r} holds characters a URI may not (RFC 3986 §2), which HTTP "
            "clients read differently; it is not used",
            url=url,
        )
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return MetadataError(
            f"The {what} {url!r} is not an absolute http(s) URL",
            url=url,
        )
    if "@" in parts.netloc:
        # RFC 3986 §3.2.1 userinfo has no place in an OAuth endpoint, and "user@host"
        # is the classic way to make a URL look like it names another host.
        return MetadataError(
            f"The {what} {url!r} carries userinfo before its host; it is not used",
            url=url,
        )
    if "#" in url:
        # RFC 6749 §3.1, §3.2: an endpoint URI "MUST NOT include a fragment component"
        # (RFC 8707 §2 and RFC 9728 §1.2 say the same of resource identifiers).
        return MetadataError(
            f"The {what} {_without_fragment(url)!r}#... has a fragment, which OAuth "
            "endpoint and resource URLs may not have (RFC 6749 §3.1); it is not used",
            url=_without_fragment(url),
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return InsecureEndpointError(
            f"Refusing the {what} {url!r}: plain http to a non-loopback host would expose "
            f"credentials and allow request forgery",
            url=url,
        )
    return None


def _without_fragment(url: str) -> str:
    return url.partition("#")[0]


def _insert(url: str, well_known: str) -> str:
    # RFC 9728 §3.1 / RFC 8414 §3.1: the well-known suffix goes between the host and the
    # path; "a terminating slash after the host component" is removed first.
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, well_known + path, parts.query, ""))


def protected_resource_metadata_urls(resource: str) -> list[tuple[str, tuple[str, ...]]]:
    """Where to look for RFC 9728 metadata when the challenge gave no URL, in MCP order:
    path-inserted, then the root. Each with the ``resource`` values it may declare
    (RFC 9728 §3.3: identical to the identifier the URL was built from).
    """
    inserted = _insert(resource, _PRM)
    root = origin(resource).serialized
    urls: list[tuple[str, tuple[str, ...]]] = [(inserted, (resource,))]
    if root + _PRM != inserted:
        urls.append((root + _PRM, (root, root + "/")))
    return urls


def authorization_server_metadata_urls(issuer: str) -> list[str]:
    """Where to look for the issuer's metadata, in MCP order (RFC 8414 §3.1, OIDC
    Discovery §4): with a path, OAuth path-insert, OIDC path-insert, OIDC path-append;
    without one, OAuth then OIDC.
    """
    parts = urlsplit(issuer)
    if parts.path.strip("/"):
        appended = urlunsplit(
            (parts.scheme, parts.netloc, parts.path.rstrip("/") + _OIDC, parts.query, "")
        )
        return [_insert(issuer, _OAUTH), _insert(issuer, _OIDC), appended]
    return [_insert(issuer, _OAUTH), _insert(issuer, _OIDC)]
