"""The per-subscriber pacer (media/pacer.py) on a fake clock: the rate is kept, order is kept,
audio never waits behind video, retransmissions go ahead of new video, the queue is bounded by
time (a frame that cannot start in time is dropped whole and reported once), one timer at
most and none while nothing waits, nothing is sent after close."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from media.pacer import BURST, IP_UDP_OVERHEAD, SRTP_TAG, Pacer

ADDR = ("198.18.0.2", 5000)


class FakeLoop:
    """``time()`` and ``call_at()`` as asyncio's loop has them, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, Handle]] = []
        self._order = itertools.count()
        self.armed = 0  # call_at calls

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        self.armed += 1
        handle = Handle(callback)
        heapq.heappush(self._timers, (when, next(self._order), handle))
        return handle

    def pending(self) -> int:
        return sum(1 for _, _, h in self._timers if not h.cancelled)

    def run_until(self, until: float) -> None:
        while self._timers and self._timers[0][0] <= until:
            when, _, handle = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not handle.cancelled:
                assert self.pending() == 0, "more than one pacer timer was armed"
                handle.callback()
        self.now = max(self.now, until)


class Handle:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


VIDEO = 1000 - IP_UDP_OVERHEAD - SRTP_TAG  # an RTP packet taking 1000 bytes on the link


def packet(seq: int, ts: int, size: int = VIDEO, ssrc: int = 1) -> bytes:
    """An RTP packet (sequence number, timestamp, SSRC), ``size`` bytes in all."""
    head = bytes((0x80, 96)) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
    head += ssrc.to_bytes(4, "big")
    return head + b"\x00" * (size - len(head))


def seq_of(data: bytes) -> int:
    return (data[2] << 8) | data[3]


class Wire:
    """The socket: what was sent, when."""

    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.sent: list[tuple[float, bytes]] = []

    def __call__(self, data: bytes, addr: Any) -> bool:
        assert addr == ADDR
        self.sent.append((self.loop.now, data))
        return True


def make(rate: float = 800_000, max_delay: float = 0.4) -> tuple[FakeLoop, Wire, Pacer]:
    loop = FakeLoop()
    wire = Wire(loop)
    pacer = Pacer(wire, rate, max_delay=max_delay, clock=loop.time, call_at=loop.call_at)
    return loop, wire, pacer


def test_a_burst_leaves_at_the_rate_in_order_with_one_timer_at_a_time() -> None:
    loop, wire, pacer = make(rate=800_000)  # 1000 bytes on the link = 10 ms
    lane = pacer.lane()
    for seq in range(30):  # one big frame (a keyframe) arriving at once
        assert lane.send(packet(seq, ts=1000), ADDR)
    assert len(wire.sent) == 1  # the bucket was empty: the first goes at once
    assert pacer.timer_armed and loop.pending() == 1
    loop.run_until(2.0)
    assert [seq_of(d) for _, d in wire.sent] == list(range(30))
    times = [t for t, _ in wire.sent]
    for k, t in enumerate(times):  # never ahead of the rate (by more than the burst allowance)
        assert t >= k * 0.010 - BURST - 1e-9, (k, t)
    assert times[-1] == pytest.approx(0.29, abs=BURST + 1e-6)  # ...and not slower either
    sent_bits = sum((len(d) + SRTP_TAG + IP_UDP_OVERHEAD) * 8 for _, d in wire.sent[1:])
    assert sent_bits / (times[-1] - times[0]) == pytest.approx(800_000, rel=0.05)
    assert not pacer.timer_armed and loop.pending() == 0  # nothing waits: no timer
    assert pacer.queued == 0


def test_an_idle_pacer_sends_at_once_without_a_timer() -> None:
    loop, wire, pacer = make(rate=800_000)
    lane = pacer.lane()
    for i in range(5):  # 10 ms of link per packet, one every 50 ms: never waits
        loop.run_until(i * 0.05)
        lane.send(packet(i, ts=i), ADDR)
        assert wire.sent[-1][0] == loop.now
    assert loop.armed == 0


