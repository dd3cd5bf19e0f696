"""One worker of a fleet, for tests/test_store_fleet.py, run as its own process::

    python -m tests.store_worker '<config JSON>'

It builds one client (asyncio, trio or requests) with a store (``FileStore`` or
``RedisStore``) and the OAuth ``ClientCredentials`` flow, prints ``ready``, then for
each JSON command read from stdin (``{"method": "GET", "path": "/api", "n": 20}``) sends
``n`` concurrent requests and prints one JSON line: the status codes, and the errors by
type and message. An empty line or end of input ends it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
import trio

import upscope_asyncio
import upscope_trio
from sansio_upscope.oauth import ClientCredentials
from upscope_requests import UpscopeAuth
from upscope_store import FileStore, RedisStore, TokenStore

Result = dict[str, list[Any]]


def make_store(config: dict[str, Any]) -> TokenStore | None:
    if config["store"] == "none":  # the baseline: each process on its own
        return None
    options = {"namespace": config["namespace"], "lease_seconds": config["lease_seconds"]}
    if config["store"] == "file":
        return FileStore(config["target"], **options)
    return RedisStore(config["target"], **options, retry_after=config.get("retry_after", 5.0))


def outcome(result: Result, status: int | None, error: BaseException | None) -> None:
    if error is None:
        result["statuses"].append(status)
    else:
        result["errors"].append(f"{type(error).__name__}: {error}")


async def run_async(client: Any, base: str, command: dict[str, Any], nursery_run: Any) -> Result:
    result: Result = {"statuses": [], "errors": []}

    async def one() -> None:
        try:
            response = await client.request(command["method"], base + command["path"])
        except Exception as error:
            outcome(result, None, error)
        else:
            outcome(result, response.status_code, None)

    await nursery_run([one] * command["n"])
    return result


async def asyncio_all(calls: list[Any]) -> None:
    await asyncio.gather(*(call() for call in calls))


async def trio_all(calls: list[Any]) -> None:
    async with trio.open_nursery() as nursery:
        for call in calls:
            nursery.start_soon(call)


def serve_async(
    config: dict[str, Any], store: TokenStore | None, source: ClientCredentials
) -> None:
    flavour = config["adapter"]
    client_type = upscope_asyncio.Client if flavour == "asyncio" else upscope_trio.Client
    gather = asyncio_all if flavour == "asyncio" else trio_all

    async def main() -> None:
        async with client_type(source, store=store) as client:
            print("ready", flush=True)
            while True:
                line = (
                    await asyncio.to_thread(sys.stdin.readline)
                    if flavour == "asyncio"
                    else await trio.to_thread.run_sync(sys.stdin.readline)
                )
                if not line.strip():
                    return
                result = await run_async(client, config["base"], json.loads(line), gather)
                print(json.dumps(result), flush=True)

    if flavour == "asyncio":
        asyncio.run(main())
    else:
        trio.run(main)


def serve_requests(
    config: dict[str, Any], store: TokenStore | None, source: ClientCredentials
) -> None:
    auth = UpscopeAuth(source, store=store)
    print("ready", flush=True)
    with ThreadPoolExecutor(max_workers=32) as pool:
        for line in sys.stdin:
            if not line.strip():
                return
            command = json.loads(line)
            result: Result = {"statuses": [], "errors": []}

            def one(command: dict[str, Any] = command, result: Result = result) -> None:
                with requests.Session() as session:
                    session.auth = auth
                    try:
                        response = session.request(
                            command["method"], config["base"] + command["path"], timeout=30
                        )
                    except Exception as error:
                        outcome(result, None, error)
                    else:
                        gave_up = getattr(response, "upscope_error", None)
                        status = response.status_code if gave_up is None else None
                        outcome(result, status, gave_up)

            list(pool.map(lambda _: one(), range(command["n"])))
            print(json.dumps(result), flush=True)


def main() -> None:
    config = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    store = make_store(config)
    source = ClientCredentials(config["client_id"], config["client_secret"])
    if config["adapter"] == "requests":
        serve_requests(config, store, source)
    else:
        serve_async(config, store, source)


if __name__ == "__main__":
    main()
