"""Audience matters (RFC 8707), through every adapter, against real peers.

oidc-provider issues a token with no audience when the token request names no
``resource``; the MCP TypeScript SDK (``expectedResource``) answers it with 401
``invalid_token`` "Token was not issued for this resource". What follows is the core's
rule 4 (sansio_upscope/_state.py), the same on every adapter:

* a token obtained to answer a challenge, rejected with that same challenge, ends the
  call at once with ``StepUpLoopError`` (one token request, no loop);
* a token obtained for another need (a step-up to ``write``) and then rejected with 401
  gets one fresh token request with ``Reason.INVALID_TOKEN``: a source that now names
  ``RequestToken.resource`` succeeds, one that never does meets ``StepUpLoopError``;
* per-route audiences on one origin (each TypeScript route is its own resource, the
  client keeps one token per origin): each switch of route is a fresh token request,
  unless the client is told where the resources are (``resource_for=``): then each
  resource keeps its own token.
"""

from __future__ import annotations

import attrs
import pytest
import requests
from interop_peers import AuthorizationServer, ResourceServer
from mcp_messages import CONTENT_TYPE, STREAM_ACCEPT
from test_step_up_interop import TIMEOUT

from sansio_upscope import Policy, Reason, RequestToken, StepUpError, StepUpLoopError, Token
from tests.driver import Call, Scenario, names, run

pytestmark = pytest.mark.interop


