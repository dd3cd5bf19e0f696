"""``upscope demo``: a step-up from end to end, on 127.0.0.1, with a readable trace.

The authorization server and the protected resource are ``upscope_cli.servers``'s loopback
servers, in this process. The client is one of the adapters, given the OAuth client
credentials flow from ``sansio_upscope.oauth`` as its token source: endpoints are
discovered from the challenges (RFC 9728, RFC 8414), tokens come over HTTP.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import attrs

from sansio_upscope import StepUpError
from sansio_upscope.oauth import ClientCredentials
from sansio_upscope.scopes import format_scope
from upscope_cli.servers import AuthorizationServer, ResourceServer, Route

from ._exit import EXIT_OK, EXIT_REFUSED, UsageError
from ._trace import Trace, traced

__all__ = ["ADAPTERS", "ROUTES", "STEPS", "run_demo"]

ADAPTERS = ("asyncio", "trio", "requests")


@attrs.frozen(kw_only=True)
class Step:
    """One request of the demo and the outcome it must have: a status or an error name."""

    title: str
    method: str
    path: str
    body: bytes | None = None
    expect: int | str = 200


STEPS = (
    Step(
        title="Read /files (needs files:read). The client holds no token yet.",
        method="GET",
        path="/files",
    ),
    Step(
        title="Upload to /files/upload (needs files:write): a step-up.",
        method="POST",
        path="/files/upload",
        body=b"quarterly report\n",
    ),
    Step(
        title=(
            "Share /files/share (needs files:share): the server refuses even a token that "
            "has it. One step-up, then the loop guard gives up."
        ),
        method="POST",
        path="/files/share",
        body=b"with: team\n",
        expect="StepUpLoopError",
    ),
    Step(
        title="Read /admin: the authorization server never grants admin.",
        method="GET",
        path="/admin",
        expect="ScopeNotGrantedError",
    ),
)

#: The demo API: ``upscope_cli.servers``'s routes, plus one that never accepts (loop guard).
ROUTES = {
    "/files": Route(scopes={"files:read"}),
    "/files/upload": Route(scopes={"files:write"}, kind="echo"),
    "/files/share": Route(scopes={"files:share"}, always_refuse=True),
    "/admin": Route(scopes={"admin"}),
}
#: RFC 6749 §3.3: the authorization server may grant less than asked; this one never
#: grants ``admin``.
GRANTABLE = frozenset({"files:read", "files:write", "files:share"})

#: What one request ended with: a status code, or the name of the error raised.
Outcome = int | str


def _outcome_of(error: BaseException) -> str:
    return type(error).__name__


async def _run_async(
    client_type: Any, source: ClientCredentials, trace: Trace, base: str, report: Any
) -> None:
    async with client_type(source) as client:
        client.upscopes = traced(client.upscopes, trace)
        for step in STEPS:
            report(step, None)
            try:
                response = await client.request(step.method, base + step.path, content=step.body)
            except StepUpError as error:
                report(step, _outcome_of(error))
            else:
                report(step, response.status_code)


def _load(module: str, name: str) -> Any:
    """``module.name``; the trio and requests adapters need the extras of those names.
    Raises ``UsageError`` when it cannot be loaded."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        extra = module.removeprefix("upscope_")
        raise UsageError(
            f"the {extra} adapter cannot be loaded ({e}); install it with "
            f"pip install 'sansio-upscope[{extra}]'"
        ) from None


def _run_requests(source: ClientCredentials, trace: Trace, base: str, report: Any) -> None:
    auth = _load("upscope_requests", "UpscopeAuth")(source)
    auth.upscopes = traced(auth.upscopes, trace)
    with _load("requests", "Session")() as session:
        session.auth = auth
        for step in STEPS:
            report(step, None)
            response = session.request(step.method, base + step.path, data=step.body)
            error = getattr(response, "upscope_error", None)
            report(step, _outcome_of(error) if error is not None else response.status_code)


def run_demo(adapter: str, *, stdout: TextIO) -> int:
    """Run every step on ``adapter``; exit 0 when each had its expected outcome, else 1."""
    out = stdout
    outcomes: list[tuple[Step, Outcome]] = []

    def report(step: Step, outcome: Outcome | None) -> None:
        if outcome is None:
            out.write(f"\n{len(outcomes) + 1}. {step.title}\n")
            return
        outcomes.append((step, outcome))
        verdict = "as expected" if outcome == step.expect else f"EXPECTED {step.expect}"
        out.write(f"   result: {outcome} ({verdict})\n")

    if adapter == "requests":
        _load("upscope_requests", "UpscopeAuth")
    else:
        client_type = _load(f"upscope_{adapter}", "Client")
        runner = _async_runner(adapter)
    with AuthorizationServer() as auth, ResourceServer(auth, ROUTES) as resource:
        auth.grant_only = GRANTABLE
        seen = 0

        def token_requests() -> list[str]:
            nonlocal seen
            new, seen = auth.token_requests[seen:], len(auth.token_requests)
            return [
                f"authorization server saw: {record.grant_type} grant, scope "
                f'"{format_scope(record.scopes)}", resource {record.resource}'
                for record in new
            ]

        out.write(
            f"upscope demo on {adapter}\n"
            f"  authorization server  {auth.url} (client_credentials; grants only "
            f"{format_scope(GRANTABLE)})\n"
            f"  protected resource    {resource.url}\n"
            "  token source          sansio_upscope.oauth.ClientCredentials, endpoints "
            "discovered from the challenges\n"
            "Trace: => an action of the state machine, <- a response, <= a token result.\n"
        )
        trace = Trace(out, after_token=token_requests)
        source = ClientCredentials(auth.client_id, auth.client_secret)
        if adapter == "requests":
            _run_requests(source, trace, resource.url, report)
        else:
            runner(_run_async(client_type, source, trace, resource.url, report))
        failed = [(step, got) for step, got in outcomes if got != step.expect]
        total = auth.token_request_count
    out.write(
        f"\n{len(outcomes) - len(failed)} of {len(STEPS)} steps as expected; "
        f"{total} token requests in all.\n"
    )
    return EXIT_OK if not failed and len(outcomes) == len(STEPS) else EXIT_REFUSED


def _async_runner(adapter: str) -> Callable[[Awaitable[None]], None]:
    if adapter == "trio":
        trio_run = _load("trio", "run")

        def run_trio(coroutine: Awaitable[None]) -> None:
            async def main() -> None:
                await coroutine

            trio_run(main)

        return run_trio

    def run_asyncio(coroutine: Awaitable[None]) -> None:
        async def main() -> None:
            await coroutine

        asyncio.run(main())

    return run_asyncio
