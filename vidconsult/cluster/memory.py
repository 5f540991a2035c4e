"""The in-process live state: one node, the embedded default (``--live memory``).

A :class:`MemoryHub` plays the part Redis plays for several nodes; :meth:`MemoryHub.node`
gives one node's :class:`MemoryLiveState` over it. A server has one hub and one node, so
placement always answers this node (unless it is over its limit) and the bus stays in the
process; tests put several nodes on one hub to run the contract suite without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vidconsult.cluster.ports import (
    CLUSTER_TOPIC,
    NODE_DOWN,
    Handler,
    MessageBus,
    NodeInfo,
    NodeRegistry,
    Presence,
    PresenceEntry,
    RoomPlacement,
    choose_node,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Listener:
    handler: Handler
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class MemoryHub:
    """The shared state of the nodes of one process. ``clock``: seconds, monotonic."""

    def __init__(self, *, ttl: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self.nodes: dict[str, tuple[NodeInfo, float]] = {}  # id -> (info, expires)
        self.placements: dict[str, str] = {}  # room -> node
        self.presence: dict[str, dict[str, PresenceEntry]] = {}  # room -> identity -> entry
        self.topics: dict[str, list[_Listener]] = {}

    def node(self, node_id: str) -> MemoryLiveState:
        return MemoryLiveState(self, node_id)

    # the bus ---------------------------------------------------------------------------------
    def deliver(self, topic: str, message: Mapping[str, Any]) -> None:
        for listener in list(self.topics.get(topic, ())):
            # each subscriber gets its own copy, as it would from Redis
            listener.queue.put_nowait(_copy(message))

    def remove_node(self, node_id: str, reason: str) -> None:
        self.nodes.pop(node_id, None)
        for room, where in list(self.placements.items()):
            if where == node_id:
                del self.placements[room]
        for room, members in list(self.presence.items()):
            for identity, entry in list(members.items()):
                if entry.node_id == node_id:
                    del members[identity]
            if not members:
                del self.presence[room]
        self.deliver(CLUSTER_TOPIC, {"type": NODE_DOWN, "node": node_id, "reason": reason})

    def live(self) -> list[NodeInfo]:
        now = self.clock()
        counts: dict[str, int] = {}
        for where in self.placements.values():
            counts[where] = counts.get(where, 0) + 1
        return [
            replace(info, placed_rooms=counts.get(node_id, 0))
            for node_id, (info, expires) in self.nodes.items()
            if expires > now
        ]


def _copy(message: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(message)))


class _Subscription:
    def __init__(self, hub: MemoryHub, topic: str, listener: _Listener) -> None:
        self._hub, self._topic, self._listener = hub, topic, listener

    async def close(self) -> None:
        listeners = self._hub.topics.get(self._topic, [])
        if self._listener in listeners:
            listeners.remove(self._listener)
            if not listeners:
                del self._hub.topics[self._topic]
        task = self._listener.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _pump(listener: _Listener, topic: str) -> None:
    while True:
        message = await listener.queue.get()
        try:
            await listener.handler(message)
        except Exception:
            log.exception("bus handler failed topic=%s", topic)


class _Registry:
    def __init__(self, hub: MemoryHub) -> None:
        self._hub = hub

    async def heartbeat(self, node: NodeInfo) -> bool:
        now = self._hub.clock()
        known = node.node_id in self._hub.nodes and self._hub.nodes[node.node_id][1] > now
        expires = now + self._hub.ttl
        self._hub.nodes[node.node_id] = (replace(node, placed_rooms=0), expires)
        return known

    async def leave(self, node_id: str) -> None:
        if node_id in self._hub.nodes:
            self._hub.remove_node(node_id, "left")

    async def nodes(self) -> list[NodeInfo]:
        return self._hub.live()

    async def get(self, node_id: str) -> NodeInfo | None:
        return next((n for n in self._hub.live() if n.node_id == node_id), None)

    async def sweep(self) -> list[str]:
        now = self._hub.clock()
        dead = [node_id for node_id, (_, expires) in self._hub.nodes.items() if expires <= now]
        for node_id in dead:
            self._hub.remove_node(node_id, "expired")
        return dead


class _Placement:
    def __init__(self, hub: MemoryHub) -> None:
        self._hub = hub

    async def place(self, room_id: str, prefer: str | None = None) -> NodeInfo:
        live = {n.node_id: n for n in self._hub.live()}
        current = self._hub.placements.get(room_id)
        if current in live:
            return live[current]
        chosen = live[prefer] if prefer in live else choose_node(list(live.values()))
        self._hub.placements[room_id] = chosen.node_id
        return replace(chosen, placed_rooms=chosen.placed_rooms + 1)

    async def where(self, room_id: str) -> str | None:
        current = self._hub.placements.get(room_id)
        live = {n.node_id for n in self._hub.live()}
        return current if current in live else None

    async def release(self, room_id: str) -> None:
        self._hub.placements.pop(room_id, None)

    async def rooms_on(self, node_id: str) -> list[str]:
        return sorted(r for r, n in self._hub.placements.items() if n == node_id)


class _Bus:
    def __init__(self, hub: MemoryHub) -> None:
        self._hub = hub
        self.subscriptions: list[_Subscription] = []

    async def publish(self, topic: str, message: Mapping[str, Any]) -> None:
        self._hub.deliver(topic, message)

    async def subscribe(self, topic: str, handler: Handler) -> _Subscription:
        listener = _Listener(handler)
        listener.task = asyncio.create_task(_pump(listener, topic), name=f"bus:{topic}")
        self._hub.topics.setdefault(topic, []).append(listener)
        subscription = _Subscription(self._hub, topic, listener)
        self.subscriptions.append(subscription)
        return subscription


class _Presence:
    def __init__(self, hub: MemoryHub) -> None:
        self._hub = hub

    async def enter(self, entry: PresenceEntry) -> None:
        self._hub.presence.setdefault(entry.room_id, {})[entry.identity] = entry

    async def exit(self, room_id: str, identity: str, session_id: str) -> bool:
        members = self._hub.presence.get(room_id, {})
        entry = members.get(identity)
        if entry is None or entry.session_id != session_id:
            return False
        del members[identity]
        if not members:
            self._hub.presence.pop(room_id, None)
        return True

    async def members(self, room_id: str) -> list[PresenceEntry]:
        return sorted(self._hub.presence.get(room_id, {}).values(), key=lambda e: e.identity)

    async def rooms(self) -> dict[str, int]:
        return {room: len(members) for room, members in self._hub.presence.items() if members}


class MemoryLiveState:
    """One node's view of a :class:`MemoryHub`."""

    kind = "memory"

    def __init__(self, hub: MemoryHub, node_id: str) -> None:
        self.hub = hub
        self.node_id = node_id
        self.nodes: NodeRegistry = _Registry(hub)
        self.placement: RoomPlacement = _Placement(hub)
        self._bus = _Bus(hub)
        self.bus: MessageBus = self._bus
        self.presence: Presence = _Presence(hub)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        """Stop this node's subscriptions (the hub's state stays, as Redis's would)."""
        for subscription in self._bus.subscriptions:
            await subscription.close()
        self._bus.subscriptions.clear()
