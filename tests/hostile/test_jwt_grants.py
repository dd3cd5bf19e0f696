"""private_key_jwt, jwt-bearer, cross-app access (SEP-990) and DPoP through every adapter,
over loopback against servers of our own that verify every signature (``jwt_world.py``).

Each scenario calls ``GET /api`` (``read``) then ``POST /api`` (``write``) on one
client: the second is a
step-up (403 ``insufficient_scope``), which must repeat the grants with the union scope
and a new assertion.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sansio_upscope import TokenRequestFailedError
from sansio_upscope.dpop import SigningKey
from sansio_upscope.oauth import (
    AssertionRejectedError,
    ClientCredentials,
    CrossAppAccess,
    JwtBearer,
    SignInRequiredError,
)
from tests.driver import Call, Outcome, names, run

from .expect import assert_typed_error
from .jwt_world import (
    IDP_CLIENT_ID,
    IDP_CLIENT_SECRET,
    JWT_BEARER,
    KEY_CLIENT_ID,
    SECRET_CLIENT_ID,
    SECRET_CLIENT_SECRET,
    TOKEN_EXCHANGE,
    WORKLOAD_CLIENT_ID,
    JwtWorld,
    pem,
)
from .server import Request, ScriptedServer

Script = Callable[[Request], object]
Serve = Callable[[Script], ScriptedServer]


@pytest.fixture
def world(serve: Serve) -> JwtWorld:
    return JwtWorld(serve)


def read_then_write(world: JwtWorld) -> list[Call]:
    return [
        Call(url=world.url + "/api"),
        Call(method="POST", url=world.url + "/api", body=b"{}"),
    ]


def assert_ok(outcomes: list[Outcome], *bodies: bytes) -> None:
    assert [o.error for o in outcomes] == [None] * len(outcomes), outcomes
    assert [o.content for o in outcomes] == list(bodies)


def cause(outcome: Outcome) -> BaseException:
    error = assert_typed_error(outcome, TokenRequestFailedError)
    found = getattr(error, "cause", None) or error.__cause__
    assert found is not None, error
    return found


@pytest.mark.parametrize("adapter", names())
def test_private_key_jwt_client_credentials_and_a_step_up(adapter: str, world: JwtWorld) -> None:
    tokens = ClientCredentials(KEY_CLIENT_ID, private_key=world.client_pem)
    assert_ok(run(adapter, read_then_write(world), tokens), b"read ok", b"write ok")
    records = world.as_records()
    assert [(r.auth, r.scopes) for r in records] == [
        ("private_key_jwt", frozenset({"read"})),
        ("private_key_jwt", frozenset({"read", "write"})),
    ]
    assert all(r.outcome == "issued" and r.resource == world.url + "/api" for r in records)


@pytest.mark.parametrize("adapter", names())
def test_jwt_bearer_with_a_rotating_workload_token(adapter: str, world: JwtWorld) -> None:
    handed: list[str] = []

    def assertion() -> str:
        handed.append(world.workload_jwt())
        return handed[-1]

    tokens = JwtBearer(WORKLOAD_CLIENT_ID, assertion=assertion)
    assert_ok(run(adapter, read_then_write(world), tokens), b"read ok", b"write ok")
    assert [(r.grant_type, r.auth, r.outcome) for r in world.as_records()] == [
        (JWT_BEARER, "none", "issued")
    ] * 2
    assert len(set(handed)) == 2  # a fresh assertion for the step-up


@pytest.mark.parametrize("adapter", names())
def test_a_rejected_assertion_is_a_typed_error_quoting_the_server_not_a_loop(
    adapter: str, world: JwtWorld
) -> None:
    expired = world.workload_jwt(now=1_000_000)
    tokens = JwtBearer(WORKLOAD_CLIENT_ID, assertion=expired)
    (outcome,) = run(adapter, [Call(url=world.url + "/api")], tokens)
    error = cause(outcome)
    assert isinstance(error, AssertionRejectedError)
    assert error.error == "invalid_grant" and "expired" in str(error.error_description)
    assert "Signature has expired" in str(error) and expired not in str(error)
    assert len(world.as_records()) == 1


@pytest.mark.parametrize("adapter", names())
def test_an_assertion_for_another_audience_is_refused_once(adapter: str, world: JwtWorld) -> None:
    tokens = JwtBearer(
        WORKLOAD_CLIENT_ID, assertion=world.workload_jwt(audience="https://elsewhere.example")
    )
    (outcome,) = run(adapter, [Call(url=world.url + "/api")], tokens)
    assert isinstance(cause(outcome), AssertionRejectedError)
    assert "audience" in str(cause(outcome)).lower()
    assert len(world.as_records()) == 1


def cross_app(world: JwtWorld, id_token: str) -> CrossAppAccess:
    return CrossAppAccess(
        SECRET_CLIENT_ID,
        SECRET_CLIENT_SECRET,
        id_token=id_token,
        idp_token_endpoint=world.idp.url + "/token",
        idp_client_id=IDP_CLIENT_ID,
        idp_client_secret=IDP_CLIENT_SECRET,
    )


@pytest.mark.parametrize("adapter", names())
def test_cross_app_access_exchanges_then_uses_the_id_jag_and_steps_up(
    adapter: str, world: JwtWorld
) -> None:
    tokens = cross_app(world, world.id_token())
    assert_ok(run(adapter, read_then_write(world), tokens), b"read ok", b"write ok")
    exchanges = world.idp_records()
    assert [(r.grant_type, r.scopes, r.outcome) for r in exchanges] == [
        (TOKEN_EXCHANGE, frozenset({"read"}), "issued"),
        (TOKEN_EXCHANGE, frozenset({"read", "write"}), "issued"),
    ]
    assert all(r.resource == world.url + "/api" for r in exchanges)
    grants = world.as_records()
    assert [(r.grant_type, r.auth, r.scopes, r.outcome) for r in grants] == [
        (JWT_BEARER, "client_secret_basic", frozenset({"read"}), "issued"),
        (JWT_BEARER, "client_secret_basic", frozenset({"read", "write"}), "issued"),
    ]


@pytest.mark.parametrize("adapter", names())
def test_a_refused_id_jag_is_a_typed_error_after_one_try(adapter: str, world: JwtWorld) -> None:
    world.id_jag_lifetime = -120  # the IdP hands out an ID-JAG that has already expired
    (outcome,) = run(adapter, [Call(url=world.url + "/api")], cross_app(world, world.id_token()))
    error = cause(outcome)
    assert isinstance(error, AssertionRejectedError) and "ID-JAG" in str(error)
    assert "Signature has expired" in str(error)
    assert [r.outcome for r in world.idp_records()] == ["issued"]
    assert [r.outcome for r in world.as_records()] == ["invalid_grant"]


@pytest.mark.parametrize("adapter", names())
def test_an_expired_id_token_says_sign_in_again_and_sends_nothing(
    adapter: str, world: JwtWorld
) -> None:
    id_token = world.id_token(expires_in=-60)
    (outcome,) = run(adapter, [Call(url=world.url + "/api")], cross_app(world, id_token))
    error = cause(outcome)
    assert isinstance(error, SignInRequiredError)
    assert "Sign the user in again" in str(error) and id_token not in str(error)
    assert world.idp_records() == [] and world.as_records() == []


@pytest.mark.parametrize("adapter", names())
def test_an_id_token_the_idp_refuses_says_sign_in_again(adapter: str, world: JwtWorld) -> None:
    forged = SigningKey.generate()  # not the IdP's key: the IdP refuses the signature
    from sansio_upscope._jose import sign

    id_token = sign({"iss": world.idp.url, "sub": "u", "aud": IDP_CLIENT_ID, "exp": 2**40}, forged)
    (outcome,) = run(adapter, [Call(url=world.url + "/api")], cross_app(world, id_token))
    error = cause(outcome)
    assert isinstance(error, SignInRequiredError) and error.error == "invalid_grant"
    assert "signature" in str(error).lower() and id_token not in str(error)
    assert len(world.idp_records()) == 1 and world.as_records() == []


@pytest.mark.parametrize("adapter", names())
def test_dpop_bound_tokens_with_nonces_from_both_servers(adapter: str, world: JwtWorld) -> None:
    world.as_nonce, world.rs_nonce = "as-nonce-1", "rs-nonce-1"
    tokens = ClientCredentials(KEY_CLIENT_ID, private_key=world.client_pem, dpop=True)
    assert_ok(run(adapter, read_then_write(world), tokens), b"read ok", b"write ok")
    records = world.as_records()
    # The first token request learns the AS nonce (one retry); the step-up reuses it.
    assert [(r.dpop, r.scopes, r.outcome) for r in records] == [
        (True, frozenset({"read"}), "use_dpop_nonce"),
        (True, frozenset({"read"}), "issued"),
        (True, frozenset({"read", "write"}), "issued"),
    ]
    # The resource asked for its nonce once; every request after carried a fresh proof.
    challenged = [r for r in world.server.requests if r.path == "/api" and r.header("dpop")]
    assert len(challenged) == 4  # read: nonce retry + ok; write: 403, then ok
    assert {r.header("authorization").split()[0] for r in challenged} == {"DPoP"}  # type: ignore[union-attr]
    assert len({r.header("dpop") for r in challenged}) == 4


@pytest.mark.parametrize("adapter", names())
def test_an_application_dpop_key_and_jwt_bearer(adapter: str, world: JwtWorld) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = SigningKey.load(pem(ec.generate_private_key(ec.SECP256R1())), alg="ES256")
    tokens = JwtBearer(WORKLOAD_CLIENT_ID, assertion=world.workload_jwt, dpop=key)
    (outcome,) = run(adapter, [Call(url=world.url + "/api")], tokens)
    assert outcome.ok, outcome
    assert [r.dpop for r in world.as_records()] == [True]
