"""Pin-check of the aiortc internals the engine relies on.

aiortc is pinned to one minor version (pyproject); this module fails loudly, at engine start,
if the installed version or the internals below changed, instead of misbehaving at runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aioice
import aiortc
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import clock as aiortc_clock
from aiortc import sdp as aiortc_sdp
from aiortc.codecs import CODECS, HEADER_EXTENSIONS
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter, State
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics, TimestampMapper

SUPPORTED_AIORTC = "1.16."

#: name-mangled counters read by :func:`sender_counters` for the stats
SENDER_OCTETS = "_RTCRtpSender__octet_count"
SENDER_PACKETS = "_RTCRtpSender__packet_count"
SENDER_LSR = "_RTCRtpSender__lsr"

# --- the passthrough's internals (media/ingress.py, media/downstream.py) ---
#: replaced before receive() (the decoder thread is handed this queue when it starts)
RECEIVER_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
RECEIVER_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
RECEIVER_TS_MAPPER = "_RTCRtpReceiver__timestamp_mapper"
RECEIVER_RTCP_SSRC = "_RTCRtpReceiver__rtcp_ssrc"
#: ssrc -> StreamStatistics: the passthrough ingress fills it, aiortc's RTCP loop reports it
RECEIVER_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"
DTLS_CONNECTED = State.CONNECTED

#: (class, method) pairs the passthrough replaces per instance or calls
_METHODS: tuple[tuple[type, str], ...] = (
    (RTCRtpReceiver, "receive"),
    (RTCRtpReceiver, "_handle_rtp_packet"),
    (RTCRtpReceiver, "_handle_rtcp_packet"),
    (RTCRtpReceiver, "_send_rtcp"),
    (RTCRtpReceiver, "_send_rtcp_pli"),
    (RTCRtpReceiver, "_send_rtcp_nack"),
    (RTCRtpSender, "send"),
    (RTCRtpSender, "_retransmit"),
    (RTCRtpSender, "_send_keyframe"),
    (RTCRtpSender, "_send_rtcp"),
    (RTCRtpSender, "_handle_rtcp_packet"),
)

#: (function, names it must use): how aiortc reaches what the passthrough replaced
_USES = (
    (
        RTCRtpReceiver.__init__,
        (
            RECEIVER_DECODER_QUEUE,
            RECEIVER_DECODER_THREAD,
            RECEIVER_TS_MAPPER,
            RECEIVER_RTCP_SSRC,
            RECEIVER_REMOTE_STREAMS,
        ),
    ),
    (RTCRtpReceiver._run_rtcp, (RECEIVER_REMOTE_STREAMS, "_send_rtcp")),
    (RTCRtpReceiver._send_rtcp_nack, ("_send_rtcp",)),
    (StreamStatistics.add, ("packets_received", "max_seq")),
    (NackGenerator.add, ("missing", "max_seq")),
    (RTCRtpReceiver.receive, (RECEIVER_DECODER_QUEUE, "_track")),
    (RTCRtpReceiver._handle_rtp_packet, (RECEIVER_DECODER_QUEUE, "put", RECEIVER_TS_MAPPER)),
    (RTCRtpReceiver._send_rtcp_pli, ("_send_rtcp",)),
    (RTCRtpSender.__init__, ("_ssrc", "_rtx_ssrc", SENDER_LSR, SENDER_OCTETS, SENDER_PACKETS)),
    (RTCRtpSender._handle_rtcp_packet, ("_retransmit", "_send_keyframe")),
    (RTCRtpSender._run_rtcp, ("_send_rtcp", SENDER_LSR)),
    (
        RTCDtlsTransport.__init__,
        ("_tx_srtp", "_rx_srtp", "_state", "_rtp_router", "_rtp_header_extensions_map"),
    ),
    (RTCDtlsTransport._handle_rtp_data, ("_rtp_router", "_rtp_header_extensions_map")),
    (RtpRouter.__init__, ("ssrc_table", "payload_type_table")),
    (aioice.ice.StunProtocol.datagram_received, ("receiver", "data_received")),
    (RTCDtlsTransport._handle_rtp_data, ("_handle_rtp_packet",)),
    (RTCDtlsTransport._handle_rtcp_data, ("_handle_rtcp_packet",)),
    (RTCIceTransport.__init__, ("_connection",)),
    (aioice.Connection.__init__, ("_nominated", "_protocols")),
    (aioice.Connection.sendto, ("_nominated", "protocol", "remote_addr", "send_data")),
    (TimestampMapper.__init__, ("_origin",)),
    (JitterFrame.__init__, ("data", "timestamp")),
)


class MediaCompatibilityError(RuntimeError):
    """The installed aiortc does not match what the media engine was written against."""


def check_aiortc() -> None:
    problems: list[str] = []
    version = getattr(aiortc, "__version__", "?")
    if not version.startswith(SUPPORTED_AIORTC):
        problems.append(
            f"aiortc {version} installed, the media engine supports {SUPPORTED_AIORTC}x"
        )
    names = RTCRtpSender.__init__.__code__.co_names
    for attr in (SENDER_OCTETS, SENDER_PACKETS):
        if attr not in names:
            problems.append(f"RTCRtpSender no longer has {attr}")
    direction = getattr(RTCRtpTransceiver, "direction", None)
    if not isinstance(direction, property) or direction.fset is None:
        problems.append("RTCRtpTransceiver.direction is not a settable property")
    attributes: tuple[tuple[type, str], ...] = (
        (RTCRtpTransceiver, "setCodecPreferences"),
        (RTCRtpTransceiver, "currentDirection"),
        (aiortc_sdp.SessionDescription, "parse"),
        (RTCIceGatherer, "getDefaultIceServers"),
    )
    for obj, attr in attributes:
        if not hasattr(obj, attr):
            problems.append(f"{obj.__name__}.{attr} is missing")
    for obj, attr in _METHODS:
        if not callable(getattr(obj, attr, None)):
            problems.append(f"{obj.__name__}.{attr} is missing")
    for func, used in _USES:
        func_names = set(func.__code__.co_names)
        for name in used:
            if name not in func_names:
                problems.append(f"{func.__qualname__} no longer uses {name}")
    if not {"audio", "video"} <= set(CODECS):
        problems.append("aiortc.codecs.CODECS lacks audio or video")
    if problems:
        raise MediaCompatibilityError("; ".join(problems))


#: simulcast's header extensions (RFC 8852), ids unused by aiortc's own (1-3)
RID_EXTENSIONS = (
    (10, "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
    (11, "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"),
)


def enable_rid_extensions() -> None:
    """Let aiortc negotiate the rid header extensions on video (it parses them already, but
    does not offer or accept them), so simulcast layers can be told apart. Process-wide and
    idempotent; subscribers are offered them too, which changes nothing for them."""
    video = HEADER_EXTENSIONS["video"]
    known = {ext.uri for ext in video}
    for ext_id, uri in RID_EXTENSIONS:
        if uri not in known:
            video.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=uri))


def sender_counters(sender: RTCRtpSender) -> tuple[int, int]:
    """(bytes, packets) of RTP payload a sender has sent; read without awaiting getStats()."""
    return getattr(sender, SENDER_OCTETS, 0), getattr(sender, SENDER_PACKETS, 0)


def set_sender_counters(sender: RTCRtpSender, octets: int, packets: int) -> None:
    """Keep the sender's own counters (stats, SR) when the passthrough sends for it."""
    setattr(sender, SENDER_OCTETS, octets)
    setattr(sender, SENDER_PACKETS, packets)


