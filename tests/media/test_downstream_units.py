"""One passthrough downstream alone (media/downstream.py), on a real aiortc sender whose
transport is never connected: what it writes is captured where its socket would be."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc import (
    RTCCertificate,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCRtpSender,
)
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtcpSenderInfo, RtcpSrPacket, RtpPacket

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


async def ready_downstream(sent: list[bytes], refuse: set[int] | None = None) -> Downstream:
    """A video downstream as ``_configure`` leaves it once its subscriber is connected
    (payload type 96, no extensions), writing plain RTP into ``sent``; the socket refuses
    (compat.datagram_sendto returns False) the packets whose number is in ``refuse``, counted
    from 0 as they are written."""
    refuse = refuse or set()
    written = [0]
    ice = RTCIceTransport(RTCIceGatherer())
    dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
    d = Downstream(IdleTrack("video"), RTCRtpSender("video", dtls))
    d.munger = Munger(90000, random.Random(7))
    d.attached(1)
    d._pt = 96
    d._dtls = SimpleNamespace(_state=compat.DTLS_CONNECTED)
    d._protect = lambda data: data

    def sendto(data: bytes, addr: Any) -> bool:
        written[0] += 1
        if written[0] - 1 in refuse:
            return False
        sent.append(data)
        return True

    d._sendto = sendto
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


async def test_a_packet_the_socket_refuses_is_counted_and_resent_on_nack() -> None:
    sent: list[bytes] = []
    d = await ready_downstream(sent, refuse={1})
    now = 10.0
    d.forward(0, 100, 9000, 0, b"\x10a", None, True, now)
    d.forward(0, 101, 9000, 0, b"\x00b", None, False, now)  # refused (EAGAIN / ENOBUFS)
    d.forward(0, 102, 9000, 1, b"\x00c", None, False, now)
    assert [p[12:] for p in sent] == [b"\x10a", b"\x00c"]
    assert d.send_dropped == 1
    assert (d.packets, d.octets) == (2, 4)  # what reached the socket, as the SR counts it
    assert d.link()["send_dropped"] == 1
    seqs = [int.from_bytes(p[2:4], "big") for p in sent]
    assert seqs[1] == (seqs[0] + 2) & 0xFFFF  # the gap the subscriber NACKs
    d._retransmit((seqs[0] + 1) & 0xFFFF)
    assert sent[-1][12:] == b"\x00b" and d.retransmitted == 1


async def configured(kind: str, extensions: list[tuple[int, str]], sent: list[bytes]) -> Downstream:
    """A downstream configured by aiortc's send parameters (mid "0" and ``extensions``),
    then given a writer into ``sent`` as a connected transport would."""
    ice = RTCIceTransport(RTCIceGatherer())
    dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
    d = Downstream(IdleTrack(kind), RTCRtpSender(kind, dtls))
    codec = (
        RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
        if kind == "video"
        else RTCRtpCodecParameters(
            mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111
        )
    )
    d._configure(
        RTCRtpSendParameters(
            codecs=[codec],
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for i, u in extensions],
            muxId="0",
        )
    )
    assert not d.ready  # the transport is not connected
    d._dtls = SimpleNamespace(_state=compat.DTLS_CONNECTED)
    d._protect = lambda data: data

    def sendto(data: bytes, addr: Any) -> bool:
        sent.append(data)
        return True

    d._sendto = sendto
    d.ready = True
    return d


MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def parsed(data: bytes, extensions: list[tuple[int, str]]) -> RtpPacket:
    ext_map = HeaderExtensionsMap()
    ext_map.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for i, u in extensions]
        )
    )
    return RtpPacket.parse(data, ext_map)


@pytest.mark.parametrize("mid_id", [1, 4])
async def test_written_header_extensions_are_what_aiortc_reads(mid_id: int) -> None:
    video_ext = [(mid_id, MID), (3, ABS)]
    sent: list[bytes] = []
    video = await configured("video", video_ext, sent)
    video.forward(0, 7, 1000, 1, b"\x10frame", None, True, 2.5)
    packet = parsed(sent[-1], video_ext)
    assert packet.extensions.mid == "0"
    assert packet.extensions.abs_send_time == int(2.5 * 262144) & 0xFFFFFF
    assert packet.payload == b"\x10frame" and packet.marker == 1 and packet.payload_type == 96

    audio_ext = [(mid_id, MID), (2, LEVEL)]
    audio = await configured("audio", audio_ext, sent)
    for level in [(True, 0), (False, 127), (True, 42)]:
        audio.forward(0, 9, 480, 0, b"opus", level, True, 3.0)
        packet = parsed(sent[-1], audio_ext)
        assert packet.extensions.mid == "0"
        assert packet.extensions.audio_level == level
        assert packet.payload == b"opus" and packet.payload_type == 111
    audio.forward(0, 10, 960, 0, b"opus2", None, True, 3.02)  # no level: the mid only
    packet = parsed(sent[-1], audio_ext)
    assert packet.extensions.mid == "0" and packet.extensions.audio_level is None


class _Link:
    """Stands for a subscriber's connected DTLS transport (what the pacer is kept by)."""

    _state = compat.DTLS_CONNECTED


