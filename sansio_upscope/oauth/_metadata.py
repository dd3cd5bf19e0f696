"""Metadata documents: RFC 9728 protected resource metadata, RFC 8414 authorization
server metadata (and OpenID Connect Discovery, which shares the members we use).

Parsing raises ``OAuthError`` subclasses; the flow turns them into ``Failed``.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from .._scopes import parse_scope
from .._urls import covers
from ._errors import InvalidResponseError, MetadataError
from ._messages import HttpResponse
from ._urls import check_url

__all__ = [
    "DEFAULT_METADATA_LIFETIME",
    "MAX_METADATA_LIFETIME",
    "MIN_METADATA_LIFETIME",
    "AuthorizationServerMetadata",
    "ProtectedResourceMetadata",
    "json_object",
    "metadata_lifetime",
]

#: How long discovery results are used, in seconds, when the response gives no
#: ``Cache-Control: max-age``; a ``max-age`` is bounded to [MIN, MAX]: a server cannot
#: make every token request fetch its metadata again, nor keep it for days.
DEFAULT_METADATA_LIFETIME = 3600.0
MIN_METADATA_LIFETIME = 60.0
MAX_METADATA_LIFETIME = 86400.0


def metadata_lifetime(response: HttpResponse) -> float:
    """Seconds a metadata response stays usable: its RFC 9111 §5.2.2.1 ``max-age``,
    bounded; the least for ``no-cache`` or ``no-store`` (§5.2.2.4, §5.2.2.5: the server
    wants it asked again); else ``DEFAULT_METADATA_LIFETIME``."""
    lifetime = DEFAULT_METADATA_LIFETIME
    for directive in (response.header("cache-control") or "").split(","):
        name, _, value = directive.strip().partition("=")
        name = name.lower()
        if name in ("no-cache", "no-store"):
            return MIN_METADATA_LIFETIME
        if name == "max-age" and value.strip('"').isdigit():
            lifetime = min(
                max(float(value.strip('"')), MIN_METADATA_LIFETIME), MAX_METADATA_LIFETIME
            )
    return lifetime


def _dated(now: float | None, response: HttpResponse) -> dict[str, float | None]:
    if now is None:
        return {"fetched_at": None, "expires_at": None}
    return {"fetched_at": now, "expires_at": now + metadata_lifetime(response)}


def _time(record: dict[str, Any], name: str) -> float | None:
    value = record.get(name)
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise ValueError(f"{name} is not a number")


def _record_document(record: Any) -> tuple[dict[str, Any], str, dict[str, float | None]]:
    """A kept record's parts: the metadata document, where it was fetched, its times.
    Raises ``ValueError`` when it is not a record ``to_record`` wrote."""
    if not isinstance(record, dict) or not isinstance(record.get("document"), dict):
        raise ValueError("it is not a JSON object with a metadata document")
    url = record.get("url")
    if not isinstance(url, str):
        raise ValueError("its url is not a string")
    times = {name: _time(record, name) for name in ("fetched_at", "expires_at")}
    return record["document"], url, times


def _document(instance: Any, skip: tuple[str, ...]) -> dict[str, Any]:
    """The metadata as the RFC's JSON members (what ``from_response`` accepts again)."""
    document: dict[str, Any] = {}
    for field in attrs.fields(type(instance)):
        value = getattr(instance, field.name)
        if field.name in skip or value is None or value is False:
            continue
        document[field.name] = (
            sorted(value)
            if isinstance(value, frozenset)
            else (list(value) if isinstance(value, tuple) else value)
        )
    return document


def json_object(response: HttpResponse, what: str, url: str) -> dict[str, Any]:
    """The response body as a JSON object, or ``InvalidResponseError``.

    The message gives the status, content type and size, never the body (a token
    response body holds tokens).
    """
    content_type = response.header("content-type") or "no content type"
    try:
        document = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "msg", "not UTF-8")
        raise InvalidResponseError(
            f"The {what} is not JSON ({reason}; {content_type}, {len(response.body)} bytes)",
            status_code=response.status_code,
            url=url,
        ) from None
    if not isinstance(document, dict):
        raise InvalidResponseError(
            f"The {what} is JSON but not an object ({type(document).__name__})",
            status_code=response.status_code,
            url=url,
        )
    return document


def _string(document: dict[str, Any], name: str, what: str, url: str) -> str | None:
    value = document.get(name)
    if value is None or isinstance(value, str):
        return value
    raise MetadataError(f"The {what} member {name!r} is not a string", url=url)


def _strings(document: dict[str, Any], name: str, what: str, url: str) -> tuple[str, ...] | None:
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise MetadataError(f"The {what} member {name!r} is not a list of strings", url=url)


