"""Signaling relayed to the room's node, in one process: two apps (two nodes) on one
PostgreSQL database, sharing an in-process live state (cluster.memory), each room put on B.
A participant entering through node A reaches its room on B (requests, events, media from B's
own ICE candidates); REST on A lists, inspects and ends the room held by B."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import ServerHandle, served
from tests.postgres import PostgresServer, postgres_node_settings
from vidconsult import areas
from vidconsult.app_keys import MEDIA, SIGNALING
from vidconsult.areas import Installer
from vidconsult.client import ClientError, RoomClient
from vidconsult.cluster.memory import MemoryHub
from web.keys import ROOMS
from web.recordings_api import RECORDINGS
from web.relay_api import RELAYS


class Node(Protocol):
    def __call__(
        self, name: str, installers: Sequence[Installer] = ..., **more: Any
    ) -> AbstractAsyncContextManager[ServerHandle]: ...


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub(ttl=3.0)


@pytest.fixture
def node(tmp_path: Path, postgres: PostgresServer, hub: MemoryHub) -> Node:
    url = postgres.new_database()

    @asynccontextmanager
    async def start(
        name: str, installers: Sequence[Installer] = (), **more: Any
    ) -> AsyncIterator[ServerHandle]:
        settings = postgres_node_settings(
            tmp_path / name, url, node_heartbeat=1.0, node_ttl=3.0, **more
        )
        async with served(settings, installers=list(installers), live=hub.node(name)) as handle:
            yield handle

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


PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


async def test_rest_on_another_node_commands_the_room_node(node: Node, hub: MemoryHub) -> None:
    """The bitrate cap, recording start / status / stop (and the list of rooms recording) and
    a room announcement asked on node a are done on b, the room's node: its publisher gets the
    cap in its next publish answer, the recording is made on b (files marked with b), and the
    announcement reaches both the participant on b and one relayed through a."""
    installers = [areas.install_records, areas.install_recordings]
    async with node("a", installers) as a, node("b", installers) as b:
        rid = (await a.create_room("Commanded from a", case_id="case-1"))["id"]
        hub.placements[rid] = "b"
        on_b = RoomClient(b.url, b.mint("pt-wang", "patient", room=rid, case="case-1"))
        via_a = RoomClient(a.url, a.mint("dr-li", "doctor", room=rid, case="case-1"))
        try:
            await on_b.connect()
            await via_a.connect()
            await on_b.publish(VideoStreamTrack())

            # the bitrate cap: the room's, then the patient's own (on a, nobody is joined)
            bandwidth = f"/api/v1/rooms/{rid}/bandwidth"
            status, body = await a.api("PUT", bandwidth, {"video_kbps": 300})
            assert status == 200 and body["room_max_video_kbps"] == 300, body
            await on_b.publish(AudioStreamTrack())
            assert "b=AS:300" in on_b.publish_answer, on_b.publish_answer
            status, body = await a.api("PUT", bandwidth, {"video_kbps": 200, "identity": "pt-wang"})
            assert status == 200 and body["room_max_video_kbps"] == 300, body
            await on_b.publish(AudioStreamTrack())
            assert "b=AS:200" in on_b.publish_answer, on_b.publish_answer
            status, err = await a.api("PUT", bandwidth, {"video_kbps": 100, "identity": "nobody"})
            assert status == 409 and err["error"]["code"] == "not_joined", err

            # recording: started on a, made on b (where the patient's video is)
            status, started = await a.api("POST", f"/api/v1/rooms/{rid}/recording/start")
            assert status == 200 and started["active"], started
            assert started["files"], started
            for client in (on_b, via_a):
                await client.wait_event("recording.started")
            assert b.app[RECORDINGS].status(rid)["active"]
            assert not a.app[RECORDINGS].status(rid)["active"]
            files = await a.app[RECORDINGS].store.list_recordings(room_id=rid)
            assert files and {f.node_id for f in files} == {"b"}, files
            assert {f.identity for f in files} == {"pt-wang"}
            status, seen = await a.api("GET", f"/api/v1/rooms/{rid}/recording")
            assert status == 200 and seen["active"], seen
            assert seen["session"]["session_id"] == started["session"]["session_id"]
            status, active = await a.api("GET", "/api/v1/recording/active")
            assert status == 200, active
            assert [(r["room_id"], r["active"]) for r in active["rooms"]] == [(rid, True)], active
            status, stopped = await a.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
            assert status == 200 and not stopped["active"], stopped
            await on_b.wait_event("recording.stopped")
            assert not b.app[RECORDINGS].status(rid)["active"]
            status, err = await a.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
            assert status == 409 and err["error"]["code"] == "not_recording", err

            # an announcement: a file added on a through a's REST reaches everyone in the room
            status, added = await a.api(
                "POST",
                "/api/v1/cases/case-1/attachments",
                token=via_a._token,
                params={"filename": "ecg.pdf"},
                data=PDF,
                headers={"Content-Type": "application/pdf"},
            )
            assert status == 201, added
            for client in (on_b, via_a):
                told = await client.wait_event("attachment.added")
                assert told["attachment_id"] == added["id"], told
        finally:
            await via_a.close()
            await on_b.close()


async def test_lecture_listener_refused_when_the_edge_cannot_reach_the_room_node(
    node: Node, hub: MemoryHub
) -> None:
    """A lecture's listener entering through node a, whose room is on b: a serves its media,
    relayed from b, and for that reaches b's internal endpoint. When it cannot, the join is
    refused with its reason and code, and the listener is not left in the room on b."""
    secret = "k" * 40
    async with node("a", cluster_secret=secret) as a, node("b", cluster_secret=secret) as b:
        rid = (await a.create_room("Lecture", kind="lecture"))["id"]
        hub.placements[rid] = "b"
        b.app[SIGNALING].relay_url = lambda: "http://127.0.0.1:9"  # nobody listens there
        listener = RoomClient(a.url, a.mint("unit-a", "observer", room=rid), reconnect=False)
        try:
            with pytest.raises(ClientError) as refused:
                await listener.connect()
            assert refused.value.code == "relay_unreachable", refused.value
            assert "cannot reach the lecture's node b" in str(refused.value)
            assert b.app[ROOMS].participants(rid) == []
            assert a.app[RELAYS].state()["audience"] == {}
            assert a.app[MEDIA].stats().rooms == 0  # nothing of the room left on a's engine
        finally:
            await listener.close()


async def until(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    """Poll in-process state that changes in background tasks (no event to await)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