class _LayeredSource:
    """A simulcast source as the downstream sees it: the layers' rates, keyframe requests."""

    def __init__(self, rates: list[float]) -> None:
        self.rates = SimpleNamespace(bps=rates)
        self.info = SimpleNamespace(track_sid="TR_paced")
        self.asked: list[int | None] = []

    def request_keyframe(self, layer: int | None = None, *, new_since: float | None = None) -> None:
        self.asked.append(layer)


async def test_a_limited_link_is_paced_through_the_sendto_seam_and_unpaced_after() -> None:
    """The layer decision swaps the subscriber's ``_sendto`` (video and audio on the same
    link) for its pacer's while the link limits the layer it gets, and back afterwards; a
    link that is not limited keeps the socket's own."""
    import asyncio

    link = _Link()
    wire: list[bytes] = []
    done = asyncio.get_running_loop().create_future()

    def raw(data: bytes, addr: Any) -> bool:
        wire.append(data)
        if len(wire) == 10 and not done.done():
            done.set_result(None)
        return True

    video = await ready_downstream([])
    source = _LayeredSource([120_000.0, 350_000.0, 1_000_000.0])
    video.source = source  # type: ignore[assignment]
    video.attached(3)
    audio = Downstream(IdleTrack("audio"), RTCRtpSender("audio", video.sender.transport))
    audio._pt, audio._protect, audio.ready = 111, (lambda data: data), True
    for d in (video, audio):
        d._dtls = link
        d._sendto = d._resendto = d._raw_sendto = raw

    video.estimate.on_remb(2_000_000)  # a good link: the top layer, nothing changes
    video._choose(0.0)
    assert video.selector.target == 2 and video._sendto is raw and video.lane is None
    assert downstream_module._PACED.get(link) is None

    video.estimate.on_remb(150_000)  # x 1.6 = 240 kbit/s: layer 0 (120 kbit/s) fits only
    video._choose(0.3)
    assert video.selector.target == 0
    assert video.lane is not None and video._sendto == video.lane.send
    assert video._resendto == video.lane.resend
    protect = video.lane.protect  # the lane protects (and stamps) as packets leave
    assert video._protect is downstream_module._plain
    paced = downstream_module._PACED[link]
    assert audio._sendto == paced.pacer.audio and audio in paced.members
    # 2 x 120 + 64 = 304 kbit/s, over 1.25 x the REMB (187.5), which is under the floor that
    # keeps the queue from growing: 1.25 x 120 + 64 = 214 kbit/s
    assert paced.pacer.rate == pytest.approx(214_000)
    assert video.link()["paced"] and video.link()["pacer"]["rate_kbps"] == 214

    # a keyframe of 9 packets of ~1 kB (~340 ms at 214 kbit/s, inside the bound) arrives at once
    loop_now = asyncio.get_running_loop().time()
    for i in range(9):
        video.forward(0, 100 + i, 9000, int(i == 8), b"\x10" + bytes(960), None, True, 0.31)
    assert len(wire) < 3 and paced.pacer.queued > 6  # paced, not sent at once
    audio.forward(0, 7, 480, 1, b"opus", None, True, 0.31)
    assert wire[-1].endswith(b"opus")  # audio at once, ahead of the video waiting
    await asyncio.wait_for(done, 5)  # the rest leaves at the rate, in order
    took = asyncio.get_running_loop().time() - loop_now
    assert took >= 0.25, took  # ~8 packets x 8.2 kbit / 214 kbit/s = 0.31 s
    seqs = [int.from_bytes(p[2:4], "big") for p in wire if not p.endswith(b"opus")]
    assert seqs == sorted(seqs) and len(seqs) == 9

    # a frame of 30 packets (~1 s at the rate): what would wait over the bound is dropped
    # with the rest of the frame and what waits; a keyframe is asked
    before, skipped = len(source.asked), video.loss.skipped
    for i in range(30):
        video.forward(0, 109 + i, 12000, int(i == 29), b"\x10" + bytes(960), None, False, 0.5)
    assert video.lane.dropped >= 1 and video.lane.overflows == 1
    assert video.waiting and len(source.asked) > before
    assert paced.pacer.queued == 0  # what this video still had waiting went too
    # never sent, so not the link's loss: the loss meter takes them off receiver reports
    assert video.loss.skipped - skipped == video.lane.dropped

    video.estimate.on_remb(2_000_000)  # the link recovers: straight to the socket again
    video._choose(10.0)
    video._choose(12.5)  # a step up waits UP_HOLD seconds
    assert video.selector.target == 2
    assert video._sendto is raw and audio._sendto is raw and video.lane is None
    assert video._protect is protect
    assert downstream_module._PACED.get(link) is None and paced.pacer.closed


