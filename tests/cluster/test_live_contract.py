"""The live-state contract, on every backend (conftest.BACKENDS): node registry and expiry,
room placement, the message bus between nodes, presence."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.cluster.conftest import TTL, NodeFactory
from vidconsult.cluster.ports import (
    CLUSTER_TOPIC,
    NODE_DOWN,
    NodeInfo,
    NodeLoad,
    PresenceEntry,
    node_topic,
    room_topic,
)
from vidconsult.errors import Unavailable

WAIT = 10.0  # generous: CI machines can be slow; a pass never waits it


def info(node_id: str, participants: int = 0, *, limit: int = 0, cpu: float = 0.0) -> NodeInfo:
    return NodeInfo(
        node_id,
        f"https://{node_id}.example:8443",
        NodeLoad(participants=participants, rooms=0, cpu=cpu),
        limit,
    )


class Inbox:
    """Collects a topic's messages; ``await inbox.next()`` waits for the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.queue.put(message)

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.queue.get(), WAIT)


# node registry -------------------------------------------------------------------------------
async def test_heartbeat_registers_a_node_with_its_address_and_load(make_node: NodeFactory) -> None:
    a = await make_node("a")
    b = await make_node("b")
    assert await a.nodes.heartbeat(info("a", 3, limit=40, cpu=0.25)) is False  # new
    seen = await b.nodes.get("a")
    assert seen is not None
    assert seen.address == "https://a.example:8443"
    assert seen.load == NodeLoad(participants=3, rooms=0, cpu=0.25)
    assert seen.limit == 40
    assert await b.nodes.get("b") is None  # never heartbeated
    assert await a.nodes.heartbeat(info("a", 5)) is True  # known: nothing to write back
    again = await b.nodes.get("a")
    assert again is not None and again.load.participants == 5


async def test_a_node_without_heartbeat_expires_and_is_announced_once(
    make_node: NodeFactory,
) -> None:
    a, b, c = [await make_node(n, ttl=TTL) for n in ("a", "b", "c")]
    inbox_b, inbox_c = Inbox(), Inbox()
    await b.bus.subscribe(CLUSTER_TOPIC, inbox_b)
    await c.bus.subscribe(CLUSTER_TOPIC, inbox_c)
    await a.nodes.heartbeat(info("a"))
    await b.nodes.heartbeat(info("b"))
    await b.placement.place("rm_only_a")  # least loaded: a or b; force it onto a below
    await a.presence.enter(PresenceEntry("rm_x", "alice", "a", "s1"))
    assert {n.node_id for n in await c.nodes.nodes()} == {"a", "b"}
    assert await b.nodes.sweep() == []  # nobody dead yet
    # a stops beating; b keeps beating until a's TTL is past
    deadline = asyncio.get_running_loop().time() + TTL * 3
    swept: list[str] = []
    while not swept and asyncio.get_running_loop().time() < deadline:
        await b.nodes.heartbeat(info("b"))
        swept = await asyncio.gather(b.nodes.sweep(), c.nodes.sweep())  # type: ignore[assignment]
        swept = [n for found in swept for n in found]  # type: ignore[union-attr]
        if not swept:
            await asyncio.sleep(TTL / 5)  # polling a TTL: there is no event to await
    assert swept == ["a"]  # two sweepers at once: removed by exactly one
    for inbox in (inbox_b, inbox_c):
        message = await inbox.next()
        assert message == {"type": NODE_DOWN, "node": "a", "reason": "expired"}
        assert inbox.queue.empty()
    assert await c.nodes.get("a") is None
    assert [n.node_id for n in await c.nodes.nodes()] == ["b"]
    assert await c.presence.members("rm_x") == []  # a's participants went with it
    # a was only paused: its next beat says it was unknown, so it writes its state back
    assert await a.nodes.heartbeat(info("a")) is False