def _scopes(value: tuple[str, ...] | None) -> frozenset[str] | None:
    if value is None:
        return None
    # Only RFC 6749 §3.3 scope-tokens can ever be requested; drop anything else.
    return frozenset().union(*(parse_scope(item)[0] for item in value))


@attrs.frozen(kw_only=True)
class ProtectedResourceMetadata:
    """RFC 9728 §2, the members the flows use. ``url`` is where it was fetched."""

    url: str
    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: frozenset[str] | None = None
    #: RFC 9728 §2: the resource always requires DPoP-bound tokens (RFC 9449).
    dpop_bound_access_tokens_required: bool = False
    #: When it was fetched and until when it is used (``metadata_lifetime``); None when
    #: the flow was given no clock.
    fetched_at: float | None = attrs.field(default=None, eq=False)
    expires_at: float | None = attrs.field(default=None, eq=False)

    @classmethod
    def from_response(
        cls,
        response: HttpResponse,
        url: str,
        expected: tuple[str, ...],
        *,
        covering: str | None = None,
        now: float | None = None,
    ) -> ProtectedResourceMetadata:
        """Parse and validate. ``expected`` are the ``resource`` values RFC 9728 §3.3
        allows read literally; with ``covering`` (the URL called), any ``resource`` that
        covers it is accepted instead (rule 11: same origin, path prefix on a segment
        boundary), and nothing else. ``now`` dates it (``fetched_at``, ``expires_at``).

        Raises ``MetadataError`` (resource refused, no authorization server) or
        ``InvalidResponseError`` (not a JSON object).
        """
        document = json_object(response, "protected resource metadata", url)
        return cls._from_document(document, url, expected, covering, _dated(now, response))

    def to_record(self) -> dict[str, Any]:
        """This metadata as JSON for a token store: the document (RFC 9728 members),
        where and when it was fetched, until when it is used."""
        skip = ("url", "fetched_at", "expires_at")
        return {"url": self.url, "fetched_at": self.fetched_at,
                "expires_at": self.expires_at, "document": _document(self, skip)}  # fmt: skip

    @classmethod
    def from_record(cls, record: Any, resource: str) -> ProtectedResourceMetadata:
        """Metadata a token store kept for ``resource``, validated again as when it was
        fetched: it must name exactly ``resource`` (the flow then applies rule 11 to
        the URL called). Raises ``ValueError`` or ``MetadataError`` otherwise."""
        document, url, times = _record_document(record)
        return cls._from_document(document, url, (resource,), None, times)

    @classmethod
    def _from_document(
        cls,
        document: dict[str, Any],
        url: str,
        expected: tuple[str, ...],
        covering: str | None,
        times: dict[str, float | None],
    ) -> ProtectedResourceMetadata:
        what = "protected resource metadata"
        resource = _string(document, "resource", what, url)
        if covering is not None:
            accepted = resource is not None and covers(resource, covering)
            wanted = f"a resource on the same origin covering {covering!r}"
        else:
            accepted = resource in expected
            wanted = " or ".join(map(repr, expected))
        if not accepted or resource is None:
            # RFC 9728 §3.3: "If these values are not identical, the data contained in
            # the response MUST NOT be used." §7.3 explains the impersonation attack: it
            # comes from another origin, which the covering rule refuses too.
            raise MetadataError(
                f"The protected resource metadata at {url} is for resource {resource!r}, "
                f"but it was looked up for {wanted}; refusing it (RFC 9728 §3.3, §7.3), "
                f"nothing was sent to any authorization server",
                url=url,
                advice=(
                    "Fix the resource server: its metadata 'resource' must be the URL "
                    "clients call or a prefix of it on the same origin"
                    + (" (strict_resource=True: identical to it)." if covering is None else ".")
                ),
            )
        servers = _strings(document, "authorization_servers", what, url)
        if not servers:
            raise MetadataError(
                f"The protected resource metadata at {url} names no authorization_servers",
                url=url,
            )
        return cls(
            url=url,
            resource=resource,
            authorization_servers=servers,
            scopes_supported=_scopes(_strings(document, "scopes_supported", what, url)),
            dpop_bound_access_tokens_required=(
                document.get("dpop_bound_access_tokens_required") is True
            ),
            **times,
        )


