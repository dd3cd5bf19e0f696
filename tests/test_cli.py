"""The ``upscope`` command: in-process through ``main(argv)`` and as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from upscope_cli import EXIT_NETWORK, EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from upscope_cli.__main__ import main
from upscope_cli._demo import ADAPTERS
from upscope_cli.servers import AuthorizationServer, ResourceServer

STEP_UP = 'Bearer error="insufficient_scope", scope="files:read files:write"'


def run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run_json(argv: list[str], stdin: str = "") -> dict[str, Any]:
    code, out, err = run([*argv, "--json"], stdin)
    assert code == EXIT_OK, err
    report: dict[str, Any] = json.loads(out)
    return report


def cli(
    *argv: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upscope_cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


# -- upscope parse ------------------------------------------------------------------------


def test_parse_shows_the_challenge_and_the_step_up_on_403() -> None:
    code, out, err = run(["parse", STEP_UP])
    assert code == EXIT_OK, err
    assert "Grammar: valid" in out
    assert "Challenge 1: scheme bearer" in out
    assert "scope (RFC 6749)   files:read files:write" in out
    on_403 = out[out.index("  on 403:") :]
    assert "403 response" in on_403
    assert "RequestToken (scopes: files:read files:write; reason: insufficient_scope" in on_403
    assert "Retry (with the token)" in on_403
    assert "403 again" in on_403
    assert "GiveUp (StepUpLoopError)" in on_403


def test_parse_json_drives_the_real_machine_on_401_and_403() -> None:
    report = run_json(["parse", STEP_UP])
    assert report["valid"] is True
    assert report["grammar_error"] is None
    [challenge] = report["challenges"]
    assert challenge["scheme"] == "bearer"
    assert challenge["bearer"]["error"] == "insufficient_scope"
    assert challenge["bearer"]["scope"] == ["files:read", "files:write"]
    for status in ("401", "403"):
        steps = report["machine"][status]
        assert [s["action"] for s in steps] == ["Send", "RequestToken", "Retry", "GiveUp"]
        assert steps[1]["scopes"] == ["files:read", "files:write"]
        assert steps[1]["reason"] == "insufficient_scope"
        assert steps[1]["resource"] == "https://resource.example/api"
        assert steps[3]["error"] == "StepUpLoopError"


def test_parse_a_403_without_insufficient_scope_is_delivered() -> None:
    report = run_json(["parse", 'Bearer error="invalid_token"'])
    assert [s["action"] for s in report["machine"]["403"]] == ["Send", "Deliver"]
    steps = report["machine"]["401"]
    assert steps[1]["action"] == "RequestToken"
    assert steps[1]["reason"] == "invalid_token"


def test_parse_granted_scopes_and_url_feed_the_simulation() -> None:
    report = run_json(
        ["parse", "--granted", "files:read", "--url", "https://mcp.example/mcp?x=1", STEP_UP]
    )
    step = report["machine"]["403"][1]
    # The union of granted and challenged scopes (SEP-2350), for the resource without query.
    assert step["scopes"] == ["files:read", "files:write"]
    assert step["resource"] == "https://mcp.example/mcp"
    assert report["machine"]["granted"] == ["files:read"]


def test_parse_reads_header_lines_from_stdin() -> None:
    stdin = 'WWW-Authenticate: Basic realm="simple"\n\nwww-authenticate: ' + STEP_UP + "\n"
    report = run_json(["parse"], stdin)
    assert report["field_lines"] == ['Basic realm="simple"', STEP_UP]
    assert [c["scheme"] for c in report["challenges"]] == ["basic", "bearer"]
    assert "bearer" not in report["challenges"][0]
    assert report["machine"]["403"][1]["action"] == "RequestToken"


def test_parse_dpop_challenge_lists_algs() -> None:
    report = run_json(["parse", 'DPoP algs="ES256 PS256", error="invalid_token"'])
    [challenge] = report["challenges"]
    assert challenge["dpop"] == {"algs": ["ES256", "PS256"]}


def test_parse_grammar_error_is_flagged_with_its_position() -> None:
    broken = 'Bearer error="insufficient_scope", scope="a b'
    code, out, _ = run(["parse", broken])
    assert code == EXIT_OK  # lenient by default: flagged, not fatal
    assert "Grammar error at offset" in out
    report = run_json(["parse", broken])
    error = report["grammar_error"]
    assert report["valid"] is False
    assert 0 <= error["offset"] <= len(broken)
    assert error["excerpt"]
    assert error["reason"]


def test_parse_strict_exits_2_on_a_grammar_error() -> None:
    code, out, _ = run(["parse", "--strict", "Bearer scope=a b=", ""])
    assert code == EXIT_USAGE
    assert "Grammar error at offset" in out
    # the caret line points at the offset in the combined value
    lines = out.splitlines()
    caret = next(i for i, line in enumerate(lines) if line.strip() == "^")
    assert lines[caret].index("^") >= 3


def test_parse_with_nothing_to_parse_is_a_usage_error() -> None:
    code, out, err = run(["parse"], stdin="\n  \n")
    assert code == EXIT_USAGE
    assert out == ""
    assert "no WWW-Authenticate value given" in err


def test_parse_rejects_a_url_that_is_not_http() -> None:
    code, _, err = run(["parse", "--url", "ftp://x/", STEP_UP])
    assert code == EXIT_USAGE
    assert "'ftp://x/' is not an http(s) URL" in err


def test_unknown_command_and_option_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == EXIT_USAGE
    assert main(["parse", "--no-such-option", STEP_UP]) == EXIT_USAGE
    assert "usage: upscope" in capsys.readouterr().err


def test_parse_verbose_logs_the_machine_to_stderr_without_the_token() -> None:
    code, _, err = run(["parse", "-v", STEP_UP])
    assert code == EXIT_OK
    assert "[sansio_upscope.machine]" in err
    assert "simulated-access-token" not in err


def test_parse_runs_as_a_program() -> None:
    result = cli("parse", "--json", STEP_UP)
    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["challenges"][0]["bearer"]["error"] == "insufficient_scope"
    result = cli("parse", "--strict", 'Bearer error="unterminated')
    assert result.returncode == EXIT_USAGE
    assert "Grammar error at offset" in result.stdout


# -- upscope demo -------------------------------------------------------------------------


@pytest.fixture
def known_tokens(monkeypatch: pytest.MonkeyPatch) -> str:
    """Make the demo authorization server issue tokens we can look for in the output."""
    counter = iter(range(1_000_000))
    marker = "tokVALUE"
    monkeypatch.setattr(
        "upscope_cli.servers._authorization_server.secrets.token_urlsafe",
        lambda n: f"{marker}{next(counter)}x",
    )
    return marker


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_demo_traces_the_step_up_and_the_loop_guard(adapter: str, known_tokens: str) -> None:
    code, out, err = run(["demo", "--adapter", adapter])
    assert code == EXIT_OK, out + err
    assert f"upscope demo on {adapter}" in out
    upload = out[out.index("2. Upload") : out.index("3. Share")]
    # the 403, the challenge as parsed, the union asked for, the retry, the 200
    assert "<- 403" in upload
    assert "parsed: bearer  error=insufficient_scope  scope=files:write" in upload
    assert "=> RequestToken: scopes files:read files:write; reason insufficient_scope" in upload
    assert 'authorization server saw: client_credentials grant, scope "files:read files:write"' in (
        upload
    )
    assert "=> Retry: POST" in upload
    assert upload.index("=> Retry") < upload.index("<- 200") < upload.index("=> Deliver")
    share = out[out.index("3. Share") : out.index("4. Read")]
    assert share.count("<- 403") == 2
    assert "=> GiveUp: StepUpLoopError" in share
    assert "result: StepUpLoopError (as expected)" in share
    assert "=> GiveUp: ScopeNotGrantedError" in out
    assert "4 of 4 steps as expected; 4 token requests in all." in out
    # never a token, never the client secret
    assert known_tokens not in out + err
    assert "demo-secret" not in out + err
    assert "Authorization: Bearer <redacted>" in out


def test_demo_runs_as_a_program_and_verbose_logs_are_redacted() -> None:
    result = cli("demo", "-v")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert "4 of 4 steps as expected" in result.stdout
    assert "[sansio_upscope.machine]" in result.stderr
    assert "demo-secret" not in result.stdout + result.stderr
    assert not re.search(r"Bearer (?!<redacted>)[A-Za-z0-9_\-]{16,}", result.stdout + result.stderr)


def test_demo_rejects_an_unknown_adapter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--adapter", "twisted"]) == EXIT_USAGE
    assert "invalid choice: 'twisted'" in capsys.readouterr().err


# -- upscope request ----------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[tuple[AuthorizationServer, ResourceServer]]:
    with AuthorizationServer() as auth, ResourceServer(auth) as resource:
        yield auth, resource


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UPSCOPE_TEST_SECRET", "demo-secret")
    return "UPSCOPE_TEST_SECRET"


def request_args(auth: AuthorizationServer, url: str, *extra: str) -> list[str]:
    return [
        "request",
        url,
        "--client-id",
        auth.client_id,
        "--client-secret-env",
        "UPSCOPE_TEST_SECRET",
        *extra,
    ]


def test_request_steps_up_and_prints_the_body(
    servers: tuple[AuthorizationServer, ResourceServer], secret_env: str
) -> None:
    auth, resource = servers
    url = resource.url + "/files/upload"
    code, out, err = run(
        request_args(auth, url, "-d", "report body", "-v", "--scope", "files:read")
    )
    assert code == EXIT_OK, err
    assert out == "report body"
    # the token request asked for the initial scope plus the challenged one, for the
    # resource the metadata names (the demo server's whole origin)
    [record] = auth.token_requests
    assert record.scopes == {"files:read", "files:write"}
    assert record.resource == resource.url
    assert record.grant_type == "client_credentials"
    # the request went out twice, the second time with the token and the same body
    first, second = resource.requests_to("/files/upload")
    assert first.authorization is None and first.body == second.body == b"report body"
    assert second.authorization is not None
    token = second.authorization.split(" ", 1)[1]
    assert "=> Retry: POST" in err and "HTTP 200" in err
    assert token not in out + err
    assert "demo-secret" not in out + err


def test_request_method_and_headers_reach_the_server(
    servers: tuple[AuthorizationServer, ResourceServer], secret_env: str, tmp_path: Path
) -> None:
    auth, resource = servers
    body = tmp_path / "body.bin"
    body.write_bytes(b"\x00\x01binary")
    url = resource.url + "/files/upload"
    code, _, err = run(request_args(auth, url, "-X", "put", "-d", f"@{body}", "-H", "X-Test: 1"))
    assert code == EXIT_OK, err
    seen = resource.requests_to("/files/upload")
    assert [s.method for s in seen] == ["PUT", "PUT"]
    assert seen[-1].body == b"\x00\x01binary"


def test_request_exit_1_when_the_machine_gives_up(
    servers: tuple[AuthorizationServer, ResourceServer], secret_env: str
) -> None:
    auth, resource = servers
    code, out, err = run(request_args(auth, resource.url + "/stubborn"))
    assert code == EXIT_REFUSED
    assert out == ""
    assert "upscope request: gave up: StepUpLoopError" in err


def test_request_exit_1_when_the_server_refuses(
    servers: tuple[AuthorizationServer, ResourceServer], secret_env: str
) -> None:
    auth, resource = servers
    code, out, err = run(request_args(auth, resource.url + "/missing"))
    assert code == EXIT_REFUSED
    assert '"not_found"' in out
    assert "the server answered 404" in err


def test_request_exit_1_when_the_token_request_is_refused(
    servers: tuple[AuthorizationServer, ResourceServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth, resource = servers
    monkeypatch.setenv("UPSCOPE_TEST_SECRET", "wrong-secret")
    code, _, err = run(request_args(auth, resource.url + "/files"))
    assert code == EXIT_REFUSED
    assert "gave up: TokenRequestFailedError" in err
    assert "invalid_client" in err
    assert "wrong-secret" not in err


def test_request_exit_3_when_the_host_is_unreachable(secret_env: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run(
        [
            "request",
            f"http://127.0.0.1:{port}/x",
            "--client-id",
            "c",
            "--client-secret-env",
            secret_env,
        ]
    )
    assert code == EXIT_NETWORK
    assert f"cannot reach http://127.0.0.1:{port}/x" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["ftp://files.example/x"], "bad URL 'ftp://files.example/x'"),
        (["http://"], "bad URL 'http://'"),
        (["http://host:port/"], "bad URL 'http://host:port/'"),
        (["http://h/", "-H", "no colon"], "bad header 'no colon'"),
        (["http://h/", "-H", "Authorization: Bearer x"], "-H 'Authorization: ...' is not allowed"),
        (["http://h/", "-d", "@/no/such/file"], "-d @/no/such/file: cannot read the file"),
        (["http://h/", "--client-secret-env", "UPSCOPE_UNSET_VAR"], "UPSCOPE_UNSET_VAR is not set"),
    ],
)
def test_request_bad_input_exits_2(
    extra: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UPSCOPE_UNSET_VAR", raising=False)
    code, out, err = run(["request", "--client-id", "c", *extra])
    assert code == EXIT_USAGE
    assert out == ""
    assert message in err


def test_request_needs_a_client_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["request", "http://h/"]) == EXIT_USAGE
    assert "--client-id" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_request_prompts_for_the_secret_on_a_terminal(
    servers: tuple[AuthorizationServer, ResourceServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth, resource = servers
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return auth.client_secret

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    out, err = io.StringIO(), io.StringIO()
    url = resource.url + "/files"
    code = main(
        ["request", url, "--client-id", auth.client_id], stdin=_Terminal(), stdout=out, stderr=err
    )
    assert code == EXIT_OK, err.getvalue()
    assert prompts == [f"Client secret for {auth.client_id} (empty for none): "]
    assert json.loads(out.getvalue()) == {"ok": True, "path": "/files"}


def test_request_runs_as_a_program(
    servers: tuple[AuthorizationServer, ResourceServer],
) -> None:
    auth, resource = servers
    result = cli(
        *request_args(auth, resource.url + "/files", "-v"),
        env={"UPSCOPE_TEST_SECRET": auth.client_secret},
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads(result.stdout) == {"ok": True, "path": "/files"}
    assert "demo-secret" not in result.stdout + result.stderr
