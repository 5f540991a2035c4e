"""A recorder (an encoded tap) starting on a simulcast track asks a keyframe of the layer it
records only: a keyframe on the lowest layer is a burst a subscriber on a thin link may lose
(300 kbit/s, a 200 ms queue), and freezes its picture until it is repaired."""

from __future__ import annotations

import asyncio
import time

from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from media.ingress import Ingress
from media.simulcast import SimulcastDemux
from media.taps import EncodedFrame, SenderReport

LOW, MID, TOP = 1111, 2222, 3333


class NullTap:
    def on_frame(self, frame: EncodedFrame) -> None:
        pass

    def on_sender_report(self, report: SenderReport) -> None:
        pass

    def on_end(self, track_sid: str) -> None:
        pass


class Plis:
    """The PLIs an ingress sent, by SSRC, instead of the network."""

    def __init__(self) -> None:
        self.ssrcs: list[int] = []
        self.arrived = asyncio.Event()

    async def send(self, ssrc: int) -> None:
        self.ssrcs.append(ssrc)
        self.arrived.set()

    async def all_of(self, ingress: Ingress) -> list[int]:
        """Each PLI the ingress counted as sent, once it went out (sent in tasks)."""
        while len(self.ssrcs) < ingress.plis_sent:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 1)
        return sorted(self.ssrcs)


def simulcast_ingress(plis: Plis) -> Ingress:
    """A video ingress of a three-layer track whose layers are all being sent."""
    ice = RTCIceTransport(RTCIceGatherer())
    receiver = RTCRtpReceiver(
        "video", RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
    )
    receiver._send_rtcp_pli = plis.send  # type: ignore[method-assign]
    ingress = Ingress(receiver, "video", [], decode=False)
    demux = SimulcastDemux(["q", "h", "f"])
    now = time.monotonic()
    for layer, ssrc in enumerate((LOW, MID, TOP)):
        demux.known(layer, ssrc, None)
        demux.seen(layer, now)
    ingress.simulcast = demux
    return ingress


async def test_a_tap_asks_a_keyframe_of_the_best_layer_only() -> None:
    plis = Plis()
    ingress = simulcast_ingress(plis)
    ingress.add_tap(NullTap())
    assert await plis.all_of(ingress) == [TOP]


async def test_before_any_layer_is_seen_a_tap_asks_every_layer() -> None:
    plis = Plis()
    ingress = simulcast_ingress(plis)
    assert ingress.simulcast is not None
    for layer in range(3):
        ingress.simulcast.seen(layer, float("-inf"))
    ingress.add_tap(NullTap())
    assert await plis.all_of(ingress) == [LOW, MID, TOP]


async def test_a_publisher_is_held_under_the_lowest_cap_told_at_once_when_lower_and_released() -> (
    None
):
    """Ingress.set_cap: the manual cap (engine.set_bitrate_cap) and the subscribers' links' cap
    (a weak link on a track without simulcast, Downstream._weigh_single); the lowest holds, a
    lower one is told by REMB at once, the last one going is lifted by a REMB far above any
    camera's rate (a publisher keeps obeying the last REMB it got)."""
    from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

    from media.ingress import RELEASE_BPS

    ice = RTCIceTransport(RTCIceGatherer())
    receiver = RTCRtpReceiver(
        "video", RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
    )
    told: list[int] = []

    async def send_rtcp(packet: object) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            told.append(unpack_remb_fci(packet.fci)[0])

    receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]
    receiver._RTCRtpReceiver__rtcp_ssrc = 1234  # type: ignore[attr-defined]
    ingress = Ingress(receiver, "video", [], decode=False)
    ingress.media_ssrc = 5678

    async def settled() -> list[int]:
        for _ in range(5):
            await asyncio.sleep(0)
        return told

    ingress.set_cap(manual=600_000)
    assert ingress.bitrate_cap == 600_000 and await settled() == [600_000]
    ingress.set_cap(links=250_000)  # a weak subscriber: lower, told at once
    assert ingress.bitrate_cap == 250_000 and await settled() == [600_000, 250_000]
    ingress.set_cap(links=400_000)  # higher: repeated by the receive path, not at once
    assert ingress.bitrate_cap == 400_000 and await settled() == [600_000, 250_000]
    ingress.set_cap(links=900_000)  # over the manual cap: the manual one holds
    assert ingress.bitrate_cap == 600_000
    ingress.set_cap(manual=0, links=0)
    # (REMB keeps 18 bits of mantissa)
    assert ingress.bitrate_cap == 0 and (await settled())[-1] >= 0.99 * RELEASE_BPS