async def test_lecture_listener_on_an_edge_taken_over_then_removed(
    node: Node, hub: MemoryHub
) -> None:
    """A lecture's listener entering twice through the edge a with the same link (a second
    device, or a reload racing its old socket): a keeps one media session for it, fed by one
    leg from b; removed by an admin's REST call, it leaves nothing of the room on a, and b
    closes a's leg."""
    secret = "k" * 40
    async with node("a", cluster_secret=secret) as a, node("b", cluster_secret=secret) as b:
        rid = (await a.create_room("Lecture", kind="lecture"))["id"]
        hub.placements[rid] = "b"
        presenter = RoomClient(b.url, b.mint("dr-li", "expert", room=rid))
        token = a.mint("unit-a", "observer", room=rid)
        first = RoomClient(a.url, token, reconnect=False)
        second = RoomClient(a.url, token, reconnect=False)

        def legs_to_a() -> int:
            return sum(1 for x in b.app[RELAYS].state()["legs"] if x["edge"] == "a")

        try:
            await presenter.connect()
            await presenter.publish(VideoStreamTrack(), AudioStreamTrack())
            assert (await first.connect())["media_node"] == "a"
            video = await first.wait_for_track("dr-li", "video")
            assert (await video.next_frame(timeout=15)).width > 0

            assert (await second.connect())["media_node"] == "a"
            removed = await first.wait_event("removed")
            assert removed["reason"] == "duplicate_identity"
            video = await second.wait_for_track("dr-li", "video")
            assert (await video.next_frame(timeout=15)).width > 0
            await until(
                lambda: a.app[MEDIA].stats().subscriptions == 2,
                "a subscribes the listener's one session to the presenter's two tracks",
            )
            assert a.app[RELAYS].state()["audience"] == {
                rid: {"origin": "b", "listeners": ["unit-a"]}
            }
            assert legs_to_a() == 1
            assert [p.identity for p in b.app[ROOMS].participants(rid)] == ["dr-li", "unit-a"]

            status, done = await a.api("DELETE", f"/api/v1/rooms/{rid}/participants/unit-a")
            assert status == 200, done
            assert (await second.wait_event("removed"))["reason"] == "removed_by_admin"
            await until(
                lambda: a.app[RELAYS].state()["audience"] == {} and legs_to_a() == 0,
                "the edge unregistered, its leg closed",
            )
            await until(lambda: a.app[MEDIA].stats().rooms == 0, "nothing of the room on a")
            assert a.app[RELAYS].state()["relayed_in"] == []
        finally:
            for client in (first, second, presenter):
                await client.close()