def test_audio_is_never_queued_behind_video_and_takes_its_share() -> None:
    loop, wire, pacer = make(rate=800_000)
    lane = pacer.lane()
    for seq in range(20):
        lane.send(packet(seq, ts=1), ADDR)
    loop.run_until(0.05)
    before = len(wire.sent)
    audio = packet(900, ts=7, size=200 - IP_UDP_OVERHEAD, ssrc=2)
    assert pacer.audio(audio, ADDR)
    assert wire.sent[-1] == (0.05, audio)  # at once, with ~15 video packets still waiting
    assert len(wire.sent) == before + 1
    loop.run_until(2.0)
    video = [t for t, d in wire.sent if d is not audio]
    # the audio's 200 bytes (2 ms at the rate) were taken from the bucket: video finished later
    assert video[-1] == pytest.approx(0.19 + 0.002, abs=BURST + 1e-6)
    assert [seq_of(d) for _, d in wire.sent if d is not audio] == list(range(20))


def test_retransmissions_are_paced_and_go_ahead_of_new_video() -> None:
    loop, wire, pacer = make(rate=800_000)
    lane = pacer.lane()
    for seq in range(10):
        lane.send(packet(seq, ts=1), ADDR)
    assert lane.resend(packet(500, ts=0), ADDR)  # a NACK's answer while video waits
    loop.run_until(1.0)
    order = [seq_of(d) for _, d in wire.sent]
    assert order == [0, 500, *range(1, 10)]
    assert wire.sent[1][0] == pytest.approx(0.01, abs=BURST + 1e-6)  # paced, not at once


def test_the_queue_is_bounded_by_time_the_rest_of_the_frame_dropped_and_reported() -> None:
    overflows: list[tuple[float, int]] = []
    loop, wire, pacer = make(rate=800_000, max_delay=0.1)  # 10 ms per packet, 100 ms bound
    lane = pacer.lane(lambda n: overflows.append((loop.now, n)))
    other = pacer.lane()  # another video of the same subscriber
    for seq in range(3):
        assert other.send(packet(100 + seq, ts=9, ssrc=3), ADDR)
    # a frame of 30 packets (300 ms at the rate) arrives at once: packets are queued while
    # they would leave within 100 ms; the first that would not is dropped with the rest of
    # its frame and what this video still has waiting (not the other video's)
    accepted = [seq for seq in range(30) if lane.send(packet(seq, ts=1), ADDR)]
    assert accepted == list(range(len(accepted))) and 5 <= len(accepted) <= 11
    assert len(overflows) == 1 and lane.overflows == 1
    purged_and_it = overflows[0][1]
    assert purged_and_it == len(accepted) + 1  # nothing of this lane had left yet
    assert lane.dropped == 30 and pacer.queued == 2  # the other's two waiting packets
    # the next frame is the keyframe the owner asked: queued whole, however long it waits
    for seq in range(30, 60):
        assert lane.send(packet(seq, ts=2), ADDR)
    assert lane.overflows == 1
    # a retransmission that would wait longer than the bound is dropped
    assert not lane.resend(packet(5, ts=1), ADDR)
    assert pacer.rtx_dropped == 1
    # what follows it may wait the bound beyond the time it leaves (~300 ms from now)...
    seq, ts = 60, 3
    while lane.send(packet(seq, ts=ts), ADDR):
        seq, ts = seq + 1, ts + 1
    # ...and no longer: ~10 frames of a packet after it, it would wait 0.3 + 0.1 s
    assert 69 <= seq <= 71 and lane.overflows == 2
    assert overflows[1][1] == 30 + (seq - 60) + 1  # all it had waiting, the keyframe too
    loop.run_until(5.0)
    sent = [seq_of(d) for _, d in wire.sent]
    assert sent == [100, 101, 102]  # nothing of this lane: all stale by then


def test_the_keyframe_after_an_overflow_is_queued_whole() -> None:
    """A keyframe larger than the bound still gets through (else a link paced under its
    keyframes would ask for one after another)."""
    loop, wire, pacer = make(rate=800_000, max_delay=0.05)
    overflows: list[int] = []
    lane = pacer.lane(overflows.append)
    sent_first = [seq for seq in range(10) if lane.send(packet(seq, ts=1), ADDR)]
    assert len(overflows) == 1 and len(sent_first) < 10
    for seq in range(10, 50):  # 400 ms of the rate, 8 x the bound
        assert lane.send(packet(seq, ts=2), ADDR)
    loop.run_until(2.0)
    assert [seq_of(d) for _, d in wire.sent] == [0, *range(10, 50)]
    assert len(overflows) == 1
    assert pacer.longest_wait == pytest.approx(0.4, abs=0.01 + BURST)


