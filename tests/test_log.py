"""The logging helper: logger names, and redaction that never lets a secret through."""

from __future__ import annotations

import io
import logging

import pytest

from sansio_upscope._log import (
    REDACTED,
    ROOT_LOGGER,
    RedactingFilter,
    get_logger,
    redact,
    redact_headers,
)

SECRET = "s3cr3t-VALUE_9z"

# (text holding SECRET, what must survive around it)
SECRET_CASES = [
    (f"Authorization: Bearer {SECRET}", "Authorization: Bearer "),
    (f"authorization: bearer {SECRET}==", "authorization: bearer "),
    (f"DPoP {SECRET}", "DPoP "),
    (f"Basic {SECRET}", "Basic "),
    (f'{{"access_token": "{SECRET}", "token_type": "Bearer"}}', '"token_type": "Bearer"'),
    (f'{{"refresh_token":"{SECRET}\\"x"}}', '"refresh_token":'),
    (f"https://app.example/cb?code={SECRET}&state=abc", "&state=abc"),
    (f"grant_type=client_credentials&client_secret={SECRET}", "grant_type=client_credentials"),
    (f"code_verifier={SECRET} rest", " rest"),
    (f"CLIENT_SECRET={SECRET}", "CLIENT_SECRET="),
    (f"Bearer token{SECRET}", "Bearer "),
    # JWTs anywhere (assertions, ID tokens, ID-JAGs, DPoP proofs) and PEM private keys.
    (f"proof eyJhbGciOiJFUzI1NiJ9.eyJ{SECRET}.c2ln-_ sent", "proof <redacted> sent"),
    (f"subject_token=eyJ0eXAiOiJKV1QifQ.eyJ{SECRET}.&x=1", "&x=1"),
    (f"key -----BEGIN EC PRIVATE KEY-----\n{SECRET}\n-----END EC PRIVATE KEY----- ok", " ok"),
    (f"-----BEGIN PRIVATE KEY-----\n{SECRET} (cut short)", ""),
]


@pytest.mark.parametrize(("text", "kept"), SECRET_CASES)
def test_redact_removes_the_secret_and_keeps_the_rest(text: str, kept: str) -> None:
    out = redact(text)
    assert SECRET not in out
    assert REDACTED in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        'Bearer error="insufficient_scope", scope="files:read files:write"',
        'Bearer realm="example", error="invalid_token"',
        "Bearer realm=example",
        'DPoP algs="ES256 PS256", error="use_dpop_nonce"',
        'Bearer scope = "a"',
        "requested a Bearer token (generation 2) for scopes a b",
        "Basic challenge ignored; DPoP credentials absent",
        "error_code=5 x_code=7 token_type=Bearer",
        "status 403, 2 challenges",
    ],
)
def test_redact_leaves_text_without_secrets_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_headers_replaces_credential_fields_whole() -> None:
    headers: list[tuple[str | bytes, str | bytes]] = [
        (b"Authorization", f"Bearer {SECRET}".encode()),
        ("Cookie", f"session={SECRET}"),
        ("DPoP", f"eyJ.{SECRET}.sig"),
        ("Location", f"https://app.example/cb?code={SECRET}"),
        ("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="a"'),
    ]
    out = redact_headers(headers)
    assert [name for name, _ in out] == [
        "Authorization",
        "Cookie",
        "DPoP",
        "Location",
        "WWW-Authenticate",
    ]
    assert out[0] == ("Authorization", REDACTED)
    assert out[1] == ("Cookie", REDACTED)
    assert out[2] == ("DPoP", REDACTED)
    assert out[3] == ("Location", f"https://app.example/cb?code={REDACTED}")
    assert out[4] == ("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="a"')
    assert SECRET not in repr(out)


def test_loggers_live_under_the_package_name() -> None:
    log = get_logger("machine")
    assert log.name == f"{ROOT_LOGGER}.machine" == "sansio_upscope.machine"
    assert log is logging.getLogger("sansio_upscope.machine")


def test_redacting_filter_cleans_formatted_records() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    log = get_logger("test_redacting_filter")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        log.debug("sent %s with scopes %s", f"Authorization: Bearer {SECRET}", "a b")
        log.info("token response %s", {"access_token": SECRET})
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert SECRET not in stream.getvalue()
    assert lines[0] == (
        f"sansio_upscope.test_redacting_filter sent Authorization: Bearer {REDACTED} "
        "with scopes a b"
    )
    assert lines[1].endswith(f"{{'access_token': '{REDACTED}'}}")
