"""client_credentials (RFC 6749 §4.4), client authentication (§2.3), token responses
(§5.1, §5.2) and refresh (§6), driven by hand with an explicit token endpoint."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from sansio_upscope import LocalProtocolError, Reason, Token
from sansio_upscope.oauth import (
    AuthorizationRedirect,
    ClientCredentials,
    Failed,
    HttpRequest,
    HttpResponse,
    InsecureEndpointError,
    InvalidResponseError,
    MetadataError,
    Phase,
    RegistrationError,
    Step,
    TokenEndpointError,
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
    prm,
    request_token,
    run,
    token_json,
)


def explicit(secret: str | None = "s3cret", **kwargs: Any) -> ClientCredentials:
    return ClientCredentials("agent", secret, token_endpoint=TOKEN_URL, **kwargs)


def one_token_request(
    source: ClientCredentials, response: HttpResponse, **rt: Any
) -> tuple[Step, HttpRequest]:
    step, sent = run(
        source.flow(request_token(**rt), now=100.0),
        [("POST", TOKEN_URL, response)],
    )
    return step, sent[0]


def test_client_credentials_golden_request() -> None:
    step, sent = one_token_request(explicit(), json_response(token_json(scope="read")))
    assert form(sent) == {
        "grant_type": "client_credentials",
        "resource": RS,
        "scope": "read",
    }
    assert sent.header("content-type") == "application/x-www-form-urlencoded"
    basic = base64.b64decode(str(sent.header("authorization")).split()[1]).decode()
    assert basic == "agent:s3cret"
    token = finished(step)
    assert (token.access_token, token.scopes, token.expires_at) == (
        "AT-secret",
        frozenset({"read"}),
        3700.0,
    )


def test_basic_auth_form_encodes_id_and_secret() -> None:
    source = ClientCredentials("a:b c", "p&ss/+", token_endpoint=TOKEN_URL)
    _, sent = one_token_request(source, json_response(token_json()))
    basic = base64.b64decode(str(sent.header("authorization")).split()[1]).decode()
    assert basic == "a%3Ab%20c:p%26ss%2F%2B"  # RFC 6749 §2.3.1


def test_client_secret_post_and_none() -> None:
    _, sent = one_token_request(
        explicit(auth_method="client_secret_post"), json_response(token_json())
    )
    assert form(sent)["client_id"] == "agent" and form(sent)["client_secret"] == "s3cret"
    assert sent.header("authorization") is None
    _, sent = one_token_request(explicit(None), json_response(token_json()))
    assert form(sent)["client_id"] == "agent" and "client_secret" not in form(sent)


@pytest.mark.parametrize(
    ("methods", "chosen"),
    [
        (None, "client_secret_basic"),  # RFC 8414 §2 default
        (["client_secret_post", "private_key_jwt"], "client_secret_post"),
        (["client_secret_basic", "client_secret_post"], "client_secret_basic"),
    ],
)
def test_auth_method_is_chosen_from_server_metadata(methods: list[str] | None, chosen: str) -> None:
    source = ClientCredentials("agent", "s3cret", issuer=ISSUER)
    step, sent = run(
        source.flow(request_token()),
        [
            ("GET", ASM_URL, json_response(asm(token_endpoint_auth_methods_supported=methods))),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    finished(step)
    used = "client_secret_basic" if sent[1].header("authorization") else "client_secret_post"
    assert used == chosen


@pytest.mark.parametrize(
    ("methods", "chosen"),
    [
        (["none"], "none"),  # a secret the server does not want: not sent
        (["private_key_jwt", "none"], "none"),
        (["client_secret_post", "none"], "client_secret_post"),
    ],
)
def test_a_confidential_client_falls_back_to_none_where_the_server_allows_it(
    methods: list[str], chosen: str
) -> None:
    source = ClientCredentials("agent", "s3cret", issuer=ISSUER)
    document = asm(token_endpoint_auth_methods_supported=methods)
    step, sent = run(
        source.flow(request_token()),
        [
            ("GET", ASM_URL, json_response(document)),
            ("POST", TOKEN_URL, json_response(token_json())),
        ],
    )
    finished(step)
    assert sent[1].header("authorization") is None and form(sent[1])["client_id"] == "agent"
    assert ("client_secret" in form(sent[1])) == (chosen == "client_secret_post")


def test_no_common_auth_method_fails_before_sending_the_secret() -> None:
    source = ClientCredentials("agent", "s3cret", issuer=ISSUER)
    document = asm(token_endpoint_auth_methods_supported=["private_key_jwt", "tls_client_auth"])
    step, sent = run(source.flow(request_token()), [("GET", ASM_URL, json_response(document))])
    message = str(failed(step, MetadataError))
    # Both lists: what the server offers, and what this client can do.
    assert "['private_key_jwt', 'tls_client_auth']" in message
    assert "['client_secret_basic', 'client_secret_post', 'none']" in message
    assert "s3cret" not in message
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auth_method": "tls_client_auth"}, "auth_method must be one of"),
        ({"auth_method": "private_key_jwt"}, "needs a private_key"),
        ({"auth_method": "client_secret_basic", "client_secret": None}, "needs a client_secret"),
    ],
)
def test_bad_auth_method_configuration(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientCredentials("agent", **kwargs)  # type: ignore[arg-type]


def test_secret_over_plain_http_is_refused() -> None:
    source = ClientCredentials("agent", "s3cret", token_endpoint="http://as.example/token")
    error = failed(source.flow(request_token()).start(), InsecureEndpointError)
    assert "s3cret" not in str(error) and "http://as.example/token" in str(error)
    loopback = ClientCredentials("agent", "s3cret", token_endpoint="http://127.0.0.1:1/token")
    assert loopback.flow(request_token()).start().url == "http://127.0.0.1:1/token"  # type: ignore[union-attr]


def test_empty_scope_is_omitted_and_token_keeps_none() -> None:
    step, sent = one_token_request(explicit(), json_response(token_json()), scopes=())
    assert "scope" not in form(sent)
    assert finished(step).scopes is None


def test_narrower_granted_scope_is_recorded() -> None:
    step, _ = one_token_request(
        explicit(), json_response(token_json(scope="read")), scopes=("read", "write")
    )
    assert finished(step).scopes == frozenset({"read"})


def test_missing_scope_means_requested_scope() -> None:
    step, _ = one_token_request(explicit(), json_response(token_json()), scopes=("a", "b"))
    assert finished(step).scopes == frozenset({"a", "b"})


@pytest.mark.parametrize(
    ("extra", "expires_at"),
    [({"expires_in": None}, None), ({"expires_in": "60"}, 160.0), ({"expires_in": 0.5}, 100.5)],
)
def test_expires_in(extra: dict[str, object], expires_at: float | None) -> None:
    step, _ = one_token_request(explicit(), json_response(token_json(**extra)))
    assert finished(step).expires_at == expires_at


def test_without_now_there_is_no_expiry() -> None:
    flow = explicit().flow(request_token())
    flow.start()
    assert finished(flow.receive(json_response(token_json()))).expires_at is None
    flow = explicit().flow(request_token())
    flow.start()
    token = finished(flow.receive(json_response(token_json()), now=50.0))
    assert token.expires_at == 3650.0


@pytest.mark.parametrize("token_type", ["bearer", "Bearer", "BEARER"])
def test_token_type_is_case_insensitive(token_type: str) -> None:
    step, _ = one_token_request(explicit(), json_response(token_json(token_type=token_type)))
    assert finished(step).token_type == "Bearer"  # DPoP: tests/test_oauth_jwt.py


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (token_json(token_type="mac"), "token_type 'mac'"),
        (token_json(token_type=None), "token_type None"),
        (token_json(access_token=""), "has no access_token"),
        (token_json(access_token=None), "has no access_token"),
        (token_json(expires_in=-1), "invalid expires_in (int)"),
        (token_json(expires_in=True), "invalid expires_in (bool)"),
        (["AT"], "not an object (list)"),
    ],
)
def test_invalid_successful_token_responses(document: object, problem: str) -> None:
    step, _ = one_token_request(explicit(), json_response(document))
    error = failed(step, InvalidResponseError)
    assert problem in str(error)
    assert "AT-secret" not in str(error)


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (HttpResponse(status_code=200, body=b'{"access_token": "AT-secret", "tok'), "not JSON"),
        (HttpResponse(status_code=200, body=b"\xff\xfe"), "not UTF-8"),
        (HttpResponse(status_code=502, headers=[("Content-Type", "text/html")], body=b"<html>"),
         "failed (5xx)"),
        (HttpResponse(status_code=400, body=b"<html>"), "not JSON"),
        (json_response({"message": "no"}, status=401), "without an OAuth error code"),
    ],
)  # fmt: skip
def test_unparseable_token_responses_are_typed_errors(response: HttpResponse, problem: str) -> None:
    step, _ = one_token_request(explicit(), response)
    error = failed(step, InvalidResponseError)
    assert problem in str(error)
    assert "AT-secret" not in str(error) and "s3cret" not in str(error)


@pytest.mark.parametrize(
    "code", ["invalid_scope", "invalid_grant", "invalid_client", "invalid_target", "unknown_x"]
)
def test_token_endpoint_error_codes(code: str) -> None:
    response = json_response(
        {"error": code, "error_description": "nope", "error_uri": "https://as.example/e"},
        status=400,
    )
    step, _ = one_token_request(explicit(), response, scopes=("read", "write"))
    error = failed(step, TokenEndpointError)
    assert (error.error, error.error_description, error.status_code) == (code, "nope", 400)
    assert error.error_uri == "https://as.example/e"
    message = str(error)
    assert f"error={code!r}" in message and "scope=read write" in message
    assert "HTTP 400" in message and TOKEN_URL in message
    assert "s3cret" not in message


def test_use_dpop_nonce_carries_the_nonce() -> None:
    response = json_response({"error": "use_dpop_nonce"}, status=400, **{"DPoP-Nonce": "n-1"})
    step, _ = one_token_request(explicit(), response)
    error = failed(step, TokenEndpointError)
    assert (error.error, error.dpop_nonce) == ("use_dpop_nonce", "n-1")
    assert "DPoP proof" in str(error)


def test_error_description_of_wrong_type_is_dropped() -> None:
    response = json_response({"error": "invalid_client", "error_description": 7}, status=401)
    step, _ = one_token_request(explicit(), response, scopes=())
    error = failed(step, TokenEndpointError)
    assert error.error_description is None and "scope=(none)" in str(error)


@pytest.mark.parametrize(
    "access_token",
    ["AT secret", "AT-secret\n", "AT-secret\r\nX-Injected: 1", "AT-sécret", "=AT", "AT=x", '"AT"'],
)
def test_an_access_token_that_is_not_b64token_is_refused_unquoted(access_token: str) -> None:
    # RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    step, _ = one_token_request(explicit(), json_response(token_json(access_token=access_token)))
    error = failed(step, InvalidResponseError)
    assert "b64token" in str(error)
    for shown in (str(error), repr(error)):
        assert access_token.strip() not in shown and "secret" not in shown


@pytest.mark.parametrize("access_token", ["a", "AT.b-c_d~e+f/g", "QVQ=", "QQ=="])
def test_every_b64token_is_accepted(access_token: str) -> None:
    step, _ = one_token_request(explicit(), json_response(token_json(access_token=access_token)))
    assert finished(step).access_token == access_token


# -- refresh (RFC 6749 §6) --------------------------------------------------------------


def held(scopes: frozenset[str] | None = frozenset({"read", "write"})) -> Token:
    return Token("old-AT", scopes=scopes, refresh_token="RT-secret")


def test_refresh_when_the_core_says_it_can_serve() -> None:
    step, sent = one_token_request(
        explicit(),
        json_response(token_json(access_token="new-AT")),
        scopes=("read",),
        can_refresh=True,
        current_token=held(),
        reason=Reason.EXPIRED,
    )
    assert form(sent) == {
        "grant_type": "refresh_token",
        "refresh_token": "RT-secret",
        "resource": RS,
        "scope": "read",
    }
    token = finished(step)
    assert token.access_token == "new-AT"
    assert token.refresh_token == "RT-secret"  # §6: no new one issued, keep the old
    assert token.scopes == frozenset({"read"})


def test_refresh_without_scope_keeps_the_previous_grant() -> None:
    step, sent = one_token_request(
        explicit(),
        json_response(token_json(refresh_token="RT-2")),
        scopes=(),
        can_refresh=True,
        current_token=held(),
    )
    assert "scope" not in form(sent)
    token = finished(step)
    assert (token.scopes, token.refresh_token) == (frozenset({"read", "write"}), "RT-2")


def test_no_refresh_unless_the_core_allows_it() -> None:
    _, sent = one_token_request(
        explicit(), json_response(token_json()), can_refresh=False, current_token=held()
    )
    assert form(sent)["grant_type"] == "client_credentials"
    _, sent = one_token_request(
        explicit(), json_response(token_json()), can_refresh=True, current_token=None
    )
    assert form(sent)["grant_type"] == "client_credentials"


# -- a refresh token goes only to the authorization server that issued it ---------------

AS2 = "https://as2.example"
OTHER_PRM = "https://rs.example/moved/prm.json"


def discovered_token(source: ClientCredentials, refresh_token: str, *, first: bool) -> Token:
    discovery = [
        ("GET", PRM_URL, prm()),
        ("GET", ASM_URL, asm()),
    ]
    script = [(m, u, json_response(d)) for m, u, d in discovery] if first else []
    script.append(("POST", TOKEN_URL, json_response(token_json(refresh_token=refresh_token))))
    step, _ = run(source.flow(request_token()), script)
    return finished(step)


def test_no_credential_is_sent_to_another_authorization_server() -> None:
    # RFC 9728 §5.2 / SEP-2352: the resource's metadata moved and now names another
    # server. RFC 6749 §10.4: the refresh token belongs to the server that issued it;
    # the client id and secret were used at the first one: none of them go to AS2.
    source = ClientCredentials("agent", "s3cret")
    held_token = discovered_token(source, "RT-as1-secret", first=True)
    moved = request_token(resource_metadata=OTHER_PRM, can_refresh=True, current_token=held_token)
    step, sent = run(
        source.flow(moved),
        [
            ("GET", OTHER_PRM, json_response({"resource": RS, "authorization_servers": [AS2]})),
            (
                "GET",
                AS2 + "/.well-known/oauth-authorization-server",
                json_response(asm(AS2, token_endpoint=AS2 + "/token")),
            ),
        ],
    )
    error = failed(step, RegistrationError)
    assert AS2 in str(error) and ISSUER in str(error) and "SEP-2352" in str(error)
    assert f"issuer={AS2!r}" in str(error) and "s3cret" not in str(error)
    assert [request.method for request in sent] == ["GET", "GET"]
    # Configured for AS2, the same client may go there.
    source = ClientCredentials("agent", "s3cret", issuer=AS2)
    step, sent = run(
        source.flow(request_token()),
        [
            (
                "GET",
                AS2 + "/.well-known/oauth-authorization-server",
                json_response(asm(AS2, token_endpoint=AS2 + "/token")),
            ),
            ("POST", AS2 + "/token", json_response(token_json(refresh_token="RT-as2"))),
        ],
    )
    assert form(sent[-1])["grant_type"] == "client_credentials"
    assert finished(step).refresh_token == "RT-as2"


def test_a_refresh_token_is_used_at_the_server_that_issued_it() -> None:
    source = ClientCredentials("agent", "s3cret")
    held_token = discovered_token(source, "RT-secret", first=True)
    step, sent = run(
        source.flow(request_token(can_refresh=True, current_token=held_token)),
        [("POST", TOKEN_URL, json_response(token_json()))],
    )
    assert form(sent[0])["refresh_token"] == "RT-secret"
    # Kept (§6: none issued) and still known to come from the same server.
    again = finished(step)
    _, sent = run(
        source.flow(request_token(can_refresh=True, current_token=again)),
        [("POST", TOKEN_URL, json_response(token_json()))],
    )
    assert form(sent[0])["grant_type"] == "refresh_token"


def test_the_memory_of_refresh_token_issuers_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sansio_upscope.oauth._sources.MAX_REMEMBERED_REFRESH_TOKENS", 2)
    source = ClientCredentials("agent", "s3cret")
    oldest = discovered_token(source, "RT-1", first=True)
    discovered_token(source, "RT-2", first=False)
    newest = discovered_token(source, "RT-3", first=False)
    for token, grant in ((oldest, "client_credentials"), (newest, "refresh_token")):
        _, sent = run(
            source.flow(request_token(can_refresh=True, current_token=token)),
            [("POST", TOKEN_URL, json_response(token_json()))],
        )
        assert form(sent[0])["grant_type"] == grant


def test_a_configured_issuer_gets_the_secret_and_refresh_whatever_the_challenge_names() -> None:
    # With issuer= configured, metadata a resource names is never fetched: the client
    # secret and the refresh token go only to the configured authorization server.
    source = ClientCredentials("agent", "s3cret", issuer=ISSUER)
    rt = request_token(
        resource_metadata="https://evil.example/prm", can_refresh=True, current_token=held()
    )
    _, sent = run(
        source.flow(rt),
        [("GET", ASM_URL, json_response(asm())), ("POST", TOKEN_URL, json_response(token_json()))],
    )
    assert [request.url for request in sent] == [ASM_URL, TOKEN_URL]
    assert form(sent[1])["grant_type"] == "refresh_token"


def test_refused_refresh_falls_back_to_a_new_grant() -> None:
    flow = explicit().flow(request_token(can_refresh=True, current_token=held()))
    assert form(flow.start())["grant_type"] == "refresh_token"  # type: ignore[arg-type]
    step = flow.receive(json_response({"error": "invalid_grant"}, status=400))
    assert form(step)["grant_type"] == "client_credentials"  # type: ignore[arg-type]
    assert finished(flow.receive(json_response(token_json()))).refresh_token is None


def test_other_refresh_errors_fail() -> None:
    flow = explicit().flow(request_token(can_refresh=True, current_token=held()))
    flow.start()
    step = flow.receive(json_response({"error": "invalid_client"}, status=401))
    assert failed(step, TokenEndpointError).error == "invalid_client"


# -- API misuse and logging ---------------------------------------------------------------


def test_misuse_raises_local_protocol_error() -> None:
    flow = explicit().flow(request_token())
    with pytest.raises(LocalProtocolError, match="phase start"):
        flow.receive(json_response({}))
    flow.start()
    with pytest.raises(LocalProtocolError, match="start"):
        flow.start()
    with pytest.raises(LocalProtocolError, match="AuthorizationRedirect"):
        flow.receive(AuthorizationRedirect(url="x"))
    assert flow.phase is Phase.TOKEN
    flow.receive(json_response(token_json()))
    assert "phase=done" in repr(flow)
    with pytest.raises(LocalProtocolError, match="phase done"):
        flow.receive(json_response({}))


def test_log_lines_carry_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sansio_upscope.oauth")
    source = ClientCredentials("agent", "s3cret", issuer=ISSUER)
    flow = source.flow(request_token(can_refresh=True, current_token=held()))
    step, _ = run(
        flow,
        [
            ("GET", ASM_URL, json_response(asm())),
            ("POST", TOKEN_URL, json_response({"error": "invalid_grant"}, status=400)),
            ("POST", TOKEN_URL, json_response({"error": "invalid_scope"}, status=400)),
        ],
    )
    assert isinstance(step, Failed)
    text = caplog.text
    assert "grant_type=client_credentials" in text and "TokenEndpointError" in text
    for secret in ("s3cret", "RT-secret", "AT-secret", "old-AT"):
        assert secret not in text
    assert "s3cret" not in repr(source)


def test_a_refresh_token_from_another_process_is_used_once_its_issuer_is_remembered() -> None:
    # A token store hands a new process a refresh token and the authorization server that
    # issued it (RFC 6749 §10.4): the new source refreshes there instead of a new grant.
    first = ClientCredentials("agent", "s3cret")
    stored = discovered_token(first, "RT-stored", first=True)
    issuer = first.refresh_token_issuer("RT-stored")
    assert issuer == ISSUER
    assert first.refresh_token_issuer("RT-unknown") is None
    for remember, grant in ((False, "client_credentials"), (True, "refresh_token")):
        second = ClientCredentials("agent", "s3cret")
        if remember:
            second.remember_refresh_token("RT-stored", issuer)
        discovery = [("GET", PRM_URL, prm()), ("GET", ASM_URL, asm())]
        script = [(m, u, json_response(d)) for m, u, d in discovery]
        script.append(("POST", TOKEN_URL, json_response(token_json())))
        _, sent = run(second.flow(request_token(can_refresh=True, current_token=stored)), script)
        assert form(sent[-1])["grant_type"] == grant
