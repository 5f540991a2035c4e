"""``Intake``: a publish connection's RTP taken straight from its UDP socket (passthrough).

aiortc hands every datagram from aioice's socket callback to the DTLS transport's receive task
through a queue: per packet a STUN parse attempt, a queue hand-off, a task wake-up (one more
turn of the event loop), then SRTP, parsing, routing and two coroutines. For a track that is
only forwarded, the intake does the same work in the socket callback itself, synchronously:
SRTP unprotect (the transport's own session), ``RtpPacket.parse`` with the transport's
header-extension map, routing by SSRC and payload type as aiortc's router does, then
:meth:`media.ingress.Ingress.rtp`. Measured in issue 15 (a Chromium publisher, one viewer).

Everything else keeps aiortc's path: STUN, DTLS, SRTCP, packets of an SSRC the router has not
learnt yet (aiortc learns it from them), of a receiver that decodes (reencode mode), and of a
receiver whose ``_handle_rtp_packet`` was wrapped by someone else since (tests do).

Installed by the ingress at the first packet it gets, on the nominated pair's protocol (an
instance attribute; aioice's TURN client calls the same attribute). The callback contains its
own errors: an exception there would only be logged by asyncio, but would lose the packet.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpReceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtpPacket
from pylibsrtp import Error as SrtpError

from media import compat

if TYPE_CHECKING:
    from media.ingress import Ingress

logger = logging.getLogger(__name__)

_INTAKES: weakref.WeakKeyDictionary[RTCDtlsTransport, Intake] = weakref.WeakKeyDictionary()


class Intake:
    def __init__(self, dtls: RTCDtlsTransport, protocol: Any) -> None:
        self._dtls = dtls
        self._router = compat.rtp_router(dtls)
        self._ingresses: dict[Any, Ingress] = {}  # receiver -> its ingress
        self._protocol = protocol
        self._orig = protocol.datagram_received
        self._failed = False
        self.packets = 0
        protocol.datagram_received = self.datagram_received

    def add(self, receiver: RTCRtpReceiver, ingress: Ingress) -> None:
        self._ingresses[receiver] = ingress

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # RTP (not RTCP: see aiortc.rtp.is_rtcp) of a forwarded track
        if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 209:
            router = self._router
            receiver: Any = router.ssrc_table.get(int.from_bytes(data[8:12], "big"))
            ingress = self._ingresses.get(receiver)
            if (
                ingress is not None
                and not ingress.decode
                and receiver._handle_rtp_packet is ingress.entry
                and receiver in router.payload_type_table.get(data[1] & 0x7F, ())
            ):
                dtls = self._dtls
                srtp = dtls._rx_srtp
                if srtp is not None and dtls._state is compat.DTLS_CONNECTED:
                    self._take(srtp, data, ingress)
                    return
        self._orig(data, addr)

    def _take(self, srtp: Any, data: bytes, ingress: Ingress) -> None:
        try:
            plain = srtp.unprotect(data)
            packet = RtpPacket.parse(plain, self._dtls._rtp_header_extensions_map)
        except (SrtpError, ValueError):
            return  # what aiortc does too: a packet that fails authentication or parsing
        except Exception:
            if not self._failed:
                self._failed = True
                logger.exception("intake failed")
            return
        self.packets += 1
        ingress.rtp(packet)


def attach(receiver: RTCRtpReceiver, ingress: Ingress) -> Intake | None:
    """The intake of the receiver's transport (made on first use), with ``ingress`` added;
    None while the transport has no nominated pair."""
    dtls = receiver.transport
    found = _INTAKES.get(dtls)
    if found is None:
        protocol = compat.nominated_protocol(dtls)
        if protocol is None:
            return None
        found = _INTAKES[dtls] = Intake(dtls, protocol)
    found.add(receiver, ingress)
    return found