class _SingleSource(_LayeredSource):
    """A video without simulcast (one layer) and its publisher's ingress, whose caps (bit/s,
    0 = none) are recorded."""

    def __init__(self, bps: float) -> None:
        super().__init__([bps])
        self.caps: list[int] = []
        self.downstreams: tuple[Downstream, ...] = ()
        source = self

        class _Ingress:
            def set_cap(self, *, manual: int | None = None, links: int | None = None) -> None:
                assert manual is None and links is not None
                source.caps.append(links)

        self.ingress = _Ingress()


async def test_video_without_simulcast_is_paced_and_its_publisher_held_while_the_link_is_weak() -> (
    None
):
    """One layer, no layer decision: the REMB decides. Limited (paced, the publisher held to
    the link's REMB) once the stream does not fit the estimate (KEEP x 1.6 x REMB), and for as
    long as the link has no room for what the publisher sent before it was held; straight and
    released once it has, for UP_HOLD seconds. A good link is never paced: its REMB is never
    low enough."""
    link = _Link()

    def raw(data: bytes, addr: Any) -> bool:
        return True

    video = await ready_downstream([])
    source = _SingleSource(1_500_000.0)  # Chromium's 960x540 without simulcast
    source.downstreams = (video,)
    video.source = source  # type: ignore[assignment]
    video._dtls = link
    video._sendto = video._resendto = video._raw_sendto = raw

    # a good link: a receive-side REMB sits at 0.85-1.5 x what arrives
    for t, remb in enumerate((1_300_000, 1_700_000, 1_280_000)):
        video.estimate.on_remb(remb)
        video._weigh_single(float(t))
        assert video.lane is None and video._sendto is raw, remb
    assert downstream_module._PACED.get(link) is None and source.caps == []  # nothing told

    # the link drops to 300 kbit/s: 1.5 Mbit/s > 1.1 x 1.6 x 250 kbit/s
    video.estimate.on_remb(250_000)
    video._weigh_single(3.0)
    assert video.lane is not None and video._sendto == video.lane.send
    assert source.caps[-1] == 250_000  # the publisher is asked to come down to the REMB
    pacer = downstream_module._PACED[link].pacer
    # 2 x 1.5 M + 64 k capped at 1.25 x REMB, but not under 1.25 x the stream + 64 k
    assert pacer.rate == pytest.approx(1.25 * 1_500_000 + 64_000)

    # the publisher comes down to the cap: the stream fits now, but only because it is held
    source.rates.bps[0] = 240_000.0
    for t in range(4, 12):
        video.estimate.on_remb(280_000 if t % 2 else 230_000)
        video._weigh_single(float(t))
        assert video.lane is not None and source.caps[-1] in (280_000, 230_000)
    # the rate follows the stream: 2 x 240 + 64 = 544 k over 1.25 x 230 k = 287.5 k; floor
    # 1.25 x 240 + 64 = 364 k
    assert pacer.rate == pytest.approx(364_000)

    # a REMB far under the floor holds the publisher at the floor, not at nothing
    video.estimate.on_remb(20_000)
    video._weigh_single(12.0)
    assert source.caps[-1] == downstream_module.PACE_FLOOR

    # the link recovers: the REMB climbs with the publisher (up to 1.5 x what arrives) until
    # it has room for the 1.5 Mbit/s sent before, x 1/0.9; then UP_HOLD seconds more
    source.rates.bps[0] = 1_200_000.0
    video.estimate.on_remb(1_600_000)  # 0.9 x 1.6 M < 1.5 M: not yet
    video._weigh_single(13.0)
    video._weigh_single(16.0)
    assert video.lane is not None
    video.estimate.on_remb(1_800_000)
    video._weigh_single(17.0)
    video._weigh_single(18.0)
    assert video.lane is not None  # 1 s of room: not enough
    video._weigh_single(19.0)
    assert video.lane is None and video._sendto is raw
    assert downstream_module._PACED.get(link) is None and pacer.closed
    assert source.caps[-1] == 0  # the publisher is released