def test_a_rate_change_applies_to_what_waits() -> None:
    loop, wire, pacer = make(rate=800_000)
    lane = pacer.lane()
    for seq in range(11):
        lane.send(packet(seq, ts=1), ADDR)
    pacer.rate = 400_000  # 20 ms per packet from the next one on
    loop.run_until(2.0)
    times = [t for t, _ in wire.sent]
    assert times[-1] == pytest.approx(0.01 + 9 * 0.02, abs=BURST + 1e-6)


def test_nothing_is_sent_after_close() -> None:
    loop, wire, pacer = make(rate=800_000)
    lane = pacer.lane()
    for seq in range(10):
        lane.send(packet(seq, ts=1), ADDR)
    assert pacer.timer_armed
    pacer.close()
    assert not pacer.timer_armed and loop.pending() == 0
    assert not lane.send(packet(10, ts=2), ADDR)
    assert not lane.resend(packet(3, ts=1), ADDR)
    assert not pacer.audio(packet(11, ts=3, ssrc=2), ADDR)
    loop.run_until(5.0)
    assert len(wire.sent) == 1  # the one sent at once before close


def test_flush_sends_what_waits_at_once_in_order() -> None:
    loop, wire, pacer = make(rate=800_000)
    lane = pacer.lane()
    for seq in range(10):
        lane.send(packet(seq, ts=1), ADDR)
    pacer.flush()
    assert [seq_of(d) for _, d in wire.sent] == list(range(10))
    assert {t for t, _ in wire.sent} == {0.0} and pacer.queued == 0


def test_a_refusing_socket_is_counted_not_raised() -> None:
    loop = FakeLoop()

    def refuse(data: bytes, addr: Any) -> bool:
        raise OSError("gone")

    pacer = Pacer(refuse, 800_000, clock=loop.time, call_at=loop.call_at)
    lane = pacer.lane()
    lane.send(packet(1, ts=1), ADDR)
    lane.send(packet(2, ts=1), ADDR)
    loop.run_until(1.0)
    assert pacer.sent == 2 and pacer.refused == 2


def test_a_rate_is_positive() -> None:
    with pytest.raises(ValueError):
        Pacer(lambda d, a: True, 0)


def test_packets_are_stamped_and_protected_when_they_leave() -> None:
    """abs-send-time is the time a packet leaves the pacer, not when it was queued (else the
    subscriber's delay-based estimate reads the wait as congestion), then it is protected."""
    loop, wire, pacer = make(rate=800_000)
    offset = 12 + 5  # header, then the extension block's 4 bytes and the element's id byte

    def protect(data: bytes) -> bytes:
        return data + b"T" * SRTP_TAG

    lane = pacer.lane(protect=protect, abs_offset=offset)
    for seq in range(5):
        lane.send(packet(seq, ts=1), ADDR)
    loop.run_until(1.0)
    assert len(wire.sent) == 5
    for when, data in wire.sent:
        assert data.endswith(b"T" * SRTP_TAG) and len(data) == VIDEO + SRTP_TAG
        stamped = int.from_bytes(data[offset : offset + 3], "big")
        assert stamped == int(when * 262144) & 0xFFFFFF
    assert wire.sent[-1][0] == pytest.approx(0.04, abs=BURST + 1e-6)


def test_a_late_timer_is_caught_up_so_the_rate_holds_on_a_busy_machine() -> None:
    loop, wire, pacer = make(rate=800_000)
    lane = pacer.lane()
    for seq in range(10):
        lane.send(packet(seq, ts=1), ADDR)
    loop.now = 0.025  # the event loop was busy: the timer due at ~5 ms runs 20 ms late
    loop.run_until(1.0)
    times = [t for t, _ in wire.sent]
    assert times[1:3] == [0.025, 0.025]  # what was due meanwhile goes at once...
    assert times[-1] == pytest.approx(0.09, abs=BURST + 1e-6)  # ...and the schedule holds
    for k, t in enumerate(times):
        assert t >= k * 0.010 - BURST - 1e-9, (k, t)  # never ahead of it
