"""This node's part in the live state: its id (kept in the data directory), and the
heartbeat loop that reports its address and load, sweeps dead nodes, and notices when the
live state's backend goes away and comes back."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from vidconsult.cluster.ports import (
    Handler,
    LiveState,
    NodeInfo,
    NodeLoad,
    RoomPlacement,
    Subscription,
)
from vidconsult.errors import Unavailable

log = logging.getLogger(__name__)
NODE_ID_FILE = "node-id"
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def valid_node_id(value: str) -> str:
    if not _NODE_ID.match(value):
        raise ValueError(f"--node-id must be 1-63 letters, digits, '.', '_' or '-', not {value!r}")
    return value


def load_node_id(data_dir: Path) -> str:
    """The node id generated at this data directory's first start, and kept there (a
    restarted node is the same node: its recordings stay its own)."""
    path = data_dir / NODE_ID_FILE
    if path.exists():
        return valid_node_id(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    node_id = f"node-{secrets.token_hex(4)}"
    path.write_text(node_id + "\n")
    return node_id


class CpuMeter:
    """The process's CPU time over wall time since the last reading (0..1 per core used)."""

    def __init__(self) -> None:
        self._wall, self._cpu = time.monotonic(), time.process_time()

    def read(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        spent, elapsed = cpu - self._cpu, wall - self._wall
        self._wall, self._cpu = wall, cpu
        return round(spent / elapsed, 3) if elapsed > 0 else 0.0


class SelfRegistering:
    """A :class:`RoomPlacement` that, finding no node registered (``no_nodes``: Redis came
    back empty and this node has not beaten since), registers this node at once and places
    again, so a join does not wait for the next heartbeat."""

    def __init__(self, inner: RoomPlacement, beat: Callable[[], Awaitable[object]]) -> None:
        self._inner = inner
        self._beat = beat

    async def place(self, room_id: str, prefer: str | None = None) -> NodeInfo:
        try:
            return await self._inner.place(room_id, prefer)
        except Unavailable as exc:
            if exc.code != "no_nodes":
                raise
        await self._beat()
        return await self._inner.place(room_id, prefer)

    async def where(self, room_id: str) -> str | None:
        return await self._inner.where(room_id)

    async def release(self, room_id: str) -> None:
        await self._inner.release(room_id)

    async def rooms_on(self, node_id: str) -> list[str]:
        return await self._inner.rooms_on(node_id)


class NodeAgent:
    """Heartbeats this node every ``interval`` seconds (the TTL should be ~3 intervals) and
    sweeps dead nodes. ``address``: this node's public URL, read at each beat (the port is
    known only once the server listens)."""

    def __init__(
        self,
        state: LiveState,
        *,
        address: Callable[[], str],
        load: Callable[[], tuple[int, int]],
        limit: int = 0,
        interval: float = 5.0,
        on_back: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``on_back``: called when this node's registration was missing (Redis restarted
        empty, or the node was swept as dead while it paused) or the backend answers again
        after an outage: write back what this node holds (its rooms' placement, presence)."""
        self.on_back = on_back
        self._wanted: list[tuple[str, Handler]] = []
        self.subscriptions: list[Subscription] = []
        self.state = state
        self._address = address
        self._load = load
        self.limit = limit
        self.interval = interval
        self._cpu = CpuMeter()
        self.reachable = True  # the backend answered the last beat

    def info(self) -> NodeInfo:
        participants, rooms = self._load()
        load = NodeLoad(participants=participants, rooms=rooms, cpu=self._cpu.read())
        return NodeInfo(self.state.node_id, self._address(), load, self.limit)

    def follow(self, topic: str, handler: Handler) -> None:
        """Subscribe ``handler`` to ``topic`` at the next beat that reaches the backend (a
        node may start while Redis is away); kept until :meth:`leave`."""
        self._wanted.append((topic, handler))

    async def _subscribe_wanted(self) -> None:
        while self._wanted:
            topic, handler = self._wanted[0]
            self.subscriptions.append(await self.state.bus.subscribe(topic, handler))
            self._wanted.pop(0)

    async def beat(self) -> list[str]:
        """One heartbeat and sweep; the dead nodes this beat removed. Never raises for an
        unreachable backend (logged once when it goes, once when it is back)."""
        try:
            known = await self.state.nodes.heartbeat(self.info())
            await self._subscribe_wanted()
            dead = await self.state.nodes.sweep()
            if (not known or not self.reachable) and self.on_back is not None:
                await self.on_back()
        except Unavailable:
            if self.reachable:
                log.warning("live state unreachable node=%s", self.state.node_id)
            self.reachable = False
            return []
        if not self.reachable:
            log.info("live state reachable again node=%s", self.state.node_id)
        self.reachable = True
        for node_id in dead:
            log.warning("node expired node=%s swept_by=%s", node_id, self.state.node_id)
        return dead

    async def run(self) -> None:
        """The loop (cancelled by the app's cleanup)."""
        while True:
            try:
                await self.beat()
            except Exception:
                log.exception("node heartbeat failed node=%s", self.state.node_id)
            await asyncio.sleep(self.interval)

    async def leave(self) -> None:
        for subscription in self.subscriptions:
            await subscription.close()
        self.subscriptions.clear()
        try:
            await self.state.nodes.leave(self.state.node_id)
        except Unavailable:
            log.warning("could not deregister node=%s: live state unreachable", self.state.node_id)
