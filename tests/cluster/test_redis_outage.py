"""Redis goes away and comes back (a real redis-server stopped and started on the same port):
placements, presence and the bus fail fast with the port's own reason while it is gone, the
heartbeat loop keeps running, and everything works again by itself once it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.scene import delivery, room_of_a_heard_from_b
from tests.redis_server import RedisServer, redis_server
from vidconsult.cluster.ports import UNAVAILABLE_CODE, PresenceEntry, room_topic
from vidconsult.cluster.redis_state import RedisLiveState
from vidconsult.errors import Unavailable


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


async def _until(check: Any, timeout: float = 15.0) -> Any:
    """Retry ``check`` (a coroutine function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
        except Unavailable:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("not back in time")
        await asyncio.sleep(0.1)  # polling a server coming back: no event to await


async def test_redis_stopped_then_back(own_redis: RedisServer) -> None:
    a = RedisLiveState(own_redis.url, "a", ttl=3.0, timeout=1.0)
    b = RedisLiveState(own_redis.url, "b", ttl=3.0, timeout=1.0)
    await a.start()
    await b.start()
    try:
        agent, received = await room_of_a_heard_from_b(a, b)

        own_redis.stop()
        started = time.monotonic()
        for call in (
            lambda: b.placement.place("rm_2"),
            lambda: b.bus.publish(room_topic("rm_1"), {"n": 2}),
            lambda: b.presence.enter(PresenceEntry("rm_1", "bob", "b", "s1")),
            lambda: b.presence.members("rm_1"),
        ):
            with pytest.raises(Unavailable) as refused:
                await call()
            assert refused.value.code == UNAVAILABLE_CODE
            assert "Redis" in refused.value.message
        assert time.monotonic() - started < 12  # fails fast, never hangs a join
        assert await agent.beat() == []  # the heartbeat loop survives
        assert agent.reachable is False

        own_redis.start()  # empty: the test server keeps nothing on disk

        async def beat_reaches_redis() -> bool:
            await agent.beat()
            return agent.reachable

        await _until(beat_reaches_redis)
        assert (await _until(lambda: b.placement.place("rm_2"))).node_id == "a"

        delivered = delivery(b, received)
        assert await _until(lambda: delivered(3))  # the subscriber's connection came back by itself
    finally:
        await a.close()
        await b.close()
