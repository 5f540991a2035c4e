"""A node with its live state in a real redis-server, which is stopped and started again:
the consultation already running goes on (media keeps flowing), a new participant is refused
with live_state_unavailable (a sentence in both languages on the page), and joins work again
by themselves once Redis answers; the room is still placed on this node and its participants
listed (the node wrote back what it holds)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import ServerHandle, served
from tests.postgres import PostgresServer, postgres_node_settings
from tests.redis_server import RedisServer
from vidconsult.client import ClientError, RoomClient
from vidconsult.cluster.ports import UNAVAILABLE_CODE
from web.keys import LIVE


@pytest.fixture
async def node(
    tmp_path: Path, postgres: PostgresServer, own_redis: RedisServer
) -> AsyncIterator[ServerHandle]:
    settings = postgres_node_settings(
        tmp_path / "a",
        postgres.new_database(),
        live="redis",
        redis_url=own_redis.url,
        node_id="node-a",
        node_heartbeat=0.5,
        node_ttl=2.0,
    )
    async with served(settings, installers=[]) as handle:
        yield handle


async def test_redis_away_refuses_new_joins_keeps_media_and_recovers(
    node: ServerHandle, own_redis: RedisServer
) -> None:
    rid = (await node.create_room("Redis outage"))["id"]
    doctor = RoomClient(node.url, node.mint("dr-li", "doctor", room=rid))
    patient = RoomClient(node.url, node.mint("pt-wang", "patient", room=rid))
    late = RoomClient(node.url, node.mint("nurse-zhao", "doctor", room=rid))
    live = node.app[LIVE]
    try:
        await doctor.connect()
        await patient.connect()
        await doctor.publish(VideoStreamTrack(), AudioStreamTrack())
        video = await patient.wait_for_track("dr-li", "video")
        await video.next_frame(timeout=15)
        assert await live.placement.where(rid) == "node-a"
        assert {e.identity for e in await live.presence.members(rid)} == {"dr-li", "pt-wang"}

        own_redis.stop()
        started = time.monotonic()
        with pytest.raises(ClientError) as refused:
            await late.connect()
        assert refused.value.code == UNAVAILABLE_CODE
        assert "Redis" in refused.value.message
        assert time.monotonic() - started < 10  # refused promptly, not after a hang
        # REST that needs the live state answers 503 with the reason, not a stack trace
        status, body = await node.api("GET", "/api/v1/nodes")
        assert status == 503, body
        assert body["error"]["code"] == UNAVAILABLE_CODE
        assert "Redis" in body["error"]["message"]
        # the consultation goes on: frames keep arriving while Redis is away
        before = video.frames
        await video.next_frame(timeout=10)
        assert video.frames > before

        own_redis.start()  # empty: this test's Redis keeps nothing on disk
        deadline = time.monotonic() + 20
        while True:
            try:
                await late.connect()
                break
            except ClientError as exc:
                # never no_nodes: a join finding Redis empty registers this node at once
                assert exc.code == UNAVAILABLE_CODE, exc
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)  # the page retries; here, a loop
        assert late.joined is not None
        status, body = await node.api("GET", "/api/v1/nodes")
        assert status == 200 and [n["node_id"] for n in body["nodes"]] == ["node-a"]
        # the node wrote back its room and who is in it
        assert await live.placement.where(rid) == "node-a"
        members = {e.identity for e in await live.presence.members(rid)}
        assert members == {"dr-li", "pt-wang", "nurse-zhao"}
        await video.next_frame(timeout=10)
    finally:
        for client in (doctor, patient, late):
            await client.close()
