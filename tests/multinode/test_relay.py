"""Signaling relayed to the room's node, in one process: two apps (two nodes) on one
PostgreSQL database, sharing an in-process live state (cluster.memory), each room put on B.
A participant entering through node A reaches its room on B (requests, events, media from B's
own ICE candidates); REST on A lists, inspects and ends the room held by B."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import SECRET, ServerHandle
from tests.postgres import PostgresServer, postgres_node_settings
from vidconsult.app import run_server
from vidconsult.client import RoomClient
from vidconsult.cluster.memory import MemoryHub
from vidconsult.tokens import TokenSigner
from web.keys import ROOMS

Node = Callable[[str], AbstractAsyncContextManager[ServerHandle]]


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub(ttl=3.0)


@pytest.fixture
def node(tmp_path: Path, postgres: PostgresServer, hub: MemoryHub) -> Node:
    url = postgres.new_database()

    @asynccontextmanager
    async def start(name: str) -> AsyncIterator[ServerHandle]:
        settings = postgres_node_settings(tmp_path / name, url, node_heartbeat=1.0, node_ttl=3.0)
        async with (
            run_server(settings, installers=[], live=hub.node(name)) as server,
            aiohttp.ClientSession() as session,
        ):
            yield ServerHandle(
                url=server.url,
                signer=TokenSigner(SECRET.encode()),
                app=server.app,
                session=session,
            )

    return start


async def test_participant_through_another_node_meets_the_room(node: Node, hub: MemoryHub) -> None:
    async with node("a") as a, node("b") as b:
        room = await a.create_room("Cross-node consult")
        rid = room["id"]
        hub.placements[rid] = "b"
        via_a = RoomClient(a.url, a.mint("dr-li", "doctor", room=rid))
        on_b = RoomClient(b.url, b.mint("pt-wang", "patient", room=rid))
        try:
            reply = await via_a.connect()
            assert reply["participant"]["identity"] == "dr-li"
            await on_b.connect()
            await via_a.publish(VideoStreamTrack(), AudioStreamTrack())
            await on_b.publish(VideoStreamTrack(), AudioStreamTrack())
            for me, other in ((via_a, "pt-wang"), (on_b, "dr-li")):
                video = await me.wait_for_track(other, "video")
                frame = await video.next_frame(timeout=15)
                assert frame.width > 0
            # the live room is on b only: a holds nobody, and says so through b
            assert a.app[ROOMS].participants(rid) == []
            status, view = await a.api("GET", f"/api/v1/rooms/{rid}")
            assert status == 200, view
            assert {p["identity"] for p in view["participants"]} == {"dr-li", "pt-wang"}
            status, listed = await a.api("GET", "/api/v1/rooms")
            (mine,) = [r for r in listed["rooms"] if r["id"] == rid]
            assert len(mine["participants"]) == 2

            # chat from the relayed participant reaches the local one, and back
            await via_a.request("chat.send", {"text": "hello from a"})
            msg = await on_b.wait_event("chat.message")
            assert msg["text"] == "hello from a"

            # REST on a ends the room on b: both are told
            status, ended = await a.api("DELETE", f"/api/v1/rooms/{rid}")
            assert status == 200, ended
            assert ended["status"] == "ended"
            for client in (via_a, on_b):
                await client.wait_event("room.ended")
        finally:
            await via_a.close()
            await on_b.close()


async def test_relayed_participant_leaving_is_seen(node: Node, hub: MemoryHub) -> None:
    async with node("a") as a, node("b") as b:
        rid = (await a.create_room())["id"]
        hub.placements[rid] = "b"
        via_a = RoomClient(a.url, a.mint("dr-li", "doctor", room=rid))
        on_b = RoomClient(b.url, b.mint("pt-wang", "patient", room=rid))
        try:
            await on_b.connect()
            await via_a.connect()
            joined = await on_b.wait_event("participant.joined")
            assert joined["participant"]["identity"] == "dr-li"
            await via_a.leave()
            left = await on_b.wait_event("participant.left")
            assert left["identity"] == "dr-li"
        finally:
            await via_a.close()
            await on_b.close()


async def test_rest_on_another_node_acts_in_the_room(node: Node, hub: MemoryHub) -> None:
    """Mute request and removal over REST on node a reach a participant of the room on b."""
    async with node("a") as a, node("b") as b:
        rid = (await a.create_room())["id"]
        hub.placements[rid] = "b"
        on_b = RoomClient(b.url, b.mint("pt-wang", "patient", room=rid), reconnect=False)
        try:
            await on_b.connect()
            status, done = await a.api("POST", f"/api/v1/rooms/{rid}/participants/pt-wang/mute")
            assert status == 200, done
            await on_b.wait_event("mute.requested")
            status, done = await a.api("DELETE", f"/api/v1/rooms/{rid}/participants/pt-wang")
            assert status == 200, done
            removed = await on_b.wait_event("removed")
            assert removed["reason"] == "removed_by_admin"
            status, missing = await a.api("DELETE", f"/api/v1/rooms/{rid}/participants/nobody")
            assert status == 404, missing
        finally:
            await on_b.close()
