"""One node (SQLite) SIGKILLed in a lecture and started again on its data directory and port:
the students' clients rejoin it by themselves, and the queue of raised hands is as it was (who,
when, in which order), read back from the store. (Several nodes: the room moves to another
node, tests/multinode/test_nodes.py::test_room_node_killed_raised_hands_keep_their_queue.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import SECRET, ServerHandle
from tests.multinode.cluster import free_port
from vidconsult.client import RoomClient
from vidconsult.tokens import TokenSigner

pytestmark = [pytest.mark.timeout(180)]
READY_TIMEOUT = 60.0


class Server:
    """``vidconsult serve`` as a process on a fixed port, killed with SIGKILL and started again."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, session: aiohttp.ClientSession) -> None:
        argv = [sys.executable, "-m", "vidconsult", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "VIDCONSULT_SECRET": SECRET},
            )
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        while True:  # its port is the only thing to wait on
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(self.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            assert asyncio.get_running_loop().time() < deadline, self.log.read_text()[-3000:]
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[Server, ServerHandle]]:
    server = Server(tmp_path / "var", tmp_path / "server.log")
    async with aiohttp.ClientSession() as session:
        await server.start(session)
        try:
            yield server, ServerHandle(server.url, TokenSigner(SECRET.encode()), None, session)
        finally:
            server.kill()


async def test_restarted_node_gives_the_raised_hands_back_in_their_order(
    server: tuple[Server, ServerHandle],
) -> None:
    proc, api = server
    rid = (await api.create_room("Pharmacology lecture"))["id"]

    def client(identity: str, role: str) -> RoomClient:
        return RoomClient(proc.url, api.mint(identity, role, room=rid))

    teacher = client("dr-li", "expert")
    students = {s: client(s, "patient") for s in ("st-zhou", "st-an", "st-qian")}
    clients = [teacher, *students.values()]
    try:
        for c in clients:
            await c.connect()
        raised_at = {}
        for s in ("st-zhou", "st-an"):  # st-qian keeps its hand down
            await students[s].request("hand.raise", {"raised": True})
            told = await teacher.wait_event("hand.raised", lambda d, s=s: d["identity"] == s)
            raised_at[s] = told["at"]
        assert raised_at["st-zhou"] <= raised_at["st-an"]

        proc.kill()
        await proc.start(api.session)  # the same data directory and port
        for c in clients:
            await c.wait_event("rejoined", timeout=30)
        await teacher.wait_until(lambda: set(students) <= set(teacher.participants), timeout=15)
        queue = sorted(
            (p["hand_raised_at"], i) for i, p in teacher.participants.items() if p["hand_raised"]
        )
        assert queue == [(raised_at["st-zhou"], "st-zhou"), (raised_at["st-an"], "st-an")], (
            teacher.participants
        )
        for s, c in students.items():
            me = c.joined["participant"]
            assert (me["hand_raised"], me["hand_raised_at"]) == (
                s in raised_at,
                raised_at.get(s),
            ), me
        # the REST view of the room shows the same queue
        _, view = await api.api("GET", f"/api/v1/rooms/{rid}")
        rest = sorted(
            (p["hand_raised_at"], p["identity"]) for p in view["participants"] if p["hand_raised"]
        )
        assert rest == queue
    finally:
        for c in clients:
            await c.close()
