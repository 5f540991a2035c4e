"""Per-packet cost of the passthrough's forwarding path, in process, without the event loop's
noise: one publisher (a VP8 and an Opus stream) and one subscriber. Prints JSON.

The real objects of a forwarded track are built on aiortc's own transports and receivers: the
publish transport's :class:`~media.intake.Intake`, each track's
:class:`~media.ingress.Ingress` and passthrough ``_Source``, the subscriber's
:class:`~media.downstream.Downstream` on an ``RTCRtpSender`` (its ``send`` parameters applied
as when the subscriber's answer is). Only the sockets are left out: SRTP runs on real libsrtp
sessions (the publish transport's receive session; the subscriber's send session), and the
subscriber's ``sendto`` collects the datagrams (checked after: every one decrypts to the
packet forwarded). The input is SRTP-protected RTP as Chromium sends it: the streams
interleaved in real time, Opus 50 packets/s with ssrc-audio-level, VP8 15 fps ~400 kbit/s with
a keyframe every 60 frames (abs-send-time, transport-cc, mid extensions; 15-bit picture ids,
TL0PICIDX).

Per forwarded packet: ns (``time.perf_counter_ns``, the minimum over repeats of feeding every
datagram to the socket callback) and user-space instructions, which the machine's load does
not change: the process's own ``perf_event_open`` counter where the CPU has one (a VM often has
none: then None), and with ``--valgrind`` callgrind's exact count (``valgrind`` installed):
the same input fed twice, ``packets`` and ``2 * packets`` of it, in two runs under callgrind;
the difference of their totals over ``packets`` is the path's cost, the set-up cancelled out.
``--profile`` also gives the SRTP calls alone per profile (what the choice costs per packet).

    python benchmarks/forward_path.py                    # 5 repeats of 3000 packets
    python benchmarks/forward_path.py --valgrind --profile
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import RTCCertificate, RTCRtpReceiver, RTCRtpSender  # noqa: E402
from aiortc.rtcdtlstransport import RTCDtlsTransport, State  # noqa: E402
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport  # noqa: E402
from aiortc.rtcrtpparameters import (  # noqa: E402
    RTCRtpCodecParameters,
    RTCRtpDecodingParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import RtpPacket  # noqa: E402
from pylibsrtp import Policy, Session  # noqa: E402

from media import compat, intake  # noqa: E402
from media import srtp as lean_srtp  # noqa: E402
from media.forwarding import PublisherSource  # noqa: E402
from media.ingress import Ingress  # noqa: E402
from media.passthrough import PassthroughForwarder  # noqa: E402

VIDEO_SSRC, AUDIO_SSRC = 0x1111_2222, 0x3333_4444
VP8_PT, RTX_PT, OPUS_PT = 96, 97, 111
LEVEL_ID, MID_ID, ABS_ID, TWCC_ID = 1, 4, 2, 3
LEVEL = RTCRtpHeaderExtensionParameters(
    id=LEVEL_ID, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
)
MID = RTCRtpHeaderExtensionParameters(id=MID_ID, uri="urn:ietf:params:rtp-hdrext:sdes:mid")
ABS = RTCRtpHeaderExtensionParameters(
    id=ABS_ID, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
)
TWCC = RTCRtpHeaderExtensionParameters(
    id=TWCC_ID, uri="http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
)
EXTENSIONS = [LEVEL, MID, ABS, TWCC]  # the transport's map (bundle: both sections' ids)
#: each section's, as Chromium offers them (no audio level on video, no abs-send-time on audio)
SECTION_EXTENSIONS = {"audio": [LEVEL, MID, TWCC], "video": [MID, ABS, TWCC]}
VIDEO_CODECS = [
    RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=VP8_PT),
    RTCRtpCodecParameters(
        mimeType="video/rtx", clockRate=90000, payloadType=RTX_PT, parameters={"apt": VP8_PT}
    ),
]
AUDIO_CODECS = [
    RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=OPUS_PT)
]
PROFILES = {
    "AES128_CM_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}


# --- user-space instructions of this process ---------------------------------------------------


class _Counter:
    """perf_event_open(PERF_COUNT_HW_INSTRUCTIONS, this process, user space only)."""

    def __init__(self) -> None:
        self.fd = -1
        if sys.platform != "linux" or os.uname().machine not in ("x86_64", "aarch64"):
            return
        attr = bytearray(112)
        struct.pack_into("IIQ", attr, 0, 0, len(attr), 1)  # HARDWARE, size, INSTRUCTIONS
        struct.pack_into("Q", attr, 40, (1 << 5) | (1 << 6))  # exclude_kernel, exclude_hv
        libc = ctypes.CDLL(None, use_errno=True)
        buf = (ctypes.c_char * len(attr)).from_buffer(attr)
        number = 298 if os.uname().machine == "x86_64" else 241
        fd = libc.syscall(number, buf, 0, -1, -1, 0)
        self.fd = fd if fd >= 0 else -1

    def read(self) -> int | None:
        if self.fd < 0:
            return None
        value: int = struct.unpack("Q", os.read(self.fd, 8))[0]
        return value


# --- the input: Chromium-like SRTP packets ----------------------------------------------------


def _stream(seconds: float, rng: random.Random) -> Iterator[tuple[str, RtpPacket]]:
    """Opus and VP8 packets interleaved by their send time."""
    events: list[tuple[float, str, RtpPacket]] = []
    vseq, aseq, pid, tl0 = 1000, 5000, 0x1234, 7
    for i in range(int(seconds * 50)):
        p = RtpPacket(payload_type=OPUS_PT, sequence_number=aseq & 0xFFFF, timestamp=i * 960)
        p.ssrc, p.marker = AUDIO_SSRC, 0
        p.payload = rng.randbytes(rng.randrange(60, 120))
        p.extensions.audio_level = (True, rng.randrange(30, 100))
        p.extensions.mid = "0"
        p.extensions.transport_sequence_number = i
        events.append((i / 50, "audio", p))
        aseq += 1
    for f in range(int(seconds * 15)):
        key = f % 60 == 0
        size = 12000 if key else rng.randrange(1500, 5000)
        chunks = [1100] * (size // 1100) + ([size % 1100] if size % 1100 else [])
        for c, length in enumerate(chunks):
            start = c == 0
            descriptor = bytes(
                (0x90 if start else 0x80, 0xC0, 0x80 | (pid >> 8), pid & 0xFF, tl0 & 0xFF)
            )
            vp8 = bytes((0x10 if key else 0x11,)) if start else b""
            p = RtpPacket(payload_type=VP8_PT, sequence_number=vseq & 0xFFFF, timestamp=f * 6000)
            p.ssrc, p.marker = VIDEO_SSRC, int(c == len(chunks) - 1)
            p.payload = descriptor + vp8 + rng.randbytes(length - len(vp8))
            p.extensions.abs_send_time = f * 1000
            p.extensions.mid = "1"
            p.extensions.transport_sequence_number = f
            events.append((f / 15 + c * 0.001, "video", p))
            vseq += 1
        pid = (pid + 1) & 0x7FFF
        tl0 += 1
    events.sort(key=lambda e: e[0])
    for _, kind, p in events:
        yield kind, p


# --- the objects under test -------------------------------------------------------------------


def _transport() -> RTCDtlsTransport:
    dtls = RTCDtlsTransport(
        RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()]
    )
    dtls._state = State.CONNECTED
    return dtls


class Bench:
    """One publisher (audio + video on one transport), one subscriber; ``feed`` is the
    publish transport's socket callback."""

    def __init__(self, profile: int, key_length: int) -> None:
        rng = random.Random(1)
        in_key, out_key = rng.randbytes(key_length), rng.randbytes(key_length)
        self.out_key = out_key
        self.profile = profile
        self.sent: list[bytes] = []
        pub = _transport()
        pub._rx_srtp = Session(
            Policy(key=in_key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
        )
        self.publisher_srtp = Session(
            Policy(key=in_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
        )
        pub._rtp_header_extensions_map.configure(RTCRtpParameters(headerExtensions=EXTENSIONS))
        self.extensions = pub._rtp_header_extensions_map
        sub = _transport()
        self.forwarder = PassthroughForwarder()
        self.downstreams = []
        self.ingresses = []
        protocol = _Protocol()
        self.intake: intake.Intake | None = None
        collect = self.sent.append

        def sendto(data: bytes, addr: Any) -> bool:
            collect(data)
            return True

        subscriber_srtp = Session(
            Policy(key=out_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
        )
        writer = (lean_srtp.protector(subscriber_srtp), sendto, ("127.0.0.1", 9))
        for kind, ssrc, codecs, mid in (
            ("audio", AUDIO_SSRC, AUDIO_CODECS, "0"),
            ("video", VIDEO_SSRC, VIDEO_CODECS, "1"),
        ):
            receiver = RTCRtpReceiver(kind, pub)
            ingress = Ingress(receiver, kind, codecs, decode=False)
            ingress._configure(
                RTCRtpReceiveParameters(
                    codecs=codecs,
                    headerExtensions=SECTION_EXTENSIONS[kind],
                    encodings=[
                        RTCRtpDecodingParameters(ssrc=ssrc, payloadType=codecs[0].payloadType)
                    ],
                    muxId=mid,
                )
            )
            pub._rtp_router.register_receiver(receiver, [ssrc], [c.payloadType for c in codecs])
            self.forwarder.attach(
                PublisherSource(kind, kind, codecs[0].mimeType, None, receiver, ingress)  # type: ignore[arg-type]
            )
            output = self.forwarder.subscribe(kind)
            sender = RTCRtpSender(output, sub)
            self.forwarder.bind(output, sender)
            d = output.downstream  # type: ignore[attr-defined]
            original, compat.transport_writer = compat.transport_writer, lambda dtls: writer
            try:
                d._configure(
                    RTCRtpSendParameters(
                        codecs=codecs, headerExtensions=SECTION_EXTENSIONS[kind], muxId=mid
                    )
                )
            finally:
                compat.transport_writer = original
            assert d.ready
            self.downstreams.append(d)
            self.ingresses.append(ingress)
            if self.intake is None:
                self.intake = intake.Intake(pub, [protocol])
            self.intake.add(receiver, ingress)
            ingress.intake = self.intake
        self.feed: Callable[[bytes, Any], None] = protocol.datagram_received

    def packets(self, seconds: float) -> list[bytes]:
        protect = self.publisher_srtp.protect
        return [
            protect(p.serialize(self.extensions)) for _, p in _stream(seconds, random.Random(2))
        ]


class _Protocol:
    """Stands in for aioice's protocol: what the intake wraps."""

    def datagram_received(self, data: bytes, addr: Any) -> None:
        raise AssertionError("a forwarded packet went to aiortc's path")


def _check(bench: Bench, inputs: list[bytes]) -> None:
    """Every input packet was forwarded, and every datagram decrypts."""
    if len(bench.sent) != len(inputs):
        raise AssertionError(f"{len(inputs)} packets in, {len(bench.sent)} out")
    receiving = Session(
        Policy(key=bench.out_key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=bench.profile)
    )
    for data in bench.sent:
        receiving.unprotect(data)


def _measure(
    feed: Callable[[list[bytes]], None], batches: list[list[bytes]], counter: _Counter
) -> dict[str, Any]:
    ns: list[float] = []
    instructions: list[float] = []
    for batch in batches:
        before_i = counter.read()
        before = time.perf_counter_ns()
        feed(batch)
        elapsed = time.perf_counter_ns() - before
        after_i = counter.read()
        ns.append(elapsed / len(batch))
        if before_i is not None and after_i is not None:
            instructions.append((after_i - before_i) / len(batch))
    return {
        "ns_per_packet": round(min(ns)),
        "instructions_per_packet": round(min(instructions)) if instructions else None,
        "instructions_per_packet_max": round(max(instructions)) if instructions else None,
    }


async def forward_path(repeats: int, packets: int, profile: str) -> dict[str, Any]:
    libsrtp_profile, key_length = PROFILES[profile]
    bench = Bench(libsrtp_profile, key_length)
    counter = _Counter()
    seconds = (repeats + 1) * packets / 96 + 2
    inputs = bench.packets(seconds)[: (repeats + 1) * packets]
    batches = [inputs[i * packets : (i + 1) * packets] for i in range(repeats + 1)]
    feed, addr = bench.feed, ("127.0.0.1", 5000)

    def run(batch: list[bytes]) -> None:
        for data in batch:
            feed(data, addr)

    run(batches[0])  # warm-up (the first keyframe starts the subscriber's stream)
    result = _measure(run, batches[1:], counter)
    _check(bench, inputs)
    assert bench.intake is not None and bench.intake.packets == len(inputs)
    return result


async def feed_only(total: int, fed: int, profile: str) -> None:
    """Build, make ``total`` packets, feed the first ``fed`` (the --valgrind runs)."""
    libsrtp_profile, key_length = PROFILES[profile]
    bench = Bench(libsrtp_profile, key_length)
    inputs = bench.packets(total / 96 + 2)[:total]
    feed, addr = bench.feed, ("127.0.0.1", 5000)
    for data in inputs[:fed]:
        feed(data, addr)
    if len(bench.sent) != fed:
        raise AssertionError(f"{fed} packets in, {len(bench.sent)} out")


def callgrind(packets: int, profile: str) -> dict[str, Any]:
    """Instructions per packet, exact: see the module's doc."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {"skipped": "valgrind is not installed"}
    totals = []
    for fed in (packets, 2 * packets):
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run(
                [
                    valgrind,
                    "--tool=callgrind",
                    f"--callgrind-out-file={tmp}/out",
                    sys.executable,
                    __file__,
                    "--srtp",
                    profile,
                    "--feed-only",
                    f"{2 * packets + 100},{fed + 100}",  # 100: the warm-up, in both
                ],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
                check=True,
            )
        found = re.search(r"Collected : (\d+)", run.stderr)
        if found is None:
            raise RuntimeError(f"no callgrind total: {run.stderr[-500:]}")
        totals.append(int(found.group(1)))
    return {"instructions_per_packet": round((totals[1] - totals[0]) / packets)}


def srtp_calls(repeats: int, packets: int) -> dict[str, Any]:
    """protect (subscriber) + unprotect (publisher) of a ~700-byte packet, per profile."""
    return {
        name: _srtp_profile(profile, key_length, repeats, packets)
        for name, (profile, key_length) in PROFILES.items()
    }


def _srtp_profile(profile: int, key_length: int, repeats: int, packets: int) -> dict[str, Any]:
    counter = _Counter()
    key = bytes(range(key_length))
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    protect, unprotect = lean_srtp.protector(tx), lean_srtp.unprotector(rx)
    batches = []
    for r in range(repeats):
        batch = []
        for i in range(packets):
            seq = r * packets + i
            p = RtpPacket(payload_type=96, sequence_number=seq & 0xFFFF, timestamp=seq)
            p.ssrc, p.payload = 0x5555, bytes(700)
            batch.append(p.serialize())
        batches.append(batch)
    protected: list[list[bytes]] = []

    def do_protect(batch: list[bytes]) -> None:
        protected.append([protect(data) for data in batch])

    def do_unprotect(batch: list[bytes]) -> None:
        for data in batch:
            unprotect(data)

    return {
        "protect": _measure(do_protect, batches, counter),
        "unprotect": _measure(do_unprotect, protected, counter),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--packets", type=int, default=3000)
    parser.add_argument("--srtp", default="AES128_CM_SHA1_80", choices=sorted(PROFILES))
    parser.add_argument("--profile", action="store_true", help="SRTP calls alone per profile")
    parser.add_argument("--valgrind", action="store_true", help="exact counts by callgrind")
    parser.add_argument("--valgrind-packets", type=int, default=2000)
    parser.add_argument("--feed-only", help=argparse.SUPPRESS)  # "total,fed": a callgrind run
    args = parser.parse_args()
    if args.feed_only:
        total, fed = (int(x) for x in args.feed_only.split(","))
        asyncio.run(feed_only(total, fed, args.srtp))
        return
    out: dict[str, Any] = {
        "what": "one publisher (Opus + VP8) -> one subscriber, per forwarded packet",
        "srtp_profile": args.srtp,
        "packets": args.packets,
        "repeats": args.repeats,
        "load_average": os.getloadavg()[0],
        "forward": asyncio.run(forward_path(args.repeats, args.packets, args.srtp)),
    }
    if args.valgrind:
        out["forward"]["callgrind"] = callgrind(args.valgrind_packets, args.srtp)
    if args.profile:
        out["srtp_calls"] = srtp_calls(args.repeats, args.packets)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
