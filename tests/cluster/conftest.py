"""The live-state backends the contract suite (test_live_contract.py) runs on: the in-process
hub, and Redis on a real ``redis-server`` the tests start (tests/redis_server.py). A backend is
a factory of nodes sharing one state, as the nodes of one centre share one Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.redis_server import RedisServer
from vidconsult.cluster.memory import MemoryHub
from vidconsult.cluster.ports import LiveState

# short enough that the tests of expiry wait little, long enough for a loaded CI machine
TTL = 1.0
BACKENDS = ["memory", "redis"]

NodeFactory = Callable[[str], Awaitable[LiveState]]


@pytest.fixture(params=BACKENDS)
async def make_node(request: pytest.FixtureRequest) -> AsyncIterator[NodeFactory]:
    made: list[LiveState] = []
    hub = MemoryHub(ttl=TTL) if request.param == "memory" else None
    redis_url = ""
    prefix = f"t{secrets.token_hex(4)}:"
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis")
        redis_url = server.url

    async def factory(node_id: str) -> LiveState:
        state: LiveState
        if hub is not None:
            state = hub.node(node_id)
        else:
            from vidconsult.cluster.redis_state import RedisLiveState

            state = RedisLiveState(redis_url, node_id, ttl=TTL, prefix=prefix)
        await state.start()
        made.append(state)
        return state

    yield factory
    for state in made:
        await state.close()
