"""The built docs work as a reader sees them, offline: the state-table page's diagram renders
in headless Chromium with no network beyond 127.0.0.1, its script served by the site itself
(docs/hooks/offline_mermaid.py), and the page asks no other host for anything.

Chromium is Debian's ``chromium``; where it is missing the test skips, except under
``CI=true`` (.ci/run installs it), where it fails. The browser is driven over the DevTools
protocol on a pipe (``--remote-debugging-pipe``: JSON messages ended by NUL, commands on the
browser's fd 3, replies and events on its fd 4), which needs nothing beyond the standard
library. mkdocs-material draws each diagram into a closed shadow root, which a page script
cannot read but DevTools can (``DOM.getDocument(pierce=True)``).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = "state-table/"
#: A bound on waiting, not a speed target: long enough for a busy 2-core machine to load
#: mermaid (3.5 MB of script) and lay the diagram out, within pytest's timeout.
RENDER_DEADLINE = 60.0


def _chromium() -> str:
    browser = shutil.which("chromium")
    if browser is None:
        reason = "Chromium is not installed (Debian: apt-get install chromium; .ci/run does)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return browser


def _diagram_states() -> set[str]:
    """The state names in the page's mermaid source: the diagram must show each of them."""
    source = (ROOT / "docs" / "state-table.md").read_text()
    diagram = source.split("```mermaid", 1)[1].split("```", 1)[0]
    names = re.findall(r"^\s*(\S+)\s+-->\s+([^\s:]+)", diagram, flags=re.MULTILINE)
    return {name for pair in names for name in pair} - {"[*]"}


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Files, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening): the proxy that
    every request for another host is sent to."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class _DevTools:
    """The DevTools protocol over Chromium's pipe. ``call`` sends one command and returns its
    result; the events that arrive meanwhile are kept in ``events``."""

    def __init__(self, commands: int, replies: int, log: Path) -> None:
        self._log = log
        self._out = os.fdopen(commands, "wb", buffering=0)
        self._in = os.fdopen(replies, "rb", buffering=0)
        self._last_id = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = json.loads(self._read_message())
            if "id" not in reply:
                self.events.append(reply)
            elif reply["id"] == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"DevTools {method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def _read_message(self) -> bytes:
        while b"\0" not in self._buffer:
            chunk = self._in.read(65536)
            if not chunk:
                said = self._log.read_text(errors="replace").splitlines()
                last = [line for line in said if "dbus" not in line][-5:]
                raise RuntimeError(f"Chromium closed its DevTools pipe; it said: {last}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return message

    def close(self) -> None:
        self._out.close()
        self._in.close()


@contextlib.contextmanager
def _browser(chromium: str, profile: Path, proxy_port: int, log: Path) -> Iterator[_DevTools]:
    to_browser, commands = os.pipe()
    replies, from_browser = os.pipe()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        # The network is off: no host but 127.0.0.1 resolves, and a request for any other
        # goes to a proxy that refuses (loopback itself bypasses the proxy).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--remote-debugging-pipe",
        "about:blank",
    ]
    # bash puts the two pipe ends at the fds Chromium reads and writes, 3 and 4 (dash
    # cannot: it takes one-digit fd numbers only).
    redirect = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", redirect, chromium, *flags],
            pass_fds=(to_browser, from_browser),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    os.close(to_browser)
    os.close(from_browser)
    devtools = _DevTools(commands, replies, log)
    try:
        yield devtools
    finally:
        with contextlib.suppress(RuntimeError, OSError):
            devtools.call("Browser.close")
        devtools.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``node`` and everything under it, shadow roots included."""
    yield node
    for child in (*node.get("children", ()), *node.get("shadowRoots", ())):
        yield from _walk(child)


def _classes(node: dict[str, Any]) -> list[str]:
    attributes = node.get("attributes", [])
    return str(dict(zip(attributes[::2], attributes[1::2], strict=True)).get("class", "")).split()


def _rendered_diagrams(document: dict[str, Any]) -> list[str]:
    """The text of each SVG drawn inside a mermaid block of the page."""
    texts = []
    for block in _walk(document):
        if "mermaid" not in _classes(block):
            continue
        for svg in _walk(block):
            if svg.get("nodeName", "").lower() == "svg":
                texts.append(" ".join(n.get("nodeValue", "") for n in _walk(svg)))
    return texts


def test_state_diagram_renders_offline(tmp_path: Path) -> None:
    chromium = _chromium()
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
    )
    with (
        _serve(site) as origin,
        _closed_port() as proxy_port,
        _browser(chromium, tmp_path / "profile", proxy_port, tmp_path / "chromium.log") as devtools,
    ):
        target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        devtools.call("Network.enable", session)
        devtools.call("Page.navigate", session, url=origin + PAGE)
        deadline = time.monotonic() + RENDER_DEADLINE
        diagrams: list[str] = []
        while not diagrams and time.monotonic() < deadline:
            time.sleep(0.2)
            document = devtools.call("DOM.getDocument", session, depth=-1, pierce=True)
            diagrams = _rendered_diagrams(document["root"])

    requested = [
        event["params"]["request"]["url"]
        for event in devtools.events
        if event.get("method") == "Network.requestWillBeSent"
    ]
    assert origin + PAGE in requested
    assert len(diagrams) == 1, f"no diagram rendered within {RENDER_DEADLINE} s; {requested=}"
    missing = {state for state in _diagram_states() if state not in diagrams[0]}
    assert not missing, f"the rendered diagram lacks the states {missing}"
    elsewhere = [url for url in requested if not url.startswith((origin, "data:", "blob:"))]
    assert not elsewhere, f"with the network off, the page asked other hosts for {elsewhere}"