def set_sender_lsr(sender: RTCRtpSender, ntp: int) -> None:
    """The SR's NTP time as sent, so the sender's RTT estimate matches the receiver reports."""
    setattr(sender, SENDER_LSR, (ntp >> 16) & 0xFFFFFFFF)


def ntp_now() -> int:
    return aiortc_clock.current_ntp_time()


def publisher_timestamp(receiver: RTCRtpReceiver, mapped: int) -> int:
    """The publisher's RTP timestamp of a frame, undoing the receiver's timestamp mapper."""
    mapper = getattr(receiver, RECEIVER_TS_MAPPER)
    return (mapped + (mapper._origin or 0)) & 0xFFFFFFFF


def receiver_rtcp_ssrc(receiver: RTCRtpReceiver) -> int | None:
    ssrc: int | None = getattr(receiver, RECEIVER_RTCP_SSRC, None)
    return ssrc


def transceiver_codecs(transceiver: RTCRtpTransceiver) -> list[Any]:
    """The codecs negotiated for a transceiver (set before aiortc emits ``track``)."""
    return list(getattr(transceiver, "_codecs", []))


#: sendto(datagram, address) -> whether it was handed to the kernel (False: dropped)
SendTo = Callable[[bytes, Any], bool]
Writer = tuple[Callable[[bytes], bytes] | None, SendTo | None, Any]


