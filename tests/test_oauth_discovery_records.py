"""Discovery results with a lifetime, and as records a token store keeps (issue 14):
``Cache-Control: max-age`` sets how long RFC 9728 and RFC 8414 metadata is used (bounded,
an hour by default); ``discovery_records`` / ``learn_discovery`` move it between sources
(processes) through a store, validated again on the way back in, and never widening
what rule 11 accepts. The stores themselves: tests/test_store_discovery.py."""

from __future__ import annotations

from typing import Any

import pytest

from sansio_upscope import Reason, Token
from sansio_upscope.oauth import (
    AuthorizationServerMetadata,
    ClientCredentials,
    HttpRequest,
    HttpResponse,
    MetadataError,
    ProtectedResourceMetadata,
    RegistrationError,
)
from sansio_upscope.oauth._metadata import (
    DEFAULT_METADATA_LIFETIME,
    MAX_METADATA_LIFETIME,
    MIN_METADATA_LIFETIME,
    metadata_lifetime,
)
from tests.test_oauth_support import (
    ASM_URL,
    ISSUER,
    PRM_URL,
    RS,
    TOKEN_URL,
    asm,
    failed,
    finished,
    form,
    json_response,
    not_found,
    prm,
    request_token,
    run,
    token_json,
)

NOW = 1_000_000.0
AS2 = "https://as2.example"
AS2_URL = AS2 + "/.well-known/oauth-authorization-server"


def cached(document: dict[str, Any], max_age: int | None = None) -> HttpResponse:
    """A metadata response, with ``Cache-Control: max-age`` when given."""
    response = json_response(document)
    if max_age is None:
        return response
    headers = (*response.headers, ("Cache-Control", f"max-age={max_age}"))
    return HttpResponse(status_code=200, headers=headers, body=response.body)


def discover(source: ClientCredentials, now: float = NOW, max_age: int | None = None) -> Token:
    """One flow that discovers everything (metadata kept ``max_age``), then a token."""
    return finished(
        run(
            source.flow(request_token(), now=now),
            [
                ("GET", PRM_URL, cached(prm(scopes_supported=["read"]), max_age)),
                ("GET", ASM_URL, cached(asm(), max_age)),
                ("POST", TOKEN_URL, json_response(token_json())),
            ],
        )[0]
    )


def token_only(source: ClientCredentials, now: float = NOW, **kw: Any) -> Token:
    rt = request_token(**kw)
    return finished(
        run(source.flow(rt, now=now), [("POST", TOKEN_URL, json_response({**token_json()}))])[0]
    )


@pytest.mark.parametrize(
    ("cache_control", "lifetime"),
    [
        (None, DEFAULT_METADATA_LIFETIME),
        ("max-age=600", 600.0),
        ('public, max-age="7200"', 7200.0),
        ("max-age=0", MIN_METADATA_LIFETIME),  # bounded: not refetched per token request
        ("max-age=9999999", MAX_METADATA_LIFETIME),
        ("public, max-age=abc", DEFAULT_METADATA_LIFETIME),
        ("max-age=600, No-Store", MIN_METADATA_LIFETIME),  # the server wants it asked again
        ("no-cache", MIN_METADATA_LIFETIME),
    ],
)
def test_cache_control_max_age_sets_the_lifetime_bounded(
    cache_control: str | None, lifetime: float
) -> None:
    headers = () if cache_control is None else (("Cache-Control", cache_control),)
    assert metadata_lifetime(HttpResponse(status_code=200, headers=headers, body=b"")) == lifetime


