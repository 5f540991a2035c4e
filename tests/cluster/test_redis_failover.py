"""Redis Sentinel fails the live state over: a real primary with a replica behind one Sentinel
(tests/redis_server.py); the primary is killed (SIGKILL, a machine gone), the Sentinel promotes
the replica, and the nodes' live state (its commands and its bus) reaches the new primary by
itself within a few seconds, keeping what the replica had."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.redis_server import RedisSentinelServers, redis_sentinel
from vidconsult.cluster.node import NodeAgent
from vidconsult.cluster.ports import room_topic
from vidconsult.cluster.redis_state import RedisLiveState
from vidconsult.errors import Unavailable

FAILOVER_WITHIN = 10.0  # the Sentinel's 1 s down-after, its election, the clients' reconnect


@pytest.fixture(scope="module")
def sentinel_set() -> Iterator[RedisSentinelServers]:
    with redis_sentinel() as servers:
        yield servers


def _state(servers: RedisSentinelServers, node_id: str) -> RedisLiveState:
    return RedisLiveState(
        "redis://ignored.invalid/0",
        node_id,
        ttl=30.0,
        timeout=1.0,
        sentinels=servers.sentinels,
        sentinel_master=servers.master_name,
    )


async def test_the_primary_killed_the_live_state_follows_the_sentinel(
    sentinel_set: RedisSentinelServers,
) -> None:
    a, b = _state(sentinel_set, "a"), _state(sentinel_set, "b")
    await a.start()
    await b.start()
    try:
        agent = NodeAgent(a, address=lambda: "https://a:8443", load=lambda: (0, 0))
        await agent.beat()
        assert (await b.placement.place("rm_1")).node_id == "a"
        received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await a.bus.subscribe(room_topic("rm_1"), received.put)
        await b.bus.publish(room_topic("rm_1"), {"n": 1})
        assert await asyncio.wait_for(received.get(), 10) == {"n": 1}
        # the replica has every write so far (replication is asynchronous)
        assert await b.client.execute_command("WAIT", 1, 5000) == 1

        old = sentinel_set.master_port()
        assert old == sentinel_set.primary.port
        sentinel_set.primary.kill()
        killed = time.monotonic()

        async def placed_again() -> bool:
            try:
                return (await b.placement.place("rm_2")).node_id == "a"
            except Unavailable:
                return False

        while not await placed_again():
            assert time.monotonic() - killed < FAILOVER_WITHIN, "no new primary in time"
            await asyncio.sleep(0.1)  # polling a failover: no event reaches this process
        assert sentinel_set.master_port() == sentinel_set.replica.port
        assert await b.placement.where("rm_1") == "a"  # kept by the replica, now the primary
        assert await a.placement.rooms_on("a") == ["rm_1", "rm_2"]

        async def delivered(n: int) -> bool:
            await b.bus.publish(room_topic("rm_1"), {"n": n})
            try:
                return (await asyncio.wait_for(received.get(), 0.3))["n"] == n
            except TimeoutError:
                return False

        n = 2
        while not await delivered(n):  # the subscriber's connection went with the primary
            assert time.monotonic() - killed < FAILOVER_WITHIN, "the bus did not come back"
            n += 1
        assert await agent.beat() == [] and agent.reachable
        print(f"failover: live state on the new primary {time.monotonic() - killed:.1f} s after")
    finally:
        await a.close()
        await b.close()