def transport_writer(dtls: RTCDtlsTransport) -> Writer:
    """(srtp protect, datagram sendto, remote address) of a connected transport, or Nones.

    What ``RTCDtlsTransport._send_rtp`` does, without two coroutines per packet: libsrtp on the
    transport's session (:mod:`media.srtp`), the socket of the nominated pair
    (:func:`datagram_sendto`)."""
    from media import srtp as lean_srtp

    srtp = getattr(dtls, "_tx_srtp", None)
    connection = getattr(dtls.transport, "_connection", None)
    pair = connection._nominated.get(1) if connection is not None else None
    if srtp is None or pair is None or pair.protocol.transport is None:
        return None, None, None
    return lean_srtp.protector(srtp), datagram_sendto(pair.protocol.transport), pair.remote_addr


def datagram_sendto(transport: Any) -> SendTo:
    """``transport.sendto`` for media, straight on its socket (asyncio's selector transport:
    one call less per packet). A datagram the kernel refuses at once (socket buffer full:
    EAGAIN; ENOBUFS; a route gone) is dropped and False returned, for the caller to count:
    asyncio would queue it behind a writer callback instead, and hand ENOBUFS to aioice's
    ``error_received``, which only logs it at debug level. Media late is media lost, and a
    subscriber's NACK asks for what matters again. While asyncio's own queue holds data
    (aioice's STUN or aiortc's RTCP met a full buffer) or the transport is closing, it goes
    through ``transport.sendto`` so nothing overtakes what waits there. Another transport
    (a TURN relay's, a connected one) gets its own ``sendto``; so does uvloop's (the default
    loop, vidconsult/event_loop.py), which has no Python socket: its ``sendto`` is C that
    tries the socket at once (``uv_udp_try_send``), queues only on EAGAIN (behind what it
    queued before, as asyncio's transport does) and hands a refusal to the protocol's
    ``error_received``; such a datagram is reported sent."""
    sock = getattr(transport, "_sock", None)
    queued = getattr(transport, "_buffer", None)
    connected = getattr(transport, "_address", None)
    if sock is None or queued is None or connected or not hasattr(transport, "_conn_lost"):
        send = transport.sendto

        def through(data: bytes, addr: Any) -> bool:
            send(data, addr)
            return True

        return through
    sock_sendto = sock.sendto
    transport_sendto = transport.sendto

    def sendto(data: bytes, addr: Any) -> bool:
        if queued or transport._conn_lost:
            transport_sendto(data, addr)
            return True
        try:
            sock_sendto(data, addr)
        except OSError:  # BlockingIOError (EAGAIN), InterruptedError, ENOBUFS, unreachable...
            return False
        return True

    return sendto


def rtp_router(dtls: RTCDtlsTransport) -> RtpRouter:
    router: RtpRouter = dtls._rtp_router
    return router


def connection_protocols(dtls: RTCDtlsTransport) -> list[Any]:
    """The aioice protocols (socket callbacks) of a transport's connection: the nominated
    pair's first, then every local socket's; empty while nothing is nominated."""
    connection = getattr(dtls.transport, "_connection", None)
    pair = connection._nominated.get(1) if connection is not None else None
    if connection is None or pair is None:
        return []
    protocols = [pair.protocol]
    protocols += [p for p in connection._protocols if p is not pair.protocol]
    return protocols
