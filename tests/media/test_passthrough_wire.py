"""The passthrough as its subscriber sees it on the wire: every RTP packet that reaches the
subscriber's RTCRtpReceiver is recorded (and chosen ones dropped) before aiortc handles it, so
the assertions are about what arrived, not about the forwarder's own counters."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from media import AiortcMediaEngine, downstream
from media.passthrough import PassthroughForwarder
from tests.media.conftest import ROOM, FakeListener, Peers, Pulse, SubscriberClient, published
from tests.media.encoded import video_clip
from tests.media.test_passthrough import publish_clip, subscribe

pytestmark = pytest.mark.parametrize("forward_mode", ["passthrough"])


@dataclass(frozen=True, slots=True)
class Arrival:
    packet: RtpPacket
    at: float  # time.monotonic() when the receiver got it


class Wire:
    """Wraps a receiver's RTP entry point: records every packet; ``drop`` (a predicate on
    media packets) makes it never reach aiortc, as if lost on the way."""

    def __init__(self, receiver: RTCRtpReceiver, media_pt: int, rtx_pt: int) -> None:
        self.media_pt, self.rtx_pt = media_pt, rtx_pt
        self.media: list[Arrival] = []
        self.rtx: list[Arrival] = []
        self.dropped: list[RtpPacket] = []
        self.drop: Callable[[RtpPacket], bool] = lambda packet: False
        self.changed = Pulse()
        original = receiver._handle_rtp_packet

        async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
            arrival = Arrival(packet, time.monotonic())
            if packet.payload_type == self.rtx_pt:
                self.rtx.append(arrival)
            elif packet.payload_type == self.media_pt:
                self.media.append(arrival)
                if self.drop(packet):
                    self.dropped.append(packet)
                    self.changed.notify()
                    return
            self.changed.notify()
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]

    def seqs(self, start: int = 0) -> list[int]:
        return [a.packet.sequence_number for a in self.media[start:]]


def tap_wire(client: SubscriberClient, sid: str) -> Wire:
    transceiver = client.transceiver(client.mid_of(sid))
    media = transceiver._codecs[0]
    rtx = next(c for c in transceiver._codecs if c.parameters.get("apt") == media.payloadType)
    assert media.payloadType is not None and rtx.payloadType is not None
    return Wire(transceiver.receiver, media.payloadType, rtx.payloadType)


async def test_a_packet_lost_on_the_way_is_retransmitted_to_the_subscriber(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    """The subscriber's own NACK (aiortc notices the gap) is answered with an RTX packet that
    reaches it and carries the lost packet, and the frame it belonged to is assembled."""
    await publish_clip(engine, peers, "alice", video_clip("video/vp8"))
    (info,) = await published(listener, "alice", 1)
    bob, bob_tap = await subscribe(engine, listener, peers, "bob", info.sid)
    await bob_tap.wait(lambda t: len(t.frames) >= 5)
    wire = tap_wire(bob, info.sid)
    wire.drop = lambda packet: not wire.dropped  # the next media packet, once
    await wire.changed.until(lambda: bool(wire.dropped), 5)
    (lost,) = wire.dropped

    def resent() -> list[RtpPacket]:
        return [
            a.packet
            for a in wire.rtx
            if a.packet.payload[:2] == lost.sequence_number.to_bytes(2, "big")
        ]

    try:
        await wire.changed.until(lambda: bool(resent()), 5)
    except TimeoutError:
        pytest.fail(f"no retransmission of packet {lost.sequence_number} reached the subscriber")
    rtx = resent()[0]
    assert rtx.payload[2:] == lost.payload  # RFC 4588: the original sequence, then the payload
    assert (rtx.timestamp, rtx.marker) == (lost.timestamp, lost.marker)
    assert rtx.ssrc != lost.ssrc  # the RTX stream, not the media one
    # the frame of the lost packet is complete at the subscriber
    await bob_tap.wait(lambda t: any(f.rtp_timestamp == lost.timestamp for f in t.frames), 5)


# Seeds of the downstream's random source; a downstream that drew a new random start at an
# unmute would jump back (SRTP refuses the old index: the downstream fails) or ahead.
SEEDS = {"new-start-behind": 20260308, "new-start-ahead": 2}


@pytest.mark.parametrize("seed", SEEDS.values(), ids=SEEDS.keys())
async def test_sequence_numbers_continue_across_a_mute(
    engine: AiortcMediaEngine,
    listener: FakeListener,
    peers: Peers,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    """After an unmute the subscriber's stream goes on from the last sequence number it got,
    and the RTP timestamp advances by the time the track was muted. The downstream's random
    source is seeded, so a new random start instead of the continuation fails every run (it
    was caught 4 times in 10 when the draw decided)."""
    monkeypatch.setattr(downstream, "random", random.Random(seed))
    await publish_clip(engine, peers, "alice", video_clip("video/vp8"))
    (info,) = await published(listener, "alice", 1)
    bob, bob_tap = await subscribe(engine, listener, peers, "bob", info.sid)
    await bob_tap.wait(lambda t: len(t.frames) >= 3)
    wire = tap_wire(bob, info.sid)
    await wire.changed.until(lambda: len(wire.media) >= 30, 5)
    fwd = engine._forwarder
    assert isinstance(fwd, PassthroughForwarder)
    src = fwd.source(info.sid)
    assert src is not None
    (down,) = src.downstreams

    await engine.set_track_muted(ROOM, "alice", info.sid, True)
    last = down._last_seq
    assert last is not None
    await wire.changed.until(lambda: last in wire.seqs(), 5)  # all it sent has arrived
    mark = len(wire.media)
    before = wire.media[mark - 1]
    assert before.packet.sequence_number == last
    await engine.set_track_muted(ROOM, "alice", info.sid, False)
    try:
        await wire.changed.until(lambda: len(wire.media) >= mark + 10, 10)
    except TimeoutError:
        pytest.fail(
            f"the subscriber got {wire.seqs(mark)} after the unmute (failed: {down.failed})"
        )

    after = wire.media[mark]
    assert after.packet.ssrc == before.packet.ssrc
    assert wire.seqs(mark)[:10] == [(last + 1 + i) & 0xFFFF for i in range(10)]
    muted_for = after.at - before.at
    advanced = ((after.packet.timestamp - before.packet.timestamp) & 0xFFFFFFFF) / 90000
    assert abs(advanced - muted_for) < 0.25, (advanced, muted_for)
