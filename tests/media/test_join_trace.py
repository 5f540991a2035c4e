"""The join benchmark's server-side stage times (vidconsult/join_trace.py), marked by the engine
and the passthrough on real aiortc peers over UDP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from media import AiortcMediaEngine, MediaConfig
from tests.media.conftest import ROOM, TIMEOUT, FakeListener, Peers, published
from tests.media.encoded import record_received, video_clip
from tests.media.test_passthrough import publish_clip
from vidconsult.join_trace import MAX_PARTICIPANTS, JoinTrace


@pytest.fixture
async def traced() -> AsyncIterator[tuple[AiortcMediaEngine, JoinTrace]]:
    trace = JoinTrace()
    engine = AiortcMediaEngine(
        MediaConfig(ice_servers=[], listener_timeout=TIMEOUT, forward_mode="passthrough"),
        trace=trace,
    )
    yield engine, trace
    await engine.close()


async def test_engine_marks_each_stage_of_a_join_in_order(
    traced: tuple[AiortcMediaEngine, JoinTrace],
) -> None:
    engine, trace = traced
    listener = FakeListener(engine)
    engine.set_listener(listener)
    peers = Peers(engine, listener)
    try:
        await publish_clip(engine, peers, "alice", video_clip("video/vp8"))
        (info,) = await published(listener, "alice", 1)
        bob = await peers.subscriber("bob")
        taps = record_received(bob.pc)
        await engine.subscribe(ROOM, "bob", "alice", info.sid)
        await listener.wait_answered("bob", lambda m: len(m) == 1)
        await taps[bob.mid_of(info.sid)].wait(lambda t: len(t.frames) >= 1)
    finally:
        await peers.close()

    marks = trace.room(ROOM)
    alice, sub = marks["alice"], marks["bob"]
    assert alice["publish.ice"] <= alice["publish.dtls"] <= alice["firstVideoIn"]
    order = ["subscribeOfferMade", "subscribe.ice", "subscribe.dtls", "firstVideoOut"]
    assert [sub[s] for s in order] == sorted(sub[s] for s in order)
    # the kept keyframe goes out as the connection comes up, the live one is asked for then
    assert sub["subscribe.dtls"] <= sub["keyframeAsked"]
    assert "firstVideoIn" not in sub and "firstVideoOut" not in alice
    assert trace.room("another-room") == {}


def test_only_the_first_time_of_a_stage_counts_and_old_participants_are_forgotten() -> None:
    now = [1.0]
    trace = JoinTrace(clock=lambda: now[0])
    trace.mark("r", "a", "joinReceived")
    now[0] = 2.0
    trace.marker("r", "a")("joinReceived")
    trace.mark("r", "a", "joinReplied")
    assert trace.room("r") == {"a": {"joinReceived": 1000.0, "joinReplied": 2000.0}}
    for i in range(MAX_PARTICIPANTS):
        trace.mark("r2", f"p{i}", "joinReceived")
    assert "a" not in trace.room("r")
    assert len(trace.room("r2")) == MAX_PARTICIPANTS
