"""``upscope demo --store``: two processes share one ``FileStore``; the second makes no
token request.

This process runs the demo servers and a temporary store file; each worker is
``python -m upscope_cli._demo_store ADAPTER STORE URL``: one client on ``ADAPTER`` with
``FileStore(STORE)`` and the OAuth client credentials flow, one request, its status code
printed. The client secret reaches the workers in the environment, never in argv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from sansio_upscope.oauth import ClientCredentials
from upscope_cli.servers import AuthorizationServer, ResourceServer

from ._demo import ROUTES, _async_runner, _load
from ._exit import EXIT_OK, EXIT_REFUSED

__all__ = ["run_store_demo"]

_SECRET_VARIABLE = "UPSCOPE_DEMO_CLIENT_SECRET"


def run_store_demo(adapter: str, *, stdout: TextIO) -> int:
    """Two worker processes, one after the other, one store; exit 0 when both got 200
    and the second made no token request."""
    out = stdout
    _load(f"upscope_{adapter}", "Client" if adapter != "requests" else "UpscopeAuth")
    with (
        tempfile.TemporaryDirectory() as directory,
        AuthorizationServer() as auth,
        ResourceServer(auth, ROUTES) as resource,
    ):
        store = Path(directory) / "upscope" / "tokens.json"
        out.write(
            f"upscope demo --store on {adapter}: two processes share one token store\n"
            f"  store  upscope_store.FileStore({str(store)!r}) (file 0600, directory 0700)\n"
            f"  API    {resource.url}/files (needs files:read)\n"
        )
        environment = {**os.environ, _SECRET_VARIABLE: auth.client_secret}
        made = []
        for number in (1, 2):
            before = auth.token_request_count
            arguments = [adapter, str(store), resource.url + "/files", auth.client_id]
            worker = subprocess.run(
                [sys.executable, "-m", "upscope_cli._demo_store", *arguments],
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            status = worker.stdout.strip() or f"failed: {worker.stderr.strip()[-300:]}"
            made.append(auth.token_request_count - before)
            note = " (the token came from the store)" if made[-1] == 0 else ""
            out.write(
                f"process {number}: GET /files -> {status}; token requests it made: "
                f"{made[-1]}{note}\n"
            )
        ok = made[1] == 0 and auth.token_request_count == 1
    out.write(
        "The second process made no token request.\n"
        if ok
        else "EXPECTED the second process to make no token request.\n"
    )
    return EXIT_OK if ok else EXIT_REFUSED


def _worker(adapter: str, store_path: str, url: str, client_id: str) -> str:
    from upscope_store import FileStore

    store = FileStore(store_path)
    source = ClientCredentials(client_id, os.environ[_SECRET_VARIABLE])
    if adapter == "requests":
        with _load("requests", "Session")() as session:
            session.auth = _load("upscope_requests", "UpscopeAuth")(source, store=store)
            return str(session.get(url, timeout=30).status_code)
    statuses: list[int] = []

    async def main() -> None:
        async with _load(f"upscope_{adapter}", "Client")(source, store=store) as client:
            statuses.append((await client.request("GET", url)).status_code)

    _async_runner(adapter)(main())
    return str(statuses[0])


if __name__ == "__main__":
    print(_worker(*sys.argv[1:5]))