async def test_a_node_that_leaves_is_announced_and_gone_at_once(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    inbox = Inbox()
    await b.bus.subscribe(CLUSTER_TOPIC, inbox)
    await a.nodes.heartbeat(info("a"))
    await a.nodes.leave("a")
    assert await inbox.next() == {"type": NODE_DOWN, "node": "a", "reason": "left"}
    assert await b.nodes.get("a") is None


# room placement ------------------------------------------------------------------------------
async def test_new_rooms_go_to_the_least_loaded_node(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.nodes.heartbeat(info("a", 10))
    await b.nodes.heartbeat(info("b", 2))
    placed = await a.placement.place("rm_1")
    assert placed.node_id == "b"
    assert placed.address == "https://b.example:8443"
    assert await a.placement.where("rm_1") == "b"
    assert await b.placement.rooms_on("b") == ["rm_1"]
    # placed rooms count before anyone joins them: b (2 + 1 room) takes rooms until it is as
    # loaded as a (10), then they alternate
    where = [(await b.placement.place(f"rm_n{i}")).node_id for i in range(12)]
    assert where == ["b"] * 7 + ["a", "b", "a", "b", "a"], where


async def test_placement_is_sticky_while_the_node_lives(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.nodes.heartbeat(info("a", 0))
    await b.nodes.heartbeat(info("b", 50))
    assert (await b.placement.place("rm_s")).node_id == "a"
    await a.nodes.heartbeat(info("a", 500))  # a is now far busier: the room stays
    assert (await b.placement.place("rm_s")).node_id == "a"
    assert (await a.placement.place("rm_s")).node_id == "a"
    await b.placement.release("rm_s")
    assert await a.placement.where("rm_s") is None
    assert (await a.placement.place("rm_s")).node_id == "b"


async def test_every_node_over_its_limit_refuses_with_a_reason(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.nodes.heartbeat(info("a", 20, limit=20))
    await b.nodes.heartbeat(info("b", 31, limit=30))
    with pytest.raises(Unavailable) as refused:
        await a.placement.place("rm_full")
    assert refused.value.code == "nodes_full"
    assert "limit" in refused.value.message
    assert await a.placement.where("rm_full") is None
    await b.nodes.heartbeat(info("b", 29, limit=30))
    assert (await a.placement.place("rm_full")).node_id == "b"


async def test_no_live_node_refuses(make_node: NodeFactory) -> None:
    a = await make_node("a")
    with pytest.raises(Unavailable) as refused:
        await a.placement.place("rm_none")
    assert refused.value.code == "no_nodes"


async def test_a_dead_nodes_rooms_are_placed_again(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.nodes.heartbeat(info("a", 0))
    await b.nodes.heartbeat(info("b", 9))
    assert (await b.placement.place("rm_d")).node_id == "a"
    await a.nodes.leave("a")
    assert await b.placement.where("rm_d") is None
    assert (await b.placement.place("rm_d")).node_id == "b"
    assert await b.placement.rooms_on("a") == []


async def test_concurrent_placements_of_one_room_agree(make_node: NodeFactory) -> None:
    nodes = [await make_node(n) for n in ("a", "b", "c")]
    for i, node in enumerate(nodes):
        await node.nodes.heartbeat(info(node.node_id, i))
    placed = await asyncio.gather(*(n.placement.place("rm_race") for n in nodes for _ in range(3)))
    assert len({p.node_id for p in placed}) == 1


# the bus -------------------------------------------------------------------------------------
async def test_bus_delivers_in_order_to_every_subscriber_on_any_node(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a"), await make_node("b")
    on_a, on_b, other = Inbox(), Inbox(), Inbox()
    await a.bus.subscribe(room_topic("rm_1"), on_a)
    await b.bus.subscribe(room_topic("rm_1"), on_b)
    await b.bus.subscribe(room_topic("rm_2"), other)
    for i in range(20):
        await a.bus.publish(room_topic("rm_1"), {"seq": i, "text": "你好"})
    for inbox in (on_a, on_b):
        assert [(await inbox.next())["seq"] for _ in range(20)] == list(range(20))
    await a.bus.publish(room_topic("rm_2"), {"seq": "x"})
    assert await other.next() == {"seq": "x"}
    assert on_a.queue.empty() and on_b.queue.empty()


async def test_node_topic_reaches_that_node_only_and_unsubscribe_stops(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a"), await make_node("b")
    to_a, to_b = Inbox(), Inbox()
    sub_a = await a.bus.subscribe(node_topic("a"), to_a)
    await b.bus.subscribe(node_topic("b"), to_b)
    await b.bus.publish(node_topic("a"), {"kind": "relay", "n": 1})
    assert await to_a.next() == {"kind": "relay", "n": 1}
    await sub_a.close()
    await sub_a.close()  # idempotent
    await b.bus.publish(node_topic("a"), {"n": 2})
    await b.bus.publish(node_topic("b"), {"n": 3})
    assert await to_b.next() == {"n": 3}  # b's arrived, so a's (sent first) would have too
    assert to_a.queue.empty()


async def test_a_failing_handler_does_not_stop_the_others(make_node: NodeFactory) -> None:
    a = await make_node("a")
    inbox = Inbox()

    async def broken(message: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    await a.bus.subscribe("t", broken)
    await a.bus.subscribe("t", inbox)
    await a.bus.publish("t", {"n": 1})
    await a.bus.publish("t", {"n": 2})
    assert [(await inbox.next())["n"] for _ in range(2)] == [1, 2]


# presence ------------------------------------------------------------------------------------
async def test_presence_across_nodes(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    alice = PresenceEntry("rm_p", "alice", "a", "sa1", "Alice", "doctor", "2026-12-05T10:00:00Z")
    bob = PresenceEntry("rm_p", "bob", "b", "sb1", "鲍勃", "patient", "2026-12-05T10:01:00Z")
    await a.presence.enter(alice)
    await b.presence.enter(bob)
    await b.presence.enter(PresenceEntry("rm_q", "carol", "b", "sc1"))
    assert await a.presence.members("rm_p") == [alice, bob]
    assert await b.presence.rooms() == {"rm_p": 2, "rm_q": 1}
    # alice reconnects through b: the new session replaces the old one ...
    alice2 = PresenceEntry("rm_p", "alice", "b", "sa2", "Alice", "doctor", "2026-12-05T10:02:00Z")
    await b.presence.enter(alice2)
    # ... and the old session's late exit on a leaves the new one alone
    assert await a.presence.exit("rm_p", "alice", "sa1") is False
    assert await a.presence.members("rm_p") == [alice2, bob]
    assert await b.presence.exit("rm_p", "alice", "sa2") is True
    assert await b.presence.exit("rm_q", "carol", "sc1") is True
    assert await a.presence.rooms() == {"rm_p": 1}
    assert await a.presence.members("rm_q") == []
