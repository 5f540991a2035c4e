"""A lecture spanning nodes, through the product (issue 12, part 4): three real nodes (one
PostgreSQL, one redis-server, a cluster secret). The presenter publishes; the room is placed
on a node (its *home*); listeners (observers) enter through the two others. Each of those
nodes serves its own listeners' media, relayed once from the home (one WebRTC leg per node
and publisher); signaling (chat, raised hand, leave) still reaches the room on the home,
whose roster lists everyone. The last listener leaving a node closes that node's leg on the
home. One listener is the room page in Chromium (unchanged: it cannot tell where its media
comes from). The home killed: the listeners rejoin like anyone else, and their nodes drop what they
relayed from it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.browser.room_scene import artifact
from tests.browser.test_e2e_room import Opener
from tests.multinode.cluster import CLUSTER_SECRET, KILL_NOTICED, Cluster, Node
from tests.multinode.test_browsers import join, room_link
from tests.multinode.test_nodes import handle, token
from vidconsult.client import RoomClient
from web.relay_api import PREFIX, SECRET_HEADER

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]
PRESENTER = "dr-li"


async def relay_state(cluster: Cluster, node: Node) -> dict[str, Any]:
    async with cluster.session.get(
        node.url + PREFIX, headers={SECRET_HEADER: CLUSTER_SECRET}
    ) as resp:
        assert resp.status == 200, await resp.text()
        data: dict[str, Any] = await resp.json()
        return data


async def metric(cluster: Cluster, node: Node, name: str) -> float:
    async with cluster.session.get(node.url + "/metrics") as resp:
        text = await resp.text()
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} not in {node.name}'s /metrics"
    return float(found.group(1))


async def eventually(
    probe: Callable[[], Any], check: Callable[[Any], bool], what: str, timeout: float = 15
) -> Any:
    """Poll a node's state until ``check`` holds (no event crosses the process boundary)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"{what}: last seen {value}"
        await asyncio.sleep(0.2)


def legs(state: dict[str, Any], room_id: str) -> list[tuple[str, str]]:
    return sorted((x["edge"], x["publisher"]) for x in state["legs"] if x["room_id"] == room_id)