@attrs.define
class TokenEndpointCaller:
    """A plain callable token source: client credentials straight at the token endpoint.

    It sends ``RequestToken.resource`` (RFC 8707 §2) except on the calls numbered in
    ``omit_resource`` (1 is the first), or on every call from ``omit_resource_from`` on.
    """

    oidc_provider: AuthorizationServer
    omit_resource: frozenset[int] = frozenset()
    omit_resource_from: int | None = None
    asked: list[RequestToken] = attrs.field(factory=list)

    def __call__(self, request: RequestToken) -> Token:
        self.asked.append(request)
        number = len(self.asked)
        omit = number in self.omit_resource or (
            self.omit_resource_from is not None and number >= self.omit_resource_from
        )
        form = {"grant_type": "client_credentials", "scope": " ".join(sorted(request.scopes))}
        if not omit:
            form["resource"] = request.resource
        response = requests.post(
            self.oidc_provider.token_endpoint,
            data=form,
            auth=(self.oidc_provider.service_client_id, self.oidc_provider.service_client_secret),
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        # Without a resource, oidc-provider answers with no `scope` member: as requested
        # (RFC 6749 §5.1). The token has no audience all the same.
        granted = body.get("scope")
        scopes = frozenset(granted.split()) if granted is not None else request.scopes
        return Token(access_token=body["access_token"], scopes=scopes)

    @property
    def reasons(self) -> list[Reason]:
        return [request.reason for request in self.asked]


def calls(requests_: list[Call], outcome: list[object]) -> Scenario:
    """Each call in turn; its status or the adapter's ``StepUpError`` goes to ``outcome``."""
    for call in requests_:
        try:
            reply = yield call
        except StepUpError as error:
            outcome.append(error)
        else:
            outcome.append(reply.status_code)


def read_then_write(server: ResourceServer) -> list[Call]:
    notes = f"{server.url}/api/notes"
    return [
        Call(method="GET", url=notes),
        Call(method="POST", url=notes, headers=(CONTENT_TYPE,), body=b'{"text": "aud"}'),
    ]


def test_the_peer_refuses_a_token_without_audience(
    oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    url = f"{mcp_ts_server.url}/api/notes"
    token = TokenEndpointCaller(oidc_provider, omit_resource_from=1)(
        RequestToken(scopes=frozenset({"write"}), resource=url, reason=Reason.NO_TOKEN)
    )
    answer = requests.post(url, json={}, headers={"Authorization": token.authorization}, timeout=10)
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert 'error="invalid_token"' in challenge
    assert "Token was not issued for this resource" in challenge


@pytest.mark.parametrize("adapter", names())
def test_token_for_this_challenge_without_audience_gives_up_at_once(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    tokens = TokenEndpointCaller(oidc_provider, omit_resource_from=1)
    start = oidc_provider.token_requests()
    outcome: list[object] = []
    run(
        adapter,
        calls(read_then_write(mcp_ts_server)[:1], outcome),
        tokens=tokens,
        timeout=TIMEOUT,
    )
    [error] = outcome
    assert isinstance(error, StepUpLoopError), error
    assert "Token was not issued for this resource" in str(error)
    assert tokens.reasons == [Reason.NO_TOKEN]
    assert oidc_provider.token_requests() - start == 1


@pytest.mark.parametrize("adapter", names())
def test_step_up_token_without_audience_then_fresh_token_with_resource(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    # Call 2 (the step-up to `read write`) forgets the resource; call 3 names it.
    tokens = TokenEndpointCaller(oidc_provider, omit_resource=frozenset({2}))
    url = f"{mcp_ts_server.url}/api/notes"
    start = oidc_provider.token_requests()
    outcome: list[object] = []
    run(
        adapter,
        calls(read_then_write(mcp_ts_server), outcome),
        tokens=tokens,
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    assert outcome == [200, 201]
    assert tokens.reasons == [Reason.NO_TOKEN, Reason.INSUFFICIENT_SCOPE, Reason.INVALID_TOKEN]
    assert [set(r.scopes) for r in tokens.asked] == [{"read"}, *[{"read", "write"}] * 2]
    assert all(r.resource == url for r in tokens.asked)
    assert oidc_provider.token_requests() - start == 3


@pytest.mark.parametrize("adapter", names())
def test_never_naming_the_resource_is_a_bounded_loop_error(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    tokens = TokenEndpointCaller(oidc_provider, omit_resource_from=2)
    start = oidc_provider.token_requests()
    outcome: list[object] = []
    run(
        adapter,
        calls(read_then_write(mcp_ts_server), outcome),
        tokens=tokens,
        policy=Policy(initial_scopes=frozenset({"read"})),
        timeout=TIMEOUT,
    )
    assert outcome[0] == 200
    error = outcome[1]
    assert isinstance(error, StepUpLoopError), error
    assert "Token was not issued for this resource" in str(error)
    assert oidc_provider.service_client_secret not in str(error)
    assert tokens.reasons == [Reason.NO_TOKEN, Reason.INSUFFICIENT_SCOPE, Reason.INVALID_TOKEN]
    # The POST made two token requests: within its own budget (max_token_requests is per call).
    assert len(tokens.asked) - 1 <= Policy().max_token_requests
    assert oidc_provider.token_requests() - start == 3


@pytest.mark.parametrize("adapter", names())
def test_per_route_audiences_on_one_origin(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    # /api/notes and /mcp are two resources on one origin; the client holds one token per
    # origin, so each switch of route meets 401 "not issued for this resource" and asks
    # for a token for the other resource (Reason.INVALID_TOKEN). Correct, and bounded,
    # at the cost of one token request per switch.
    tokens = TokenEndpointCaller(oidc_provider)
    notes = Call(method="GET", url=f"{mcp_ts_server.url}/api/notes")
    listing = Call(
        method="GET", url=f"{mcp_ts_server.url}/.well-known/oauth-protected-resource/mcp"
    )
    mcp = Call(method="GET", url=mcp_ts_server.mcp_url, headers=(STREAM_ACCEPT,))
    outcome: list[object] = []
    run(
        adapter,
        calls([notes, mcp, listing, notes, notes], outcome),
        tokens=tokens,
        timeout=TIMEOUT,
    )
    # GET /mcp without a session is the SDK's 400: past the bearer check, so audience ok.
    assert outcome == [200, 400, 200, 200, 200]
    assert tokens.reasons == [Reason.NO_TOKEN, Reason.INVALID_TOKEN, Reason.INVALID_TOKEN]
    assert [r.resource for r in tokens.asked] == [notes.url, mcp.url, notes.url]


@pytest.mark.parametrize("adapter", names())
def test_resource_for_gives_each_route_its_own_token(
    adapter: str, oidc_provider: AuthorizationServer, mcp_ts_server: ResourceServer
) -> None:
    # The same switches as above, with the client told where the resources are: one token
    # per resource, each named as the RFC 8707 resource, and no token request per switch.
    notes_url = f"{mcp_ts_server.url}/api/notes"

    def resource_for(url: str) -> str:
        return mcp_ts_server.mcp_url if url.startswith(mcp_ts_server.mcp_url) else notes_url

    tokens = TokenEndpointCaller(oidc_provider)
    notes = Call(method="GET", url=notes_url)
    mcp = Call(method="GET", url=mcp_ts_server.mcp_url, headers=(STREAM_ACCEPT,))
    outcome: list[object] = []
    run(
        adapter,
        calls([notes, mcp, notes, mcp, notes], outcome),
        tokens=tokens,
        options={"resource_for": resource_for},
        timeout=TIMEOUT,
    )
    assert outcome == [200, 400, 200, 400, 200]
    assert tokens.reasons == [Reason.NO_TOKEN, Reason.NO_TOKEN]
    assert [r.resource for r in tokens.asked] == [notes_url, mcp_ts_server.mcp_url]
