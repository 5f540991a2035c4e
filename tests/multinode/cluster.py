"""Several real nodes for tests: ``vidconsult serve`` processes sharing one real PostgreSQL
(tests/postgres.py) and one real ``redis-server`` (tests/redis_server.py), each on its own
port with its own data directory, and a TCP front (round robin over the live nodes, as a
load balancer with no affinity) as the one public address in front of them.

A node can be killed with SIGKILL (:meth:`Node.kill`) and started again on the same data
directory (:meth:`Node.start`); the front skips a node that refuses connections."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.helpers import SECRET

READY_TIMEOUT = 120.0  # three nodes importing at once on a loaded 2-core machine
# a node's heartbeat (s) and how long it lasts: a killed node is out of the registry after
# at most TTL + one heartbeat of a survivor (its sweep). The TTL must outlast the longest
# silence of a LIVE node: at a load average of 13-28 on 2 cores the nodes' event loops fall
# 0.3-1.4 s behind (more at start) and a heartbeat's Redis call takes up to 0.8 s, so a room's
# node beat 1.3-2.2 s apart in test_browsers.py, and once (load 24) over 5 s; with a TTL of
# 2 s it was swept as dead while serving (its relayed pages cut, the room ended by another
# node behind its back: 2 runs of 6). The product's default TTL, 6 s, beaten every 0.5 s.
HEARTBEAT = 0.5
TTL = 6.0
# a killed node is swept by a survivor within this (s); a rejoin's own budget comes on top
KILL_NOTICED = TTL + HEARTBEAT
# the nodes' shared secret for their internal endpoints (the lecture relay, /internal/v1/relay)
CLUSTER_SECRET = "cluster-" + "s" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class Node:
    name: str
    port: int
    data_dir: Path
    database_url: str
    redis_url: str
    public_url: str
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # more environment for the process (benchmarks/signaling_nodes.py: no rate limits)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "VIDCONSULT_SECRET": SECRET,
            "VIDCONSULT_DATABASE_URL": self.database_url,
            "VIDCONSULT_STORE": "postgres",
            "VIDCONSULT_CLUSTER_SECRET": CLUSTER_SECRET,
            **self.extra_env,
        }

    def command(self, *args: str) -> list[str]:
        """``vidconsult ARGS --data-dir`` this node's (e.g. ``archive verify``)."""
        return [sys.executable, "-m", "vidconsult", *args, "--data-dir", str(self.data_dir)]

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        argv = [sys.executable, "-m", "vidconsult", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        argv += ["--store", "postgres", "--database-pool-size", "4"]
        argv += ["--live", "redis", "--redis-url", self.redis_url, "--node-id", self.name]
        argv += ["--node-heartbeat", str(HEARTBEAT), "--node-ttl", str(TTL)]
        argv += ["--public-url", self.public_url, "--password-workers", "1"]
        log = self.log_path.open("ab")
        log.write(f"--- start {self.starts}\n".encode())
        log.flush()
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.starts += 1

    async def ready(self, session: aiohttp.ClientSession) -> None:
        """Wait until the node answers /healthz (its port is the only thing to wait on)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited:\n{self.log_text()[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(self.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name} not ready:\n{self.log_text()[-3000:]}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye to the registry."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@dataclass(slots=True)
class Front:
    """The one public address: each new TCP connection goes to the next live node."""

    nodes: list[Node]
    port: int = field(default_factory=free_port)
    server: asyncio.Server | None = None
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)
    chosen: list[str] = field(default_factory=list)  # the node of each connection, in order

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(len(self.nodes)):
            node = self.nodes[next(self._turn) % len(self.nodes)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", node.port)
            except OSError:
                continue  # a dead node refuses: the next one
            self.chosen.append(node.name)
            task = asyncio.current_task()
            assert task is not None
            self._pipes.add(task)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                self._pipes.discard(task)
            return
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass(slots=True)
class Cluster:
    nodes: list[Node]
    front: Front
    session: aiohttp.ClientSession

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    async def where(self, room_id: str) -> str | None:
        """The node the room is placed on (asked of Redis through the live-state port)."""
        from vidconsult.cluster.redis_state import RedisLiveState

        state = RedisLiveState(self.nodes[0].redis_url, "test-probe", ttl=TTL)
        try:
            return await state.placement.where(room_id)
        finally:
            await state.close()

    def logs(self) -> str:
        return "\n".join(f"===== {n.name}\n{n.log_text()[-4000:]}" for n in self.nodes)
