"""``upscope``: the command-line entry point (``main(argv) -> exit code``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from sansio_upscope.redaction import ROOT_LOGGER, RedactingFilter

from ._demo import ADAPTERS, run_demo
from ._demo_store import run_store_demo
from ._exit import EXIT_USAGE, UsageError
from ._parse import run_parse
from ._request import run_request

__all__ = ["build_parser", "main"]

_DEFAULT_URL = "https://resource.example/api"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upscope",
        description="OAuth step-up (403 insufficient_scope and friends), from the shell.",
        epilog="Exit codes: 0 ok, 1 refused or gave up, 2 bad usage or input, 3 network.",
    )
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log the library's decisions (the sansio_upscope loggers, DEBUG) to stderr",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "parse",
        parents=[verbose],
        help="parse WWW-Authenticate values and show what the machine does with them",
        description=(
            "Parse WWW-Authenticate field values (arguments, or header lines on stdin), "
            "show the challenges, flag grammar errors with their position, and show "
            "what the state machine does with them on a 401 and on a 403."
        ),
    )
    p.add_argument("values", nargs="*", metavar="VALUE", help="one field value per argument")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--strict", action="store_true", help="exit 2 when the value breaks the grammar")
    p.add_argument(
        "--url",
        default=_DEFAULT_URL,
        help=f"the request URL in the simulation (default {_DEFAULT_URL})",
    )
    p.add_argument(
        "--granted",
        default="",
        metavar="SCOPES",
        help="space-separated scopes the token sent in the simulation holds (default none)",
    )

    d = commands.add_parser(
        "demo",
        parents=[verbose],
        help="watch a step-up from end to end on 127.0.0.1",
        description=(
            "Start an OAuth authorization server and a protected API on 127.0.0.1, run a "
            "client that meets 401 and 403 insufficient_scope challenges, and print what "
            "happens: requests, challenges, the machine's actions, token requests."
        ),
    )
    d.add_argument("--adapter", choices=ADAPTERS, default="asyncio", help="default asyncio")
    d.add_argument(
        "--store",
        action="store_true",
        help="two processes share a token store (FileStore): the second makes no token request",
    )

    r = commands.add_parser(
        "request",
        parents=[verbose],
        help="a curl-like call that steps up as the server asks",
        description=(
            "Call URL; answer 401/403 challenges with OAuth client credentials, or with "
            "--authorize the authorization code flow in the browser. The body goes to "
            "stdout. The client secret comes from --client-secret-env or a prompt."
        ),
    )
    r.add_argument("url", metavar="URL")
    r.add_argument("-X", "--request", dest="method", metavar="METHOD", help="default GET")
    r.add_argument("-d", "--data", metavar="DATA", help="request body; @FILE reads a file")
    r.add_argument(
        "-H", "--header", action="append", default=[], metavar="'Name: value'", help="repeatable"
    )
    r.add_argument(
        "--client-id",
        metavar="ID",
        help="required for client credentials; with --authorize, omit it to register "
        "(RFC 7591 dynamic registration or a client ID metadata document)",
    )
    r.add_argument(
        "--client-secret-env",
        metavar="VAR",
        help="read the client secret from this environment variable (else a prompt)",
    )
    r.add_argument(
        "--scope", action="append", default=[], metavar="S", help="ask for S in every token"
    )
    r.add_argument(
        "--authorize",
        action="store_true",
        help="authorization code flow with PKCE in the browser, loopback redirect",
    )
    return parser


def _setup_logging(stderr: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("  [%(name)s] %(message)s"))
    root = logging.getLogger(ROOT_LOGGER)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return handler


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command; return its exit code (see docs/cli.md)."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage error already
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    handler = _setup_logging(stderr) if args.verbose else None
    try:
        if args.command == "parse":
            return run_parse(
                args.values,
                stdin=stdin,
                stdout=stdout,
                as_json=args.json,
                strict=args.strict,
                url=args.url,
                granted=args.granted,
            )
        if args.command == "demo":
            if args.store:
                return run_store_demo(args.adapter, stdout=stdout)
            return run_demo(args.adapter, stdout=stdout)
        if args.command == "request":
            return run_request(
                url=args.url,
                method=args.method,
                data=args.data,
                headers=args.header,
                client_id=args.client_id,
                client_secret_env=args.client_secret_env,
                scopes=args.scope,
                authorize=args.authorize,
                verbose=args.verbose,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
            )
        raise AssertionError(f"unknown command {args.command!r}")  # argparse prevents it
    except UsageError as e:
        stderr.write(f"upscope {args.command}: {e}\n")
        return EXIT_USAGE
    finally:
        if handler is not None:
            root = logging.getLogger(ROOT_LOGGER)
            root.removeHandler(handler)
            root.setLevel(logging.NOTSET)


def _entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