async def test_a_remb_from_the_subscriber_weighs_a_video_without_simulcast() -> None:
    """The decision runs on the subscriber's REMB (RTCP), not per packet: forwarding on a link
    that is not limited does nothing more than before."""
    from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci

    link = _Link()
    video = await ready_downstream([])
    source = _SingleSource(1_500_000.0)
    source.downstreams = (video,)
    video.source = source  # type: ignore[assignment]
    video._dtls = link
    video._raw_sendto = video._sendto
    video._feedback(
        RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(250_000, [video._ssrc])
        )
    )
    assert video.lane is not None and source.caps == [250_000]
    downstream_module._PACED[link].end()
    del downstream_module._PACED[link]


async def test_on_a_paced_link_a_keyframe_is_asked_for_a_lost_packet_only_once_its_resend_had_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A packet resent MAX_RESENDS times and still NACKed is lost for good and a keyframe is
    asked at once, on a link sent to straight. On a paced link the last resend may still wait
    in the pacer (up to its bound) and the thin link's queue while the receiver NACKs again
    every ~100 ms: no keyframe (a big burst on that link) until it had that long."""
    clock = Clock(10.0)
    monkeypatch.setattr(downstream_module, "time", clock)
    for paced in (False, True):
        sent: list[bytes] = []
        d = await ready_downstream(sent)
        source = _LayeredSource([300_000.0])
        d.source = source  # type: ignore[assignment]
        d._resendto = d._sendto
        if paced:
            pacer = downstream_module.Pacer(d._sendto, 1_000_000.0, clock=clock.monotonic)
            d.lane = pacer.lane()
            d._resendto = d.lane.resend
        d.forward(0, 100, 9000, 1, b"\x10a", None, True, clock.now)
        seq = int.from_bytes(sent[-1][2:4], "big")
        for _ in range(2):  # resent twice, 200 ms apart
            d._retransmit(seq)
            clock.now += 0.2
        d._retransmit(seq)  # still missing, 200 ms after the last resend
        if not paced:
            assert source.asked, "lost for good: a keyframe at once"
            continue
        assert not source.asked  # the resend may be on its way
        clock.now += downstream_module.MAX_DELAY_SETTLE - 0.15
        d._retransmit(seq)
        assert source.asked


async def test_video_retried_after_a_loss_pause_is_not_paused_again_by_the_old_cap() -> None:
    """A loss cap under half the lowest layer pauses the video (LayerSelector); nothing is sent
    while paused, so no receiver report can raise that cap. The retry RESUME_AFTER later must
    not be ended by that same stale cap at the next decision (under load a good link, paused
    by one burst, was retried and paused again five times at 17 kbit/s); reports of loss over
    the retry still pause it again."""
    from media.layers import PAUSE_HOLD, RESUME_AFTER, LayerSelector

    d = await ready_downstream([])
    rates = [100_000.0, 300_000.0, 1_000_000.0]
    d.source = SimpleNamespace(
        rates=SimpleNamespace(bps=rates),
        info=SimpleNamespace(track_sid="TR_test"),
        request_keyframe=lambda layer, new_since=None: None,
    )
    d.selector = LayerSelector(3)
    d._choose(0.0)
    assert d.selector.target == 2
    d.estimate.on_loss(0.9, 30_000)  # a burst while little was sent: cap 16.5 kbit/s
    d._choose(1.0)
    d._choose(1.0 + PAUSE_HOLD)
    assert d.selector.paused
    retry = 1.0 + PAUSE_HOLD + RESUME_AFTER
    d._choose(retry)
    assert d.selector.target == 0  # the retry
    for t in (1.0, 2.0, 3.0, 4.0):  # decisions with no new loss report: the retry goes on
        d._choose(retry + t)
        assert d.selector.target == 0, t
    # the link really is too thin: its loss over the retry pauses the video again
    d.estimate.on_loss(0.6, 100_000)
    d._choose(retry + 5.0)
    d.estimate.on_loss(0.6, 100_000)
    d._choose(retry + 6.0)
    d._choose(retry + 6.0 + PAUSE_HOLD)
    assert d.selector.paused
