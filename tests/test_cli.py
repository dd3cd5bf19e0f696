"""The ``upscope`` command: in-process through ``main(argv)`` and as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from upscope_cli import EXIT_OK, EXIT_USAGE
from upscope_cli.__main__ import main

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