@attrs.frozen(kw_only=True)
class AuthorizationServerMetadata:
    """RFC 8414 §2 (plus RFC 9207 §3 and the MCP client ID metadata document flag)."""

    issuer: str
    token_endpoint: str
    authorization_endpoint: str | None = None
    registration_endpoint: str | None = None
    scopes_supported: frozenset[str] | None = None
    code_challenge_methods_supported: tuple[str, ...] | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    authorization_response_iss_parameter_supported: bool = False
    client_id_metadata_document_supported: bool = False
    #: RFC 8414 §2: the JWS algorithms the token endpoint takes for client assertions.
    token_endpoint_auth_signing_alg_values_supported: tuple[str, ...] | None = None
    #: RFC 9449 §5.1: the JWS algorithms it takes for DPoP proofs.
    dpop_signing_alg_values_supported: tuple[str, ...] | None = None
    #: Where, when it was fetched and until when it is used (None: not fetched, or
    #: the flow was given no clock).
    url: str | None = attrs.field(default=None, eq=False)
    fetched_at: float | None = attrs.field(default=None, eq=False)
    expires_at: float | None = attrs.field(default=None, eq=False)

    @classmethod
    def from_response(
        cls, response: HttpResponse, url: str, issuer: str, *, now: float | None = None
    ) -> AuthorizationServerMetadata:
        """Parse and validate against the ``issuer`` it was looked up for; ``now``
        dates it (``fetched_at``, ``expires_at``).

        Raises ``MetadataError`` (issuer mismatch, missing or insecure endpoint) or
        ``InvalidResponseError`` (not a JSON object).
        """
        document = json_object(response, "authorization server metadata", url)
        return cls._from_document(document, url, issuer, _dated(now, response))

    def to_record(self) -> dict[str, Any]:
        """This metadata as JSON for a token store (RFC 8414 members, with its dates)."""
        skip = ("url", "fetched_at", "expires_at")
        return {"url": self.url or self.issuer, "fetched_at": self.fetched_at,
                "expires_at": self.expires_at, "document": _document(self, skip)}  # fmt: skip

    @classmethod
    def from_record(cls, record: Any, issuer: str) -> AuthorizationServerMetadata:
        """Metadata a token store kept for ``issuer``, validated again as when it was
        fetched (RFC 8414 §3.3: the issuer is identical; endpoints are https).
        Raises ``ValueError`` or ``MetadataError`` otherwise."""
        document, url, times = _record_document(record)
        return cls._from_document(document, url, issuer, times)

    @classmethod
    def _from_document(
        cls,
        document: dict[str, Any],
        url: str,
        issuer: str,
        times: dict[str, float | None],
    ) -> AuthorizationServerMetadata:
        what = "authorization server metadata"
        declared = _string(document, "issuer", what, url)
        if declared != issuer:
            # RFC 8414 §3.3: the issuer "MUST be identical to the issuer identifier value
            # into which the well-known URI string was inserted"; otherwise MUST NOT use.
            raise MetadataError(
                f"The authorization server metadata at {url} declares issuer {declared!r}, "
                f"but it was looked up for {issuer!r}; refusing it (RFC 8414 §3.3)",
                url=url,
                advice=(
                    "Fix the resource's authorization_servers entry or the server's issuer "
                    "setting: they must be identical."
                ),
            )
        token_endpoint = _string(document, "token_endpoint", what, url)
        if token_endpoint is None:
            raise MetadataError(f"The authorization server metadata at {url} has no token_endpoint")
        authorization_endpoint = _string(document, "authorization_endpoint", what, url)
        registration_endpoint = _string(document, "registration_endpoint", what, url)
        for name, endpoint in (
            ("token_endpoint", token_endpoint),
            ("authorization_endpoint", authorization_endpoint),
            ("registration_endpoint", registration_endpoint),
        ):
            problem = check_url(endpoint, name) if endpoint is not None else None
            if problem:
                raise problem
        return cls(
            issuer=issuer,
            scopes_supported=_scopes(_strings(document, "scopes_supported", what, url)),
            code_challenge_methods_supported=_strings(
                document, "code_challenge_methods_supported", what, url
            ),
            token_endpoint_auth_methods_supported=_strings(
                document, "token_endpoint_auth_methods_supported", what, url
            ),
            authorization_response_iss_parameter_supported=(
                document.get("authorization_response_iss_parameter_supported") is True
            ),
            client_id_metadata_document_supported=(
                document.get("client_id_metadata_document_supported") is True
            ),
            token_endpoint_auth_signing_alg_values_supported=_strings(
                document, "token_endpoint_auth_signing_alg_values_supported", what, url
            ),
            dpop_signing_alg_values_supported=_strings(
                document, "dpop_signing_alg_values_supported", what, url
            ),
            token_endpoint=token_endpoint,
            authorization_endpoint=authorization_endpoint,
            registration_endpoint=registration_endpoint,
            url=url,
            **times,
        )
