"""This node's agent over the in-process live state: it registers the node with its address,
load and limit, writes back what the node holds whenever it finds itself unregistered, keeps
its standing subscriptions, and a placement that finds no node registers this one at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vidconsult.cluster.memory import MemoryHub
from vidconsult.cluster.node import NodeAgent, SelfRegistering
from vidconsult.cluster.ports import CLUSTER_TOPIC
from vidconsult.errors import Unavailable


async def test_agent_registers_writes_back_and_follows() -> None:
    hub = MemoryHub(ttl=60)
    state = hub.node("a")
    resyncs: list[int] = []
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_back() -> None:
        resyncs.append(1)

    agent = NodeAgent(
        state, address=lambda: "https://a:8443", load=lambda: (7, 2), limit=9, on_back=on_back
    )
    agent.follow(CLUSTER_TOPIC, received.put)
    await agent.beat()
    node = await state.nodes.get("a")
    assert node is not None and node.address == "https://a:8443"
    assert (node.load.participants, node.load.rooms, node.limit) == (7, 2, 9)
    assert resyncs == [1]  # first registration: write back (nothing yet, at start)
    await agent.beat()
    assert resyncs == [1]  # still registered: nothing to write back
    hub.nodes.clear()  # Redis restarted empty
    await agent.beat()
    assert resyncs == [1, 1]
    await state.bus.publish(CLUSTER_TOPIC, {"type": "x"})
    assert await asyncio.wait_for(received.get(), 5) == {"type": "x"}
    await agent.leave()
    assert await state.nodes.get("a") is None
    await state.close()


async def test_a_placement_finding_no_node_registers_this_one() -> None:
    state = MemoryHub(ttl=60).node("a")
    agent = NodeAgent(state, address=lambda: "https://a:8443", load=lambda: (0, 0))
    with pytest.raises(Unavailable) as refused:
        await state.placement.place("rm_1")
    assert refused.value.code == "no_nodes"
    placement = SelfRegistering(state.placement, agent.beat)
    assert (await placement.place("rm_1")).node_id == "a"
    assert await placement.where("rm_1") == "a"
    assert await placement.rooms_on("a") == ["rm_1"]
    await placement.release("rm_1")
    assert await placement.where("rm_1") is None
