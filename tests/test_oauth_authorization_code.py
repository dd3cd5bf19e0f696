"""authorization_code + PKCE S256 (RFC 6749 §4.1, RFC 7636), state and RFC 9207 iss
checks, RFC 9470 acr_values/max_age, and client registration (MCP order: given, stored,
Client ID Metadata Document, RFC 7591), driven by hand."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from sansio_upscope.oauth import (
    AuthorizationCode,
    AuthorizationError,
    AuthorizationRedirect,
    Finished,
    HttpRequest,
    InMemoryClientStore,
    InvalidResponseError,
    MetadataError,
    OpenAuthorizationUrl,
    RegisteredClient,
    RegistrationError,
    Step,
    TokenFlow,
)
from tests.test_oauth_support import (
    ASM_URL,
    AUTHZ_URL,
    ISSUER,
    PRM_URL,
    REDIRECT,
    REG_URL,
    RS,
    TOKEN_URL,
    asm,
    failed,
    finished,
    form,
    json_response,
    prm,
    query,
    request_token,
    run,
    token_json,
)

DISCOVERY = [("GET", PRM_URL, json_response(prm())), ("GET", ASM_URL, json_response(asm()))]


def to_browser(source: AuthorizationCode, **rt: Any) -> tuple[TokenFlow, OpenAuthorizationUrl]:
    flow = source.flow(request_token(**rt), now=0.0)
    step, _ = run(flow, DISCOVERY)
    assert isinstance(step, OpenAuthorizationUrl), step
    return flow, step


def redirect(step: OpenAuthorizationUrl, **params: str) -> AuthorizationRedirect:
    state = query(step.url)["state"]
    fields = {"code": "CODE-secret", "state": state, **params}
    fields = {k: v for k, v in fields.items() if v != "<omit>"}
    return AuthorizationRedirect(
        url=REDIRECT + "?" + "&".join(f"{k}={v}" for k, v in fields.items())
    )


def test_golden_authorization_code_flow() -> None:
    source = AuthorizationCode("app", REDIRECT)
    flow, step = to_browser(
        source,
        scopes=("read", "write"),
        header='Bearer error="insufficient_user_authentication", acr_values="mfa hw", '
        'max_age="60", scope="read write"',
        acr_values=("mfa", "hw"),
        max_age=60,
    )
    assert step.redirect_uri == REDIRECT
    assert step.url.startswith(AUTHZ_URL + "?")
    params = query(step.url)
    assert {k: v for k, v in params.items() if k not in ("state", "code_challenge")} == {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": REDIRECT,
        "code_challenge_method": "S256",
        "resource": RS,  # RFC 8707 §2.1
        "scope": "read write",
        "acr_values": "mfa hw",  # RFC 9470 §4
        "max_age": "60",
    }
    request = flow.receive(redirect(step))
    assert isinstance(request, HttpRequest) and request.url == TOKEN_URL
    sent = form(request)
    verifier = sent.pop("code_verifier")
    assert 43 <= len(verifier) <= 128
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == params["code_challenge"]
    assert sent == {
        "grant_type": "authorization_code",
        "code": "CODE-secret",
        "redirect_uri": REDIRECT,
        "resource": RS,
        "client_id": "app",
    }
    token = finished(flow.receive(json_response(token_json(refresh_token="RT"))))
    assert token.refresh_token == "RT" and token.scopes == frozenset({"read", "write"})
    assert "CODE-secret" not in repr(request) and verifier not in repr(request)


def test_states_and_verifiers_are_fresh_per_flow() -> None:
    source = AuthorizationCode("app", REDIRECT)
    first = query(to_browser(source)[1].url)
    second = query(source.flow(request_token()).start().url)  # type: ignore[union-attr]
    assert first["state"] != second["state"]
    assert first["code_challenge"] != second["code_challenge"]


def test_scopes_supported_is_added_when_the_challenge_names_no_scope() -> None:
    source = AuthorizationCode("app", REDIRECT)
    flow = source.flow(request_token(("read",), header='Bearer error="invalid_token"'))
    documents = [
        ("GET", PRM_URL, json_response(prm(scopes_supported=["read", "profile"]))),
        ("GET", ASM_URL, json_response(asm())),
    ]
    step, _ = run(flow, documents)
    assert isinstance(step, OpenAuthorizationUrl)
    assert query(step.url)["scope"] == "profile read"


def test_confidential_client_authenticates_the_code_exchange() -> None:
    flow, step = to_browser(AuthorizationCode("app", REDIRECT, client_secret="s3cret"))
    request = flow.receive(redirect(step))
    assert isinstance(request, HttpRequest)
    assert request.header(
        "authorization",
    ) is not None and "client_id" not in form(request)


@pytest.mark.parametrize(
    ("methods", "shown"), [(None, "it is absent"), (["plain"], "it lists plain")]
)
def test_authorization_without_s256_is_refused(methods: list[str] | None, shown: str) -> None:
    flow = AuthorizationCode("app", REDIRECT).flow(request_token())
    step, _ = run(
        flow,
        [
            ("GET", PRM_URL, json_response(prm())),
            ("GET", ASM_URL, json_response(asm(code_challenge_methods_supported=methods))),
        ],
    )
    error = failed(step, MetadataError)
    assert "S256" in str(error) and shown in str(error)


def test_metadata_without_authorization_endpoint() -> None:
    flow = AuthorizationCode("app", REDIRECT).flow(request_token())
    step, _ = run(
        flow,
        [
            ("GET", PRM_URL, json_response(prm())),
            ("GET", ASM_URL, json_response(asm(authorization_endpoint=None))),
        ],
    )
    assert "no authorization_endpoint" in str(failed(step, MetadataError))


def test_authorization_endpoint_with_query_keeps_it() -> None:
    flow = AuthorizationCode("app", REDIRECT).flow(request_token())
    endpoint = AUTHZ_URL + "?tenant=t1"
    step, _ = run(
        flow,
        [
            ("GET", PRM_URL, json_response(prm())),
            ("GET", ASM_URL, json_response(asm(authorization_endpoint=endpoint))),
        ],
    )
    assert isinstance(step, OpenAuthorizationUrl)
    assert step.url.startswith(endpoint + "&") and query(step.url)["tenant"] == "t1"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"state": "forged"}, "state does not match"),
        ({"state": "<omit>"}, "state does not match"),
        ({"iss": "https://evil.example"}, "RFC 9207"),
        ({"code": "<omit>"}, "carries no code"),
        ({"code": ""}, "carries no code"),
    ],
)
def test_bad_authorization_responses_are_refused(params: dict[str, str], problem: str) -> None:
    flow, step = to_browser(AuthorizationCode("app", REDIRECT))
    error = failed(flow.receive(redirect(step, **params)), AuthorizationError)
    assert problem in str(error) and "CODE-secret" not in str(error)


def test_redirect_to_another_url_is_refused() -> None:
    flow, step = to_browser(AuthorizationCode("app", REDIRECT))
    state = query(step.url)["state"]
    other = AuthorizationRedirect(url=f"http://127.0.0.1:9999/callback?code=C&state={state}")
    assert "not the redirect_uri" in str(failed(flow.receive(other), AuthorizationError))


def test_error_response_from_the_authorization_server() -> None:
    flow, step = to_browser(AuthorizationCode("app", REDIRECT))
    answer = redirect(step, code="<omit>", error="access_denied", error_description="user+said+no")
    error = failed(flow.receive(answer), AuthorizationError)
    assert (error.error, error.error_description) == ("access_denied", "user said no")


def test_iss_is_required_when_the_server_advertises_it() -> None:
    source = AuthorizationCode("app", REDIRECT)
    flow = source.flow(request_token())
    documents = [
        ("GET", PRM_URL, json_response(prm())),
        ("GET", ASM_URL, json_response(asm(authorization_response_iss_parameter_supported=True))),
    ]
    step, _ = run(flow, documents)
    assert isinstance(step, OpenAuthorizationUrl)
    failed(flow.receive(redirect(step)), AuthorizationError)  # iss missing
    flow = source.flow(request_token())  # metadata now cached
    step = flow.start()
    assert isinstance(step, OpenAuthorizationUrl)
    assert isinstance(flow.receive(redirect(step, iss=ISSUER)), HttpRequest)


def test_matching_iss_is_accepted_when_not_advertised() -> None:
    flow, step = to_browser(AuthorizationCode("app", REDIRECT))
    assert isinstance(flow.receive(redirect(step, iss=ISSUER)), HttpRequest)


def test_redirect_uri_is_required() -> None:
    with pytest.raises(ValueError, match="needs a redirect_uri"):
        AuthorizationCode("app").flow(request_token())
    flow = AuthorizationCode("app").flow(request_token(), redirect_uri=REDIRECT)
    assert flow.start() is not None


def test_refresh_is_used_when_the_core_allows_it() -> None:
    source = AuthorizationCode("app", REDIRECT)
    flow, browser = to_browser(source)
    assert isinstance(flow.receive(redirect(browser)), HttpRequest)
    held = finished(flow.receive(json_response(token_json(refresh_token="RT-secret"))))
    flow = source.flow(request_token(can_refresh=True, current_token=held))
    step, sent = run(flow, [("POST", TOKEN_URL, json_response(token_json()))])
    assert finished(step).refresh_token == "RT-secret"
    assert form(sent[-1])["grant_type"] == "refresh_token"


def test_a_refresh_token_from_elsewhere_is_not_sent_to_a_discovered_server() -> None:
    from sansio_upscope import Token

    # Discovered, not configured: a refresh token this source never saw issued may come
    # from any authorization server, so it is not sent; the user authorizes again.
    held = Token("old", scopes={"read"}, refresh_token="RT-secret")
    flow = AuthorizationCode("app", REDIRECT).flow(
        request_token(can_refresh=True, current_token=held)
    )
    step, _ = run(flow, DISCOVERY)
    assert isinstance(step, OpenAuthorizationUrl)


# -- registration ---------------------------------------------------------------------


@pytest.mark.parametrize("echoed", [None, "none"])
def test_a_client_registered_as_public_stays_public_when_handed_a_secret(
    echoed: str | None,
) -> None:
    # An authorization server that lists only `none` yet returns a client_secret from
    # registration (we asked for token_endpoint_auth_method none): the code exchange
    # and every later refresh stay public, and the secret is never sent.
    source = AuthorizationCode(redirect_uri=REDIRECT)
    document = asm(registration_endpoint=REG_URL, token_endpoint_auth_methods_supported=["none"])
    flow, step, _ = registration_flow(source, document)
    answer = {"client_id": "dyn-1", "client_secret": "dyn-secret"}
    if echoed is not None:
        answer["token_endpoint_auth_method"] = echoed
    opened = flow.receive(json_response(answer, status=201))
    assert isinstance(opened, OpenAuthorizationUrl)
    code_request = flow.receive(redirect(opened))
    assert isinstance(code_request, HttpRequest)
    assert code_request.header("authorization") is None
    assert form(code_request)["client_id"] == "dyn-1" and "client_secret" not in form(code_request)
    held = finished(flow.receive(json_response(token_json(refresh_token="RT-1"))))
    # A refresh reuses the stored client, still public.
    # (The metadata is cached: the refresh is the first request.)
    step = source.flow(request_token(can_refresh=True, current_token=held)).start()
    assert isinstance(step, HttpRequest) and form(step)["grant_type"] == "refresh_token"
    assert step.header("authorization") is None and "client_secret" not in form(step)


def registration_flow(
    source: AuthorizationCode, document: dict[str, Any], **rt: Any
) -> tuple[TokenFlow, Step, list[HttpRequest]]:
    flow = source.flow(request_token(**rt))
    step, sent = run(
        flow, [("GET", PRM_URL, json_response(prm())), ("GET", ASM_URL, json_response(document))]
    )
    return flow, step, sent


def test_dynamic_registration_then_reuse_from_the_store() -> None:
    store = InMemoryClientStore()
    source = AuthorizationCode(redirect_uri=REDIRECT, client_store=store, client_name="my app")
    flow, step, _ = registration_flow(source, asm(registration_endpoint=REG_URL))
    assert isinstance(step, HttpRequest) and (step.method, step.url) == ("POST", REG_URL)
    assert step.header("content-type") == "application/json"
    assert json.loads(step.body or b"") == {
        "client_name": "my app",
        "application_type": "native",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    answer = {"client_id": "dyn-1", "client_secret": "dyn-secret", "token_endpoint_auth_method":
              "client_secret_post"}  # fmt: skip
    opened = flow.receive(json_response(answer, status=201))
    assert isinstance(opened, OpenAuthorizationUrl)
    assert query(opened.url)["client_id"] == "dyn-1"
    stored = store.get(ISSUER)
    assert stored == RegisteredClient(
        client_id="dyn-1",
        client_secret="dyn-secret",
        token_endpoint_auth_method="client_secret_post",
    )
    assert "dyn-secret" not in repr(stored) and ISSUER in repr(store)
    code_request = flow.receive(redirect(opened))
    assert isinstance(code_request, HttpRequest)
    assert form(code_request)["client_secret"] == "dyn-secret"  # as registered
    # A second flow for the same issuer uses the stored client: no registration.
    second = source.flow(request_token())
    assert isinstance(second.start(), OpenAuthorizationUrl)


@pytest.mark.parametrize("scopes", [(), ("read",), ("read", "write")])
def test_registration_names_no_scope(scopes: tuple[str, ...]) -> None:
    # Regression (oidc-provider 9 answered invalid_client_metadata to scope="read"): the
    # client outlives this request's scopes, so registration names none; the
    # authorization request carries them.
    source = AuthorizationCode(redirect_uri=REDIRECT)
    flow, step, _ = registration_flow(source, asm(registration_endpoint=REG_URL), scopes=scopes)
    assert isinstance(step, HttpRequest) and "scope" not in json.loads(step.body or b"")
    opened = flow.receive(json_response({"client_id": "dyn-1"}, status=201))
    assert isinstance(opened, OpenAuthorizationUrl)
    assert query(opened.url).get("scope", "") == " ".join(sorted(scopes))


def test_client_id_metadata_document_is_preferred_over_registration() -> None:
    cimd = "https://app.example/client.json"
    source = AuthorizationCode(redirect_uri=REDIRECT, client_metadata_url=cimd)
    document = asm(registration_endpoint=REG_URL, client_id_metadata_document_supported=True)
    _, step, _ = registration_flow(source, document)
    assert isinstance(step, OpenAuthorizationUrl) and query(step.url)["client_id"] == cimd


def test_cimd_url_is_not_used_when_the_server_does_not_support_it() -> None:
    source = AuthorizationCode(redirect_uri=REDIRECT, client_metadata_url="https://a.example/c")
    _, step, _ = registration_flow(source, asm(registration_endpoint=REG_URL))
    assert isinstance(step, HttpRequest) and step.url == REG_URL


def test_no_way_to_get_a_client_id() -> None:
    _, step, _ = registration_flow(AuthorizationCode(redirect_uri=REDIRECT), asm())
    assert "neither Client ID Metadata Documents" in str(failed(step, RegistrationError))


@pytest.mark.parametrize(
    ("status", "document", "kind", "problem"),
    [
        (400, {"error": "invalid_redirect_uri", "error_description": "no"}, RegistrationError,
         "invalid_redirect_uri"),
        (201, {"client_secret": "x"}, RegistrationError, "no client_id"),
        (201, ["x"], InvalidResponseError, "not an object"),
    ],
)  # fmt: skip
def test_registration_failures(
    status: int, document: Any, kind: type[RegistrationError], problem: str
) -> None:
    flow, step, _ = registration_flow(
        AuthorizationCode(redirect_uri=REDIRECT), asm(registration_endpoint=REG_URL)
    )
    assert isinstance(step, HttpRequest)
    assert problem in str(failed(flow.receive(json_response(document, status=status)), kind))


def test_public_client_code_exchange_after_full_flow_finishes() -> None:
    flow, step = to_browser(AuthorizationCode("app", REDIRECT))
    request = flow.receive(redirect(step))
    assert isinstance(request, HttpRequest)
    assert isinstance(flow.receive(json_response(token_json())), Finished)


def test_no_scope_at_all_omits_the_parameter() -> None:
    _, step = to_browser(AuthorizationCode("app", REDIRECT), scopes=())
    assert "scope" not in query(step.url) and "acr_values" not in query(step.url)


def test_offline_access_asks_for_consent() -> None:
    _, step = to_browser(AuthorizationCode("app", REDIRECT), scopes=("read", "offline_access"))
    assert query(step.url)["prompt"] == "consent"  # OpenID Connect Core §11
    _, step = to_browser(AuthorizationCode("app", REDIRECT), scopes=("read",))
    assert "prompt" not in query(step.url)
