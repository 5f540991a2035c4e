"""Three real nodes (processes) on one PostgreSQL and one Redis: participants entering through
different nodes meet in one room; REST on any node lists and ends it; a node killed with
SIGKILL and Redis stopped for a while."""

from __future__ import annotations

import time

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import SECRET, ServerHandle
from tests.multinode.cluster import Cluster, Node
from vidconsult.client import RoomClient
from vidconsult.tokens import TokenSigner

pytestmark = [pytest.mark.timeout(120)]


def handle(cluster: Cluster, node: Node | str) -> ServerHandle:
    url = node.url if isinstance(node, Node) else node
    return ServerHandle(
        url=url, signer=TokenSigner(SECRET.encode()), app=None, session=cluster.session
    )


async def token(api: ServerHandle, room_id: str, identity: str, role: str) -> str:
    data = await api.join_token(room_id, identity, role)
    return str(data["token"])


async def test_sdk_clients_through_three_nodes(cluster: Cluster) -> None:
    n1, n2, n3 = (handle(cluster, n) for n in cluster.nodes)
    rid = (await n1.create_room("Three nodes"))["id"]
    a = RoomClient(n1.url, await token(n1, rid, "dr-li", "doctor"))
    b = RoomClient(n2.url, await token(n2, rid, "pt-wang", "patient"))
    try:
        await a.connect()
        await b.connect()
        await a.publish(VideoStreamTrack(), AudioStreamTrack())
        await b.publish(VideoStreamTrack(), AudioStreamTrack())
        for me, other in ((a, "pt-wang"), (b, "dr-li")):
            video = await me.wait_for_track(other, "video")
            assert (await video.next_frame(timeout=15)).width > 0
        home = await cluster.where(rid)
        assert home in {"n1", "n2", "n3"}
        status, listed = await n3.api("GET", "/api/v1/rooms")
        assert status == 200, listed
        (room,) = [r for r in listed["rooms"] if r["id"] == rid]
        assert {p["identity"] for p in room["participants"]} == {"dr-li", "pt-wang"}
        status, ended = await n3.api("DELETE", f"/api/v1/rooms/{rid}")
        assert status == 200, ended
        for client in (a, b):
            await client.wait_event("room.ended")
    finally:
        await a.close()
        await b.close()


async def see_each_other(a: RoomClient, b: RoomClient, timeout: float = 15) -> None:
    for me, other in ((a, b.identity), (b, a.identity)):
        video = await me.wait_for_track(str(other), "video", timeout=timeout)
        assert (await video.next_frame(timeout=timeout)).width > 0


async def test_room_node_killed_clients_rejoin_elsewhere(cluster: Cluster) -> None:
    """SIGKILL of the room's node: both SDK clients (one whose socket was on it, one relayed
    through another node, both entering by the front) are back in the room, placed again on
    a live node, with the same identity and role, seeing each other, within 10 s."""
    front = handle(cluster, cluster.front.url)
    rid = (await front.create_room("Survives a node"))["id"]
    a = RoomClient(front.url, await token(front, rid, "dr-li", "doctor"))
    b = RoomClient(front.url, await token(front, rid, "pt-wang", "patient"))
    try:
        await a.connect()
        await b.connect()
        await a.publish(VideoStreamTrack(), AudioStreamTrack())
        await b.publish(VideoStreamTrack(), AudioStreamTrack())
        await see_each_other(a, b)
        home = await cluster.where(rid)
        assert home is not None

        cluster.node(home).kill()
        killed_at = time.monotonic()
        for client in (a, b):
            await client.wait_event("rejoined", timeout=10)
        await see_each_other(a, b, timeout=max(1.0, 10 - (time.monotonic() - killed_at)))
        back_in = time.monotonic() - killed_at
        print(f"\nback in the room, seeing each other, {back_in:.1f} s after the SIGKILL")
        assert back_in < 10, back_in
        now_home = await cluster.where(rid)
        assert now_home not in (None, home)
        # same identity and role as before the kill
        live = handle(cluster, cluster.node(str(now_home)))
        status, view = await live.api("GET", f"/api/v1/rooms/{rid}")
        assert status == 200, view
        roles = {p["identity"]: p["role"] for p in view["participants"]}
        assert roles == {"dr-li": "doctor", "pt-wang": "patient"}
        assert a.joined["participant"]["role"] == "doctor"
        assert b.joined["participant"]["role"] == "patient"
    finally:
        await a.close()
        await b.close()
