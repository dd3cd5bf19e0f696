"""What the store tests share: a real ``redis-server`` on a free loopback port, and a
fleet of worker processes (``tests/store_worker.py``) driven line by line.

Without ``redis-server`` the Redis tests skip, saying why; with ``CI=true`` they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server")


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_redis_server() -> str:
    """The path of ``redis-server``; skips (fails under ``CI=true``) when missing."""
    if REDIS_SERVER is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if on_ci():
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return REDIS_SERVER


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` on 127.0.0.1, no persistence, that a test can kill and restart
    on the same port."""

    def __init__(self, executable: str, directory: Path) -> None:
        self.executable = executable
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections open, nothing answered, as a server that hangs."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Kill it (SIGKILL: as a crash, nothing saved)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
            self._process = None


Result = dict[str, list[Any]]


class Worker:
    """One ``tests.store_worker`` process."""

    def __init__(self, config: dict[str, Any], stderr: Path) -> None:
        self.stderr_path = stderr
        self._stderr: TextIO = stderr.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.store_worker", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=ROOT,
        )

    def wait_ready(self) -> None:
        assert self._line() == "ready", self.stderr()

    def send(self, method: str, path: str, n: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"method": method, "path": path, "n": n}) + "\n")
        self.process.stdin.flush()

    def result(self) -> Result:
        line = self._line()
        assert line, f"the worker ended: {self.stderr()}"
        result: Result = json.loads(line)
        return result

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write("\n")
                self.process.stdin.flush()
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


class Fleet:
    """Workers started together; ``run`` sends one command to all at once."""

    def __init__(self, configs: list[dict[str, Any]], directory: Path) -> None:
        self.workers = [
            Worker(config, directory / f"worker-{index}-{time.monotonic_ns()}.log")
            for index, config in enumerate(configs)
        ]
        for worker in self.workers:
            worker.wait_ready()

    def run(self, method: str, path: str, n: int) -> list[Result]:
        for worker in self.workers:
            worker.send(method, path, n)
        return [worker.result() for worker in self.workers]

    def close(self) -> None:
        for worker in self.workers:
            worker.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
