"""Three real nodes (processes) on one PostgreSQL and one Redis, with SDK participants: Redis
stopped for 10 s under a consultation whose participants entered through different nodes.
(The browsers' scenes and the SIGKILL of a room's node are in test_browsers.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import SECRET, ServerHandle
from tests.multinode.cluster import KILL_NOTICED, Cluster, Node
from tests.redis_server import RedisServer
from vidconsult.client import ClientError, RoomClient
from vidconsult.tokens import TokenSigner

pytestmark = [pytest.mark.timeout(240)]


def handle(cluster: Cluster, node: Node | str) -> ServerHandle:
    url = node.url if isinstance(node, Node) else node
    return ServerHandle(
        url=url, signer=TokenSigner(SECRET.encode()), app=None, session=cluster.session
    )


async def token(api: ServerHandle, room_id: str, identity: str, role: str) -> str:
    data = await api.join_token(room_id, identity, role)
    return str(data["token"])


async def see_each_other(a: RoomClient, b: RoomClient, timeout: float = 15) -> None:
    for me, other in ((a, b.identity), (b, a.identity)):
        video = await me.wait_for_track(str(other), "video", timeout=timeout)
        assert (await video.next_frame(timeout=timeout)).width > 0


async def test_redis_stopped_for_ten_seconds(cluster: Cluster, own_redis: RedisServer) -> None:
    """Redis stopped for 10 s under a consultation whose two participants entered through
    different nodes: their media goes on (frames keep arriving, nobody rejoins); a new join
    on the third node is refused with the reason; once Redis is back it gets in."""
    n1, n2, n3 = (handle(cluster, n) for n in cluster.nodes)
    rid = (await n1.create_room("Redis goes away"))["id"]
    a = RoomClient(n1.url, await token(n1, rid, "dr-li", "doctor"))
    b = RoomClient(n2.url, await token(n2, rid, "pt-wang", "patient"))
    late = await token(n3, rid, "nurse-he", "doctor")
    clients = [a, b]
    try:
        await a.connect()
        await b.connect()
        await a.publish(VideoStreamTrack(), AudioStreamTrack())
        await b.publish(VideoStreamTrack(), AudioStreamTrack())
        await see_each_other(a, b)
        from_b = await a.wait_for_track("pt-wang", "video")
        from_a = await b.wait_for_track("dr-li", "video")

        own_redis.stop()
        stopped_at = time.monotonic()
        refused_client = RoomClient(n3.url, late, reconnect=False)
        with pytest.raises(ClientError) as refused:
            await refused_client.connect()
        await refused_client.close()
        assert refused.value.code == "live_state_unavailable", refused.value
        print(f"\nrefused while Redis is away: {refused.value}")
        # live media goes on for the whole outage
        frames = 0
        while time.monotonic() - stopped_at < 10:
            await from_b.next_frame(timeout=2)
            await from_a.next_frame(timeout=2)
            frames += 1
        assert frames > 20, frames
        assert a.rejoins == 0 and b.rejoins == 0

        own_redis.start()
        back_at = time.monotonic()
        while True:
            c = RoomClient(n3.url, late, reconnect=False)
            try:
                await c.connect()
                break
            except ClientError as exc:
                await c.close()
                # until a heartbeat registers the nodes again in the emptied Redis: no_nodes
                assert exc.code in ("live_state_unavailable", "no_nodes"), exc
                assert time.monotonic() - back_at < 10, "no join 10 s after Redis came back"
                await asyncio.sleep(0.25)
        clients.append(c)
        in_after = time.monotonic() - back_at
        print(f"joined {in_after:.1f} s after Redis was back")
        video = await c.wait_for_track("dr-li", "video")
        assert (await video.next_frame(timeout=15)).width > 0
        assert {p for p in c.participants} == {"dr-li", "pt-wang"}
    finally:
        for client in clients:
            await client.close()


async def test_room_node_killed_admitted_patient_and_chat_survive(cluster: Cluster) -> None:
    """A room with a waiting room, its patient admitted (over REST on another node) and a few
    chat lines sent; the room's node SIGKILLed: the patient rejoins through a live node
    without waiting to be admitted again, and the join answer there brings the chat back."""
    front = handle(cluster, cluster.front.url)
    rid = (await front.create_room("Lobby survives a node", lobby=True))["id"]
    doctor = RoomClient(front.url, await token(front, rid, "dr-li", "doctor"))
    patient = RoomClient(front.url, await token(front, rid, "pt-wang", "patient"))
    clients = [doctor, patient]
    try:
        await doctor.connect()
        waiting = asyncio.create_task(patient.connect())
        await patient.wait_until(lambda: patient.lobby is not None)
        home = await cluster.where(rid)
        assert home is not None
        other = next(n for n in cluster.nodes if n.name != home)
        status, body = await handle(cluster, other).api(
            "POST", f"/api/v1/rooms/{rid}/lobby/pt-wang/admit"
        )
        assert status == 200, body
        await asyncio.wait_for(waiting, 15)
        assert patient.joined["chat"] == []
        await patient.request("chat.send", {"text": "胸口还是有点闷"})
        assert (await doctor.wait_event("chat.message"))["text"] == "胸口还是有点闷"
        await doctor.request("chat.send", {"text": "Please keep the ECG leads on"})
        assert (await patient.wait_event("chat.message"))["text"] == "Please keep the ECG leads on"

        cluster.node(home).kill()
        killed_at = time.monotonic()
        for client in clients:
            await client.wait_event("rejoined", timeout=KILL_NOTICED + 12.5)
        print(f"\nboth back {time.monotonic() - killed_at:.1f} s after the SIGKILL")
        now_home = await cluster.where(rid)
        assert now_home not in (None, home)
        # not in the waiting room again: it was admitted while the room is open
        assert patient.lobby is None and patient.rejoins == 1
        for client in clients:
            assert [(m["identity"], m["text"]) for m in client.joined["chat"]] == [
                ("pt-wang", "胸口还是有点闷"),
                ("dr-li", "Please keep the ECG leads on"),
            ], client.joined
        # someone new still waits: only those admitted go straight in
        nurse = RoomClient(front.url, await token(front, rid, "nurse-he", "patient"))
        clients.append(nurse)
        queued = asyncio.create_task(nurse.connect())
        await nurse.wait_until(lambda: nurse.lobby is not None)
        queued.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await queued
    finally:
        for client in clients:
            await client.close()


async def test_room_node_killed_raised_hands_keep_their_queue(cluster: Cluster) -> None:
    """A lecture's queue of raised hands (the teacher answers them in order) outlives the
    SIGKILL of the room's node: those back within the reconnect grace have their hands up again,
    with the instants they went up, so the order is the same; a hand whose student left for
    good before the kill is not in it, nor (once the grace is over) one whose student did not
    come back."""
    front = handle(cluster, cluster.front.url)
    rid = (await front.create_room("Hands survive a node"))["id"]
    teacher = RoomClient(front.url, await token(front, rid, "dr-li", "doctor"))
    students = {
        s: RoomClient(front.url, await token(front, rid, s, "patient"))
        for s in ("st-b", "st-a", "st-c", "st-d")
    }
    clients = [teacher, *students.values()]
    try:
        for client in clients:
            await client.connect()
        raised_at = {}
        for s in ("st-b", "st-a", "st-c", "st-d"):  # not in name order: the queue's own
            await students[s].request("hand.raise", {"raised": True})
            told = await teacher.wait_event("hand.raised", lambda d, s=s: d["identity"] == s)
            raised_at[s] = told["at"]
        await students["st-c"].leave()  # for good: out of the queue
        await teacher.wait_event("participant.left", lambda d: d["identity"] == "st-c")
        home = await cluster.where(rid)
        assert home is not None

        cluster.node(home).kill()
        await students["st-d"].close()  # does not come back after the kill
        back = [teacher, students["st-b"], students["st-a"]]
        for client in back:
            await client.wait_event("rejoined", timeout=KILL_NOTICED + 12.5)
        assert (await cluster.where(rid)) not in (None, home)

        # the teacher's roster after the rejoin: st-b then st-a, at the instants they went up;
        # st-d (not back yet, within the grace) is not in the room to show
        await teacher.wait_until(lambda: {"st-a", "st-b"} <= set(teacher.participants), timeout=15)
        hands = sorted(
            (p["hand_raised_at"], i) for i, p in teacher.participants.items() if p["hand_raised"]
        )
        assert hands == [(raised_at["st-b"], "st-b"), (raised_at["st-a"], "st-a")], (
            teacher.participants,
            cluster.logs(),
        )
        for s in ("st-b", "st-a"):  # each student's own hand is up again
            me = students[s].joined["participant"]
            assert (me["hand_raised"], me["hand_raised_at"]) == (True, raised_at[s]), me
        # st-d not back within the grace: its hand leaves the queue (the node says so)
        deadline = time.monotonic() + 40
        while "identity=st-d reason=not_back" not in cluster.logs():
            assert time.monotonic() < deadline, cluster.logs()
            await asyncio.sleep(0.2)  # a line in another process's log: no event to await
        late = RoomClient(front.url, await token(front, rid, "st-d", "patient"))
        clients.append(late)
        await late.connect()
        assert late.joined["participant"]["hand_raised"] is False
        comeback = RoomClient(front.url, await token(front, rid, "st-c", "patient"))
        clients.append(comeback)
        await comeback.connect()
        assert comeback.joined["participant"]["hand_raised"] is False
    finally:
        for client in clients:
            await client.close()