async def test_lecture_audience_on_other_nodes(cluster: Cluster, open_as: Opener) -> None:
    api = handle(cluster, cluster.nodes[0])
    rid = (await api.create_room("Lecture: sepsis", kind="lecture"))["id"]
    presenter = RoomClient(api.url, await token(api, rid, PRESENTER, "expert"))
    clients = [presenter]
    try:
        await presenter.connect()
        await presenter.publish(VideoStreamTrack(), AudioStreamTrack())
        n1 = cluster.node(str(await cluster.where(rid)))  # the room's node
        n2, n3 = (n for n in cluster.nodes if n is not n1)
        api1, api2, api3 = (handle(cluster, n) for n in (n1, n2, n3))
        where = {"unit-a": (n2, api2), "unit-b": (n2, api2), "unit-c": (n3, api3)}
        listeners = {
            name: RoomClient(node.url, await token(api, rid, name, "observer"))
            for name, (node, api) in where.items()
        }
        clients += listeners.values()
        replies = await asyncio.gather(*(c.connect() for c in listeners.values()))
        # the join is the room's (n1's) answer; the media comes from the listener's own node
        for (name, (node, _)), reply in zip(where.items(), replies, strict=True):
            assert reply["participant"]["identity"] == name
            assert reply["media_node"] == node.name, reply
        # every listener decodes the presenter's video, the page too
        page = await open_as(
            "unit-d", room_link(n3.url, rid, await token(api3, rid, "unit-d", "observer"))
        )
        await join(page)
        for client in listeners.values():
            video = await client.wait_for_track(PRESENTER, "video", timeout=30)
            assert (await video.next_frame(timeout=30)).width > 0
        await page.wait_playing(PRESENTER)
        await page.page.screenshot(path=artifact("multinode-lecture-listener-on-edge"))

        # n2 and n3 each get one copy of each of the presenter's tracks: one leg per node,
        # carrying audio and video, and nothing else leaves n1 (its only subscriptions are the
        # legs' four: the listeners' own connections are on n2 and n3)
        origin = await relay_state(cluster, n1)
        assert legs(origin, rid) == sorted([(n2.name, PRESENTER), (n3.name, PRESENTER)]), origin
        for leg in origin["legs"]:
            assert sorted(t["kind"] for t in leg["tracks"]) == ["audio", "video"], leg
            assert all(t["packets"] > 0 for t in leg["tracks"]), leg
        assert origin["edges"] == {rid: sorted([n2.name, n3.name])}
        assert await metric(cluster, n1, "vidconsult_subscriptions") == 4
        for node, names in ((n2, ["unit-a", "unit-b"]), (n3, ["unit-c", "unit-d"])):
            edge = await relay_state(cluster, node)
            assert edge["relayed_in"] == [
                {"room_id": rid, "publisher": PRESENTER, "origin": n1.name}
            ], edge
            assert edge["audience"] == {rid: {"origin": n1.name, "listeners": names}}, edge
            assert edge["legs"] == []
            # each listener subscribes to the relayed presenter's two tracks, on its own node
            assert await metric(cluster, node, "vidconsult_subscriptions") == 2 * len(names)

        # the registry's load: each edge counts the listeners it serves (it holds no room),
        # the room's node everyone seated there; presence lists the room once, with everyone
        async def nodes() -> Any:
            return await api1.api("GET", "/api/v1/nodes")

        def loads(answer: Any) -> dict[str, int]:
            return {n["node_id"]: n["participants"] for n in answer[1]["nodes"]}

        seen = await eventually(
            nodes,
            lambda r: loads(r) == {n1.name: 5, n2.name: 2, n3.name: 2},
            "the nodes' load",
        )
        assert seen[1]["presence"] == {rid: 5}, seen
        assert [n["placed_rooms"] for n in seen[1]["nodes"] if n["node_id"] == n1.name] == [[rid]]

        # one room: n1's roster (and REST on any node) lists everyone
        for api in (api1, api3):
            status, view = await api.api("GET", f"/api/v1/rooms/{rid}")
            assert status == 200, view
            assert {p["identity"] for p in view["participants"]} == {PRESENTER, *where, "unit-d"}

        # signaling from an edge's listener reaches the room: a question and a raised hand
        await listeners["unit-a"].request("chat.send", {"text": "What about lactate?"})
        asked = await presenter.wait_event("chat.message")
        assert (asked["identity"], asked["text"]) == ("unit-a", "What about lactate?")
        await listeners["unit-c"].request("hand.raise", {"raised": True})
        hand = await presenter.wait_event("hand.raised")
        assert (hand["identity"], hand["raised"]) == ("unit-c", True)
        # and the room's events reach the edges' listeners
        heard = await listeners["unit-b"].wait_event("chat.message")
        assert heard["text"] == "What about lactate?"

        # the page goes (its seat is held on n1 for the reconnect grace), then n3's last
        # listener leaves: n3's leg on n1 is closed, n2's stays
        await page.page.context.close()
        await eventually(
            lambda: relay_state(cluster, n3),
            lambda s: s["audience"] == {rid: {"origin": n1.name, "listeners": ["unit-c"]}},
            "the page off n3",
        )
        assert legs(await relay_state(cluster, n1), rid) == sorted(
            [(n2.name, PRESENTER), (n3.name, PRESENTER)]
        )
        await listeners["unit-c"].leave()
        left = await presenter.wait_event("participant.left")
        assert left["identity"] == "unit-c"
        await eventually(
            lambda: relay_state(cluster, n1),
            lambda s: legs(s, rid) == [(n2.name, PRESENTER)] and s["edges"] == {rid: [n2.name]},
            "n3's leg closed on n1",
        )
        await eventually(
            lambda: relay_state(cluster, n3),
            lambda s: s["audience"] == {} and s["relayed_in"] == [],
            "n3 relays nothing any more",
        )
        # one of n2's two listeners leaves: its leg stays for the other, who still gets video
        await listeners["unit-a"].leave()
        await eventually(
            lambda: relay_state(cluster, n2),
            lambda s: s["audience"] == {rid: {"origin": n1.name, "listeners": ["unit-b"]}},
            "unit-a off n2",
        )
        assert legs(await relay_state(cluster, n1), rid) == [(n2.name, PRESENTER)]
        video = await listeners["unit-b"].wait_for_track(PRESENTER, "video")
        await video.wait_frames(5, timeout=15)

        # the room's node dies: unit-b does not hang, it rejoins (through n2) the room placed
        # on a live node, and n2 keeps nothing it relayed from n1
        n1.kill()
        killed_at = time.monotonic()
        await listeners["unit-b"].wait_until(
            lambda: listeners["unit-b"].rejoins >= 1, KILL_NOTICED + 17.5
        )
        back_in = time.monotonic() - killed_at
        # its death noticed, then 7.5 s to rejoin (10 s with the 2 s TTL it was set with)
        assert back_in < KILL_NOTICED + 7.5, back_in
        assert await cluster.where(rid) in {n2.name, n3.name}
        await eventually(
            lambda: relay_state(cluster, n2),
            lambda s: (
                not any(x["origin"] == n1.name for x in s["relayed_in"])
                and all(a["origin"] != n1.name for a in s["audience"].values())
            ),
            "n2 dropped n1's relay",
        )
        # (the presenter comes back too when its socket was on a node that lives)
        back = {"unit-b"} | ({PRESENTER} if cluster.nodes[0] is not n1 else set())
        await eventually(
            lambda: api2.api("GET", f"/api/v1/rooms/{rid}"),
            lambda r: r[0] == 200 and {p["identity"] for p in r[1]["participants"]} == back,
            "the room on a live node lists who came back",
        )
        print(f"\nlistener back {back_in:.1f} s after the room's node was killed")
    finally:
        for client in clients:
            await client.close()
