"""Debian's redis-server for tests: a throwaway server on a free loopback port, no persistence.
Locally a test without redis-server is skipped; in CI (CI=true) it fails.

:meth:`RedisServer.stop` and :meth:`RedisServer.start` stop and start it again on the same
port (the live state's "Redis goes away and comes back" tests)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import require_binary

READY_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass(slots=True)
class RedisServer:
    binary: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None)
    db: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def new_url(self) -> str:
        """A database of its own (0..15) for a test, emptied first."""
        self.db = self.db % 15 + 1
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(f"SELECT {self.db}\r\nFLUSHDB\r\n".encode())
            s.recv(64)
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    def log_text(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def start(self) -> None:
        """Start (or start again after :meth:`stop`) and wait until it answers PING."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.directory)]
            + ["--logfile", str(self.directory / "redis.log"), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{self.log_text()[-2000:]}")
            time.sleep(0.05)  # a process starting: no event to wait on but its port

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    binary = require_binary("redis-server")
    directory = Path(tempfile.mkdtemp(prefix="vc-redis-"))
    server = RedisServer(binary, _free_port(), directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
