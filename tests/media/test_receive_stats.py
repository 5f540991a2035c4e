"""media.receive_stats against aiortc's StreamStatistics and NackGenerator: the same packets
(in order, lost, reordered, duplicated, wrapping, jumping) give the same receiver-report
figures (packets received and lost, fraction lost, jitter, highest sequence number and cycles)
and the same missing set and NACK decisions."""

from __future__ import annotations

import random

import pytest
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import RtpPacket

from media.receive_stats import NackTracker, ReceiveStatistics


def sequences() -> dict[str, list[tuple[int, int]]]:
    """(sequence number, timestamp) lists."""
    rng = random.Random(7)
    in_order = [(s, s * 3000) for s in range(100, 400)]
    wrapping = [((65400 + i) & 0xFFFF, (4_294_960_000 + i * 3000) & 0xFFFFFFFF) for i in range(400)]
    lossy = [p for p in in_order if rng.random() > 0.1]
    reordered = list(in_order)
    for i in range(0, len(reordered) - 3, 7):
        reordered[i], reordered[i + 2] = reordered[i + 2], reordered[i]
    duplicated = [p for p in in_order for _ in range(1 + (p[0] % 5 == 0))]
    frames = [(s, (s // 3) * 3000) for s in range(1000, 1300)]  # several packets per frame
    jumps = in_order[:50] + [(s + 20000, t) for s, t in in_order[50:100]] + in_order[100:]
    noise = [(rng.randrange(65536), rng.randrange(1 << 32)) for _ in range(300)]
    return {
        "in_order": in_order,
        "wrapping": wrapping,
        "lossy": lossy,
        "reordered": reordered,
        "duplicated": duplicated,
        "frames": frames,
        "jumps": jumps,
        "noise": noise,
    }


def report(s: StreamStatistics) -> tuple[int, ...]:
    return (
        s.packets_received,
        s.packets_expected,
        s.packets_lost,
        s.fraction_lost,
        s.jitter,
        s.max_seq,
        s.cycles,
        s.base_seq,
    )


@pytest.mark.parametrize("name", sorted(sequences()))
def test_receive_statistics_report_what_aiortcs_do(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(1_700_000_000 + i * 0.0137 + (i % 3) * 0.004 for i in range(10_000))
    now = [0.0]
    monkeypatch.setattr("time.time", lambda: now[0])
    theirs, ours, via_packet = (
        StreamStatistics(90000),
        ReceiveStatistics(90000),
        ReceiveStatistics(90000),
    )
    for i, (seq, ts) in enumerate(sequences()[name]):
        now[0] = next(clock)
        packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts)
        theirs.add(packet)
        ours.add_fields(seq, ts)
        via_packet.add(packet)
        if i % 50 == 49:  # a receiver report now and then (fraction_lost has a memory)
            assert report(ours) == report(theirs) == report(via_packet)
    assert report(ours) == report(theirs) == report(via_packet)


@pytest.mark.parametrize("name", sorted(sequences()))
def test_nack_tracker_misses_what_aiortcs_does(name: str) -> None:
    theirs, ours, via_packet = NackGenerator(), NackTracker(), NackTracker()
    for seq, ts in sequences()[name]:
        packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts)
        expected = theirs.add(packet)
        assert ours.add_seq(seq) == expected
        assert via_packet.add(packet) == expected
        assert ours.missing == theirs.missing == via_packet.missing
        assert ours.max_seq == theirs.max_seq
