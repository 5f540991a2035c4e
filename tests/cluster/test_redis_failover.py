"""Redis fails the live state over, on real servers (tests/redis_server.py): the primary is
killed (SIGKILL, a machine gone) and a replica takes over, promoted by a Sentinel (a primary,
a replica, one Sentinel) or by the Redis Cluster itself (three primaries with a replica each:
the primary of the live state's slot is killed). The nodes' live state (its commands and its
bus) reaches the new primary by itself within a few seconds, keeping what the replica had."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.cluster.scene import delivery, room_of_a_heard_from_b
from tests.redis_server import (
    RedisClusterServers,
    RedisSentinelServers,
    redis_cluster,
    redis_sentinel,
)
from vidconsult.cluster.redis_state import RedisLiveState
from vidconsult.errors import Unavailable

FAILOVER_WITHIN = 10.0  # the Sentinel's 1 s down-after, its election, the clients' reconnect


@pytest.fixture(scope="module")
def sentinel_set() -> Iterator[RedisSentinelServers]:
    with redis_sentinel() as servers:
        yield servers


@pytest.fixture(scope="module")
def cluster_with_replicas() -> Iterator[RedisClusterServers]:
    with redis_cluster(replicas=1) as servers:
        yield servers


async def _within(since: float, call: Callable[[], Awaitable[Any]]) -> Any:
    """``call``'s first truthy result, retried while it is falsy or Unavailable, failing once
    FAILOVER_WITHIN seconds have passed since ``since``."""
    while True:
        try:
            result = await call()
            if result:
                return result
        except Unavailable:
            pass
        assert time.monotonic() - since < FAILOVER_WITHIN, "not back on the new primary in time"
        await asyncio.sleep(0.1)  # polling a failover: no event reaches this process


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
        agent, received = await room_of_a_heard_from_b(a, b)
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

        delivered = delivery(b, received)
        n = 2
        while not await delivered(n):  # the subscriber's connection went with the primary
            assert time.monotonic() - killed < FAILOVER_WITHIN, "the bus did not come back"
            n += 1
        assert await agent.beat() == [] and agent.reachable
        print(f"failover: live state on the new primary {time.monotonic() - killed:.1f} s after")
    finally:
        await a.close()
        await b.close()


async def test_the_slots_primary_killed_the_live_state_follows_the_cluster(
    cluster_with_replicas: RedisClusterServers,
) -> None:
    cluster = cluster_with_replicas

    def state(node_id: str) -> RedisLiveState:
        return RedisLiveState(cluster.url, node_id, ttl=30.0, timeout=1.0, cluster=True)

    a, b = state("a"), state("b")
    await a.start()
    await b.start()
    try:
        agent, received = await room_of_a_heard_from_b(a, b)
        primary = cluster.primary_of(f"{a.prefix}nodes")
        assert (
            await b.client.execute_command(
                "WAIT", 1, 5000, target_nodes=b.client.get_node(host="127.0.0.1", port=primary.port)
            )
            == 1
        )

        primary.kill()
        killed = time.monotonic()
        # each client finds the promoted replica by itself, at its first command after the
        # failover: until then a call may say Unavailable (the port's contract), never hang
        assert (await _within(killed, lambda: b.placement.place("rm_2"))).node_id == "a"
        assert cluster.primary_of(f"{a.prefix}nodes") is not primary
        assert await _within(killed, lambda: b.placement.where("rm_1")) == "a"
        assert await _within(killed, lambda: a.placement.rooms_on("a")) == ["rm_1", "rm_2"]

        delivered = delivery(b, received)
        sent = iter(range(2, 10_000))
        assert await _within(killed, lambda: delivered(next(sent)))  # the bus, made again
        assert await agent.beat() == [] and agent.reachable
        print(f"cluster failover: live state on the new primary {time.monotonic() - killed:.1f} s")
    finally:
        await a.close()
        await b.close()
