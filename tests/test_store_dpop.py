"""Issue 14: a DPoP-bound token (RFC 9449) kept in a store serves only a client holding
the key it is bound to. The store keeps the key's RFC 7638 thumbprint, never the key: a
process with the same (application) key uses the kept token with no token request, and
makes valid proofs; a process with another key gets its own token instead of one it
cannot prove. Over loopback against servers that verify every proof
(tests/hostile/jwt_world.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from sansio_upscope.dpop import SigningKey
from sansio_upscope.oauth import ClientCredentials
from tests.hostile.jwt_world import KEY_CLIENT_ID, JwtWorld, pem
from tests.hostile.server import Request, ScriptedServer
from upscope_requests import UpscopeAuth
from upscope_store import FileStore

pytest.importorskip("jwt")

Serve = Callable[[Callable[[Request], object]], ScriptedServer]


def get(world: JwtWorld, store: FileStore, dpop: bool | SigningKey) -> bytes:
    """GET /api as a process that just started, with ``dpop`` as its DPoP key."""
    source = ClientCredentials(KEY_CLIENT_ID, private_key=world.client_pem, dpop=dpop)
    with requests.Session() as session:
        session.auth = UpscopeAuth(source, store=store)
        response = session.get(world.url + "/api", timeout=10)
    assert getattr(response, "upscope_error", None) is None, response.upscope_error  # type: ignore[attr-defined]
    assert response.status_code == 200
    return response.content


def test_a_kept_dpop_token_serves_only_its_key(serve: Serve, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    world = JwtWorld(serve)
    store = FileStore(tmp_path / "tokens.json")
    key = SigningKey.load(pem(ec.generate_private_key(ec.SECP256R1())), alg="ES256")
    assert get(world, store, key) == b"read ok"
    assert len(world.as_records()) == 1
    kept = store.load_token(world.url + "/api")
    assert kept is not None and kept.token.token_type == "DPoP" and kept.dpop_jkt
    assert kept.to_json()["dpop_jkt"] == kept.dpop_jkt and "BEGIN" not in str(kept.to_json())

    def sent() -> int:
        return sum(1 for request in world.server.requests if request.path == "/api")

    # The same key in another process: the kept token, with proofs the resource accepts
    # (two requests: the first, without a token, and the retry with it).
    before = sent()
    assert get(world, store, key) == b"read ok"
    assert len(world.as_records()) == 1 and sent() == before + 2
    # Another key (dpop=True makes one in memory): the kept token is not served (it
    # would go out with a proof the resource refuses); a token request, then the retry.
    before = sent()
    assert get(world, store, True) == b"read ok"
    assert len(world.as_records()) == 2 and sent() == before + 2
