"""The scene the Redis fault tests share: two nodes of one live state, a room of node a's
placed by node b, and a bus message for the room from b heard on a."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from vidconsult.cluster.node import NodeAgent
from vidconsult.cluster.ports import room_topic
from vidconsult.cluster.redis_state import RedisLiveState

ROOM = "rm_1"
Received = asyncio.Queue[dict[str, Any]]


async def room_of_a_heard_from_b(
    a: RedisLiveState, b: RedisLiveState
) -> tuple[NodeAgent, Received]:
    """Node a heartbeats; b places ROOM, on a; a hears b's first message for ROOM ({"n": 1}).
    Returns a's heartbeat agent and a's queue of ROOM's messages."""
    agent = NodeAgent(a, address=lambda: "https://a:8443", load=lambda: (0, 0))
    await agent.beat()
    assert (await b.placement.place(ROOM)).node_id == "a"
    received: Received = asyncio.Queue()
    await a.bus.subscribe(room_topic(ROOM), received.put)
    await b.bus.publish(room_topic(ROOM), {"n": 1})
    assert await asyncio.wait_for(received.get(), 10) == {"n": 1}
    return agent, received


def delivery(b: RedisLiveState, received: Received) -> Callable[[int], Awaitable[bool]]:
    """``await delivered(n)``: b publishes {"n": n} for ROOM, and it reached a within 0.3 s."""

    async def delivered(n: int) -> bool:
        await b.bus.publish(room_topic(ROOM), {"n": n})
        try:
            return (await asyncio.wait_for(received.get(), 0.3))["n"] == n
        except TimeoutError:
            return False

    return delivered
