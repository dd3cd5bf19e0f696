"""The requests adapter's response hook answers the first response to its own request only.

Per-request state lives in the hook ``UpscopeAuth`` registers on each prepared request.
requests shares that hook list with a redirect's copy of the request, and a caller may
send one prepared request twice: neither must feed the finished exchange again.
"""

from __future__ import annotations

import requests

from sansio_upscope import RequestToken, Token
from upscope_cli.servers import AuthorizationServer, ResourceServer
from upscope_requests import UpscopeAuth


def test_a_prepared_request_sent_twice_is_stepped_up_once(
    authorization_server: AuthorizationServer, resource_server: ResourceServer
) -> None:
    def tokens(request: RequestToken) -> Token:
        return authorization_server.issue_token(request.scopes)

    with requests.Session() as session:
        session.trust_env = False
        session.auth = UpscopeAuth(tokens)
        prepared = session.prepare_request(requests.Request("GET", resource_server.url + "/files"))
        assert prepared.headers.get("Authorization") is None  # no token yet
        first = session.send(prepared)
        assert first.status_code == 200 and len(first.history) == 1  # 401, then the retry
        again = session.send(prepared)  # the same head, still without a token
    assert again.status_code == 401 and again.history == []  # passed through as it came
    assert authorization_server.token_request_count == 1
