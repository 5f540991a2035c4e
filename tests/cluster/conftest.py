"""The live-state backends the contract suite (test_live_contract.py) runs on: the in-process
hub, and Redis on real servers the tests start (tests/redis_server.py): one ``redis-server``, a
Redis Cluster of three primaries, and a primary with a replica behind a Sentinel. A backend is
a factory of nodes sharing one state, as the nodes of one centre share one Redis. The cluster
and the Sentinel set start once per test module."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, Protocol

import pytest

from tests.redis_server import (
    RedisClusterServers,
    RedisSentinelServers,
    RedisServer,
    redis_cluster,
    redis_sentinel,
)
from vidconsult.cluster.memory import MemoryHub
from vidconsult.cluster.ports import LiveState
from vidconsult.cluster.redis_state import RedisLiveState

# the test of expiry: short enough that it waits little, long enough for a loaded CI machine
TTL = 1.0
# every other test: no node expires while it runs, however loaded the machine (a test that
# heartbeats a node, then places a room on it, must not find it expired in between)
STEADY_TTL = 60.0
BACKENDS = ["memory", "redis", "redis-cluster", "redis-sentinel"]


class NodeFactory(Protocol):
    """``await make_node("a")``: a node of the test's shared state; ``ttl``: its heartbeats'
    lifetime (the same for every node of a test)."""

    def __call__(self, node_id: str, *, ttl: float = STEADY_TTL) -> Awaitable[LiveState]: ...


@pytest.fixture(scope="module")
def redis_cluster_servers() -> Iterator[RedisClusterServers]:
    with redis_cluster() as servers:
        yield servers


@pytest.fixture(scope="module")
def redis_sentinel_servers() -> Iterator[RedisSentinelServers]:
    with redis_sentinel() as servers:
        yield servers


@pytest.fixture(params=BACKENDS)
async def make_node(request: pytest.FixtureRequest) -> AsyncIterator[NodeFactory]:
    made: list[LiveState] = []
    hub = MemoryHub(ttl=STEADY_TTL) if request.param == "memory" else None
    redis_url = ""
    prefix = f"t{secrets.token_hex(4)}"
    options: dict[str, Any] = {}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis")
        redis_url = server.url
    elif request.param == "redis-cluster":
        cluster: RedisClusterServers = request.getfixturevalue("redis_cluster_servers")
        redis_url, options = cluster.url, {"cluster": True}
    elif request.param == "redis-sentinel":
        sentinel: RedisSentinelServers = request.getfixturevalue("redis_sentinel_servers")
        redis_url = "redis://ignored.invalid/0"  # the Sentinel names the primary
        options = {"sentinels": sentinel.sentinels, "sentinel_master": sentinel.master_name}

    async def factory(node_id: str, *, ttl: float = STEADY_TTL) -> LiveState:
        state: LiveState
        if hub is not None:
            hub.ttl = ttl  # the hub's, for all its nodes
            state = hub.node(node_id)
        else:
            from vidconsult.cluster.redis_state import RedisLiveState

            state = RedisLiveState(redis_url, node_id, ttl=ttl, prefix=prefix, **options)
        await state.start()
        made.append(state)
        return state

    yield factory
    for state in made:
        await state.close()


@pytest.fixture
async def states() -> AsyncIterator[list[RedisLiveState]]:
    """The live states a test made (append them): closed at its end, whatever happened."""
    made: list[RedisLiveState] = []
    yield made
    for state in made:
        await state.close()
