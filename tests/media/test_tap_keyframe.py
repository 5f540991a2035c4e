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
