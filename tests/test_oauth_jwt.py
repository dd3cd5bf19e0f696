"""The JWT grants as golden scripts of the sans-IO flow: private_key_jwt (RFC 7523 §2.2),
jwt-bearer (§2.1), cross-app access (RFC 8693 + SEP-990), DPoP on token requests
(RFC 9449 §5, §8). The loopback suite is tests/hostile/test_jwt_grants.py."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sansio_upscope import LocalProtocolError
from sansio_upscope._jose import sign
from sansio_upscope.dpop import SigningKey
from sansio_upscope.oauth import (
    ClientCredentials,
    CrossAppAccess,
    HttpRequest,
    InsecureEndpointError,
    InvalidResponseError,
    JwtBearer,
    MetadataError,
    SignInRequiredError,
    TokenEndpointError,
)
from sansio_upscope.oauth._assertions import ID_JAG_TYPE, id_token_expiry
from sansio_upscope.oauth._sources import MAX_REMEMBERED_DPOP_NONCES
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
    prm,
    request_token,
    run,
    token_json,
)

NOW = 1_700_000_000.0
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
IDP_TOKEN = "https://idp.example/token"
DISCOVERY = [
    ("GET", PRM_URL, json_response(prm())),
    ("GET", ASM_URL, json_response(asm(token_endpoint_auth_methods_supported=None))),
]


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(
        token,
        KEY.public_key(),
        algorithms=["ES256"],
        options={"verify_aud": False, "verify_exp": False},
    )
    return decoded


def header_rt() -> Any:
    return request_token(header=f'Bearer resource_metadata="{PRM_URL}"')


def test_a_client_assertion_has_what_rfc7523_asks_and_aud_is_the_issuer() -> None:
    source = ClientCredentials("agent", private_key=PEM, kid="k-1")
    step, _ = run(source.flow(header_rt(), now=NOW), [*DISCOVERY])
    assert isinstance(step, HttpRequest) and step.url == TOKEN_URL
    fields = form(step)
    assert (
        fields["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert fields["client_id"] == "agent" and step.header("authorization") is None
    claims = claims_of(fields["client_assertion"])
    assert claims["iss"] == claims["sub"] == "agent" and claims["aud"] == ISSUER
    assert claims["iat"] == int(NOW) and 0 < claims["exp"] - claims["iat"] <= 300
    assert jwt.get_unverified_header(fields["client_assertion"])["kid"] == "k-1"
    assert fields["client_assertion"] not in repr(step)


def test_with_only_a_token_endpoint_the_assertion_is_for_that_endpoint() -> None:
    source = ClientCredentials("agent", private_key=PEM, token_endpoint=TOKEN_URL)
    step = source.flow(request_token(), now=NOW).start()
    assert isinstance(step, HttpRequest)
    assert claims_of(form(step)["client_assertion"])["aud"] == TOKEN_URL
    again = source.flow(request_token(), now=NOW).start()
    assert isinstance(again, HttpRequest)
    first, second = (claims_of(form(s)["client_assertion"])["jti"] for s in (step, again))
    assert first != second


def test_a_server_that_does_not_list_private_key_jwt() -> None:
    document = asm(token_endpoint_auth_methods_supported=["client_secret_basic"])
    script = [("GET", PRM_URL, json_response(prm())), ("GET", ASM_URL, json_response(document))]
    # With a secret as well, the client falls back to it ...
    both = ClientCredentials("agent", "s3cret", private_key=PEM)
    step, _ = run(both.flow(header_rt(), now=NOW), script)
    assert isinstance(step, HttpRequest)
    assert str(step.header("authorization")).startswith("Basic ")
    # ... with only a key, nothing is sent and the error says why.
    only_key = ClientCredentials("agent", private_key=PEM)
    step, sent = run(only_key.flow(header_rt(), now=NOW), script)
    assert "does not list private_key_jwt" in str(failed(step, MetadataError)) and len(sent) == 2


def test_signing_without_a_clock_is_api_misuse() -> None:
    source = ClientCredentials("agent", private_key=PEM, token_endpoint=TOKEN_URL)
    with pytest.raises(LocalProtocolError, match="needs the current time"):
        source.flow(request_token()).start()


def test_dpop_on_token_requests_nonce_from_a_success_and_the_key_on_the_token() -> None:
    source = ClientCredentials("agent", "s3cret", token_endpoint=TOKEN_URL, dpop=True)
    flow = source.flow(request_token(), now=NOW)
    step = flow.start()
    assert isinstance(step, HttpRequest) and step.header("dpop") is not None
    assert "<redacted>" in repr(step) and str(step.header("dpop")) not in repr(step)
    answer = json_response(token_json(token_type="DPoP"), 200, **{"DPoP-Nonce": "n-2"})
    token = finished(flow.receive(answer, now=NOW))
    assert token.token_type == "DPoP" and token.dpop_key is source._dpop_key
    # The next token request carries the nonce the last success gave (RFC 9449 §8.2).
    step = source.flow(request_token(), now=NOW).start()
    assert isinstance(step, HttpRequest)
    proof = jwt.decode(str(step.header("dpop")), options={"verify_signature": False})
    assert proof["nonce"] == "n-2" and proof["htm"] == "POST" and proof["htu"] == TOKEN_URL


def test_use_dpop_nonce_is_followed_once_per_new_nonce_and_bounded() -> None:
    source = ClientCredentials("agent", "s3cret", token_endpoint=TOKEN_URL, dpop=True)
    flow = source.flow(request_token(), now=NOW)
    flow.start()
    sent = 1
    step: Any = None
    for nonce in ("a", "b", "c"):
        answer = json_response({"error": "use_dpop_nonce"}, 400, **{"DPoP-Nonce": nonce})
        step = flow.receive(answer, now=NOW)
        if not isinstance(step, HttpRequest):
            break
        sent += 1
    assert sent == 3  # the first try, then one per new nonce, at most two
    assert failed(step, TokenEndpointError).error == "use_dpop_nonce"
    again = ClientCredentials("agent", "s3cret", token_endpoint=TOKEN_URL, dpop=True)
    flow = again.flow(request_token(), now=NOW)
    flow.start()
    flow.receive(json_response({"error": "use_dpop_nonce"}, 400, **{"DPoP-Nonce": "x"}), now=NOW)
    same = flow.receive(
        json_response({"error": "use_dpop_nonce"}, 400, **{"DPoP-Nonce": "x"}), now=NOW
    )
    assert failed(same, TokenEndpointError).dpop_nonce == "x"  # the same nonce: final


def test_a_source_remembers_a_bounded_number_of_nonces() -> None:
    source = ClientCredentials("agent", "s3cret", dpop=True)
    for n in range(MAX_REMEMBERED_DPOP_NONCES + 5):
        source._remember_dpop_nonce(f"https://as{n}.example/token", "n")
    assert len(source._dpop_nonces) == MAX_REMEMBERED_DPOP_NONCES


def test_a_dpop_token_for_a_client_without_dpop_is_refused() -> None:
    source = ClientCredentials("agent", "s3cret", token_endpoint=TOKEN_URL)
    flow = source.flow(request_token(), now=NOW)
    flow.start()
    step = flow.receive(json_response(token_json(token_type="DPoP")))
    assert "sent no DPoP proof" in str(failed(step, InvalidResponseError))


def test_a_bearer_token_from_a_server_that_ignored_the_proof_is_used_as_bearer() -> None:
    source = ClientCredentials("agent", "s3cret", token_endpoint=TOKEN_URL, dpop=True)
    flow = source.flow(request_token(), now=NOW)
    flow.start()
    token = finished(flow.receive(json_response(token_json())))
    assert token.token_type == "Bearer" and token.dpop_key is None


def test_jwt_bearer_sends_the_assertion_and_hides_it() -> None:
    source = JwtBearer("workload", assertion="WORKLOAD.JWT.SECRET", token_endpoint=TOKEN_URL)
    step = source.flow(request_token(("a", "b")), now=NOW).start()
    assert isinstance(step, HttpRequest)
    fields = form(step)
    assert fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert fields["assertion"] == "WORKLOAD.JWT.SECRET" and fields["scope"] == "a b"
    assert fields["client_id"] == "workload" and fields["resource"] == RS
    assert "SECRET" not in repr(step) and "SECRET" not in repr(source)


def idp_source(id_token: str | Any, **kwargs: Any) -> CrossAppAccess:
    options: dict[str, Any] = {
        "id_token": id_token,
        "idp_token_endpoint": IDP_TOKEN,
        "idp_client_id": "idp-client",
        "idp_client_secret": "IDP-SECRET",
    }
    options.update(kwargs)
    return CrossAppAccess("app", "APP-SECRET", **options)


ID_TOKEN = sign({"sub": "u", "exp": NOW + 60}, SigningKey.load(PEM))


def test_cross_app_access_exchange_then_jwt_bearer() -> None:
    source = idp_source(lambda: ID_TOKEN)
    step, _ = run(source.flow(header_rt(), now=NOW), [*DISCOVERY])
    assert isinstance(step, HttpRequest) and step.url == IDP_TOKEN
    fields = form(step)
    assert fields == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "requested_token_type": ID_JAG_TYPE,
        "audience": ISSUER,
        "resource": RS,
        "subject_token": ID_TOKEN,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "scope": "read",
    }
    assert ID_TOKEN not in repr(step) and "IDP-SECRET" not in repr(source)


def exchange_with(answer: Any, **kwargs: Any) -> Any:
    source = idp_source(ID_TOKEN, issuer=ISSUER, token_endpoint=TOKEN_URL, **kwargs)
    flow = source.flow(request_token(()), now=NOW)
    step = flow.start()
    assert isinstance(step, HttpRequest) and "scope" not in form(step)
    return flow.receive(answer)


def test_the_id_jag_goes_to_the_authorization_server() -> None:
    answer = json_response(
        {"access_token": "ID.JAG.SECRET", "issued_token_type": ID_JAG_TYPE, "token_type": "N_A"}
    )
    step = exchange_with(answer)
    assert isinstance(step, HttpRequest) and step.url == TOKEN_URL
    assert form(step)["assertion"] == "ID.JAG.SECRET" and "SECRET" not in repr(step)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"access_token": "x", "issued_token_type": "urn:x"}, "issued_token_type 'urn:x'"),
        ({"access_token": "x"}, "issued_token_type None"),
        ({"issued_token_type": ID_JAG_TYPE}, "has no access_token"),
    ],
)
def test_a_token_exchange_answer_that_is_no_id_jag(document: Any, problem: str) -> None:
    assert problem in str(failed(exchange_with(json_response(document)), InvalidResponseError))


def test_an_idp_error_other_than_invalid_grant_stays_a_token_endpoint_error() -> None:
    step = exchange_with(json_response({"error": "invalid_client"}, 401))
    error = failed(step, TokenEndpointError)
    assert error.error == "invalid_client" and not isinstance(error, SignInRequiredError)


def test_an_id_token_the_client_cannot_read_is_left_to_the_idp() -> None:
    assert id_token_expiry("opaque") is None
    assert id_token_expiry(sign({"sub": "u"}, SigningKey.load(PEM))) is None
    step = (
        idp_source("opaque", issuer=ISSUER, token_endpoint=TOKEN_URL)
        .flow(request_token(), now=NOW)
        .start()
    )
    assert isinstance(step, HttpRequest) and step.url == IDP_TOKEN


def test_an_insecure_idp_endpoint_is_refused() -> None:
    source = idp_source(
        ID_TOKEN,
        issuer=ISSUER,
        token_endpoint=TOKEN_URL,
        idp_token_endpoint="http://idp.example/token",
    )
    failed(source.flow(request_token(), now=NOW).start(), InsecureEndpointError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token_endpoint": TOKEN_URL}, "also needs issuer"),
        ({"idp_token_endpoint": ""}, "idp_token_endpoint must not be empty"),
    ],
)
def test_cross_app_access_configuration_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        idp_source(ID_TOKEN, **kwargs)


RSA_PEM = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


@pytest.mark.parametrize(
    ("source", "member"),
    [
        (
            lambda: ClientCredentials("agent", private_key=RSA_PEM, signing_alg="RS256"),
            "token_endpoint_auth_signing_alg_values_supported",
        ),
        (
            lambda: ClientCredentials(
                "agent", "s3cret", dpop=SigningKey.load(RSA_PEM, alg="RS256")
            ),
            "dpop_signing_alg_values_supported",
        ),
    ],
)
def test_a_key_for_an_algorithm_the_server_does_not_list_sends_nothing(
    source: Any, member: str
) -> None:
    document = asm(
        token_endpoint_auth_methods_supported=["private_key_jwt", "client_secret_basic"],
        token_endpoint_auth_signing_alg_values_supported=["ES256"],
        dpop_signing_alg_values_supported=["ES256"],
    )
    script = [("GET", PRM_URL, json_response(prm())), ("GET", ASM_URL, json_response(document))]
    step, sent = run(source().flow(header_rt(), now=NOW), script)
    error = failed(step, MetadataError)
    assert member in str(error) and "RS256" in str(error) and len(sent) == 2


def test_an_es256_key_the_server_lists_and_a_secret_method_ignore_the_alg_lists() -> None:
    document = asm(token_endpoint_auth_signing_alg_values_supported=["ES256"])
    script = [("GET", PRM_URL, json_response(prm())), ("GET", ASM_URL, json_response(document))]
    for source in (
        ClientCredentials("agent", private_key=PEM, auth_method="private_key_jwt"),
        ClientCredentials("agent", "s3cret", private_key=RSA_PEM, signing_alg="RS256"),
    ):
        step, _ = run(source.flow(header_rt(), now=NOW), script)
        assert isinstance(step, HttpRequest) and step.url == TOKEN_URL


def test_a_resource_that_requires_dpop_is_refused_without_it() -> None:
    document = prm(dpop_bound_access_tokens_required=True)
    script = [("GET", PRM_URL, json_response(document)), ("GET", ASM_URL, json_response(asm()))]
    step, sent = run(ClientCredentials("agent", "s3cret").flow(header_rt(), now=NOW), script)
    assert "requires DPoP-bound tokens" in str(failed(step, MetadataError)) and len(sent) == 2
    with_dpop = ClientCredentials("agent", "s3cret", dpop=True)
    step, _ = run(with_dpop.flow(header_rt(), now=NOW), script)
    assert isinstance(step, HttpRequest) and step.header("dpop") is not None