def test_metadata_is_fetched_again_after_its_lifetime_only() -> None:
    cc = ClientCredentials("agent", "s3cret")
    discover(cc, max_age=600)
    token_only(cc, now=NOW + 599)  # within: straight to the token endpoint
    # Past it: both documents again (a source without a clock keeps them, as before).
    step, _ = run(
        cc.flow(request_token(), now=NOW + 600),
        [
            ("GET", PRM_URL, json_response(prm())),
            ("GET", ASM_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    finished(step)
    finished(run(cc.flow(request_token()), [("POST", TOKEN_URL, json_response(token_json()))])[0])


def test_an_origin_without_metadata_is_asked_again_after_the_lifetime() -> None:
    rt = request_token(resource="https://rs.example/")
    root = "https://rs.example/.well-known/oauth-protected-resource"
    origin_asm = "https://rs.example/.well-known/oauth-authorization-server"
    origin_oidc = "https://rs.example/.well-known/openid-configuration"
    cc = ClientCredentials("agent", "s3cret")
    look = [("GET", root, not_found()), ("GET", origin_asm, not_found())]
    look.append(("GET", origin_oidc, not_found()))
    answer = ("POST", "https://rs.example/token", json_response(token_json()))
    finished(run(cc.flow(rt, now=NOW), [*look, answer])[0])
    records = cc.discovery_records(rt.resource, since=NOW)
    assert set(records) == {
        "origin https://rs.example",
        "issuer https://rs.example",
        "client agent",
    }
    finished(run(cc.flow(rt, now=NOW + 10), [answer])[0])  # known: no lookups
    later = NOW + DEFAULT_METADATA_LIFETIME
    finished(run(cc.flow(rt, now=later), [*look, answer])[0])
    # A fresh source learns the origin (and its default endpoints) from the records.
    fresh = ClientCredentials("agent", "s3cret")
    fresh.learn_discovery(records, now=NOW + 1)
    finished(run(fresh.flow(rt, now=NOW + 2), [answer])[0])


def test_records_move_discovery_to_a_fresh_source() -> None:
    first = ClientCredentials("agent", "s3cret")
    discover(first)
    records = first.discovery_records(RS, since=NOW)
    assert set(records) == {f"resource {RS}", f"issuer {ISSUER}", "client agent"}
    assert records[f"resource {RS}"]["expires_at"] == NOW + DEFAULT_METADATA_LIFETIME
    assert first.discovery_records(RS, since=NOW + 1) == {"client agent": {"issuer": ISSUER}}
    fresh = ClientCredentials("agent", "s3cret")
    fresh.learn_discovery(records, now=NOW + 1)
    # No metadata request: the kept documents, validated again, serve; the scopes the
    # metadata listed are asked for as before.
    step, sent = run(
        fresh.flow(request_token(), now=NOW + 2), [("POST", TOKEN_URL, json_response(token_json()))]
    )
    finished(step)
    assert form(sent[0])["scope"] == "read"
    assert fresh.protected_resource(RS + "/tools", now=NOW + 2) == RS
    assert fresh.protected_resource(RS, now=NOW + 2, resource_metadata=AS2) is None
    assert fresh.protected_resource(RS, now=NOW + DEFAULT_METADATA_LIFETIME) is None
    assert fresh.protected_resource("https://rs.example/other", now=NOW) is None
    # Expired ones are not learnt; older ones do not replace newer ones.
    late = ClientCredentials("agent", "s3cret")
    late.learn_discovery(records, now=NOW + DEFAULT_METADATA_LIFETIME)
    assert late.protected_resource(RS, now=NOW) is None
    late.learn_discovery({"origin https://rs.example": {"expires_at": NOW}}, now=NOW)
    assert "origin https://rs.example" not in late.discovery_records("https://rs.example/", since=0)
    newer = ClientCredentials("agent", "s3cret")
    discover(newer, now=NOW + 5)
    newer.learn_discovery(records, now=NOW + 6)
    assert newer.discovery_records(RS, since=NOW + 5).keys() >= {f"resource {RS}"}


def test_kept_metadata_never_widens_rule_11() -> None:
    first = ClientCredentials("agent", "s3cret")
    discover(first)
    records = first.discovery_records(RS, since=NOW)
    fresh = ClientCredentials("agent", "s3cret")
    fresh.learn_discovery(records, now=NOW + 1)
    # Another resource of the origin, not under /mcp: the kept metadata does not cover
    # it, so it is discovered for itself.
    step = fresh.flow(request_token(resource="https://rs.example/api"), now=NOW + 2).start()
    assert step == HttpRequest(
        method="GET",
        url="https://rs.example/.well-known/oauth-protected-resource/api",
        headers=(("Accept", "application/json"),),
    )
    # With strict_resource, metadata for /mcp does not name /mcp/tools.
    strict = ClientCredentials("agent", "s3cret", strict_resource=True)
    strict.learn_discovery(records, now=NOW + 1)
    assert strict.protected_resource(RS + "/tools", now=NOW + 2) is None
    assert strict.protected_resource(RS, now=NOW + 2) == RS


@pytest.mark.parametrize(
    ("key", "record", "problem"),
    [
        (f"resource {RS}/other", None, "is for resource"),  # foreign: another resource
        (f"issuer {AS2}", None, "declares issuer"),  # foreign: another issuer
        ("resource x", [], "not a JSON object"),
        ("resource x", {"document": {}, "url": 1}, "url is not a string"),
        ("resource x", {"document": {}, "url": "u", "expires_at": "1"}, "not a number"),
        ("client agent", {"issuer": 1}, "issuer is not a string"),
        ("client agent", {}, "'issuer'"),
        ("origin https://rs.example", {"expires_at": True}, "not a number"),
        ("token x", {}, "not a kind of record"),
    ],
)
def test_a_malformed_or_foreign_record_is_refused_naming_its_key(
    key: str, record: Any, problem: str
) -> None:
    first = ClientCredentials("agent", "s3cret")
    discover(first)
    kept = first.discovery_records(RS, since=NOW)
    if record is None:  # a real record, under a key it does not belong to
        record = kept[f"resource {RS}"] if key.startswith("resource") else kept[f"issuer {ISSUER}"]
    with pytest.raises(ValueError) as caught:
        ClientCredentials("agent", "s3cret").learn_discovery({key: record}, now=NOW)
    assert repr(key) in str(caught.value) and problem in str(caught.value)


def test_records_round_trip_every_member() -> None:
    document = asm(
        scopes_supported=["b", "a"],
        registration_endpoint="https://as.example/register",
        authorization_response_iss_parameter_supported=True,
        dpop_signing_alg_values_supported=["ES256"],
    )
    response = cached(document, max_age=120)
    server = AuthorizationServerMetadata.from_response(response, ASM_URL, ISSUER, now=NOW)
    assert server.expires_at == NOW + 120
    again = AuthorizationServerMetadata.from_record(server.to_record(), ISSUER)
    assert again == server and again.expires_at == server.expires_at
    resource = ProtectedResourceMetadata.from_response(
        json_response(prm(dpop_bound_access_tokens_required=True)), PRM_URL, (RS,), now=NOW
    )
    assert ProtectedResourceMetadata.from_record(resource.to_record(), RS) == resource
    with pytest.raises(MetadataError):
        ProtectedResourceMetadata.from_record(resource.to_record(), RS + "x")


def test_a_kept_client_binding_holds_across_processes() -> None:
    # SEP-2352: the fleet's configured client was first used at AS1. A fresh source
    # learns that, so a resource that now names AS2 does not get AS1's credentials.
    first = ClientCredentials("agent", "s3cret")
    discover(first)
    fresh = ClientCredentials("agent", "s3cret")
    fresh.learn_discovery(first.discovery_records(RS, since=NOW), now=NOW + 1)
    held = Token("old", scopes={"read"})
    rt = request_token(reason=Reason.INVALID_TOKEN, current_token=held)
    moved = {**prm(), "authorization_servers": [AS2]}
    step, _ = run(
        fresh.flow(rt, now=NOW + 2),
        [("GET", PRM_URL, json_response(moved)), ("GET", AS2_URL, json_response(asm(AS2)))],
    )
    assert "SEP-2352" in str(failed(step, RegistrationError))
    # Another client's binding, or a binding when one is held, is not taken.
    other = ClientCredentials("other", "s3cret")
    other.learn_discovery({"client agent": {"issuer": AS2}}, now=NOW)
    assert "client other" not in other.discovery_records(RS, since=0.0)
    fresh.learn_discovery({"client agent": {"issuer": AS2}}, now=NOW)
    assert fresh.discovery_records(RS, since=0.0)["client agent"] == {"issuer": ISSUER}


def test_a_configured_issuer_keeps_only_its_server_metadata() -> None:
    cc = ClientCredentials("agent", "s3cret", issuer=ISSUER)
    finished(
        run(
            cc.flow(request_token(), now=NOW),
            [
                ("GET", ASM_URL, json_response(asm())),
                ("POST", TOKEN_URL, json_response(token_json())),
            ],
        )[0]
    )
    assert set(cc.discovery_records(RS, since=NOW)) == {f"issuer {ISSUER}"}
