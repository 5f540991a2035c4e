"""One passthrough downstream alone (media/downstream.py), on a real aiortc sender whose
transport is never connected: what it writes is captured where its socket would be."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from aiortc import (
    RTCCertificate,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCRtpSender,
)
from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket

import media.downstream as downstream_module
from media import compat
from media.downstream import Downstream, IdleTrack
from media.rtp_munger import Munger


class Clock:
    """Stands in for ``time`` in media/downstream.py: monotonic() is what the test sets."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


async def ready_downstream(sent: list[bytes]) -> Downstream:
    """A video downstream as ``_configure`` leaves it once its subscriber is connected
    (payload type 96, no extensions), writing plain RTP into ``sent``."""
    ice = RTCIceTransport(RTCIceGatherer())
    dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
    d = Downstream(IdleTrack("video"), RTCRtpSender("video", dtls))
    d.munger = Munger(90000, random.Random(7))
    d.attached(1)
    d._pt = 96
    d._dtls = SimpleNamespace(_state=compat.DTLS_CONNECTED)
    d._protect = lambda data: data
    d._sendto = lambda data, addr: sent.append(data)
    d.ready = True
    return d


def report(d: Downstream) -> RtcpSrPacket:
    """The SR aiortc's RTCP loop would send (stale figures), as rewritten by the downstream."""
    stale = RtcpSrPacket(
        ssrc=d._ssrc,
        sender_info=RtcpSenderInfo(ntp_timestamp=0, rtp_timestamp=1, packet_count=0, octet_count=0),
    )
    packets: list[Any] = [stale]
    d._fix_sender_report(packets)
    assert packets[0] is not stale
    out: RtcpSrPacket = packets[0]
    return out


async def test_sender_report_extrapolates_the_timestamp_while_waiting_for_a_keyframe(
    monkeypatch: Any,
) -> None:
    """5157939: after the kept keyframe (start_with) the subscriber waits for the live one,
    and the stream resumes at the last timestamp plus the time passed (Munger.switch). A report
    in that wait must carry that extrapolated timestamp: the last one sent, tied to the
    current NTP time, places the track's frames late at the receiver by the wait."""
    clock = Clock(100.0)
    monkeypatch.setattr(downstream_module, "time", clock)
    sent: list[bytes] = []
    d = await ready_downstream(sent)
    kept = [(1000, 555_000, 0, b"\x10key-a"), (1001, 555_000, 1, b"\x10key-b")]
    assert d.start_with(0, kept, clock.now)
    assert len(sent) == 2
    assert d.waiting  # for the live keyframe
    sent_ts = int.from_bytes(sent[-1][4:8], "big")
    assert d.munger.last_ts == sent_ts

    clock.now = 100.5  # 0.5 s into the wait, nothing forwarded since
    sr = report(d)
    assert d.waiting
    assert sr.ssrc == d._ssrc
    assert sr.sender_info.rtp_timestamp == (sent_ts + 45_000) & 0xFFFFFFFF
    assert sr.sender_info.packet_count == 2
    assert sr.sender_info.octet_count == len(b"\x10key-a") + len(b"\x10key-b")

    # the live keyframe then continues from the same extrapolation: report and stream agree
    d.forward(0, 5000, 900_000, 1, b"\x10live", None, True, clock.now)
    assert not d.waiting
    live_ts = int.from_bytes(sent[-1][4:8], "big")
    assert live_ts == sr.sender_info.rtp_timestamp


async def test_sender_report_before_anything_was_sent_holds_the_munger_start(
    monkeypatch: Any,
) -> None:
    clock = Clock(50.0)
    monkeypatch.setattr(downstream_module, "time", clock)
    d = await ready_downstream([])
    clock.now = 51.0
    sr = report(d)
    assert sr.sender_info.rtp_timestamp == d.munger.last_ts == 0
    assert sr.sender_info.packet_count == 0
