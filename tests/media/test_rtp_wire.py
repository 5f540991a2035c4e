"""``media.rtp_wire`` on bytes built by hand from the RFCs (VP8: RFC 7741, H264: RFC 6184,
header extensions: RFC 8285, RTX: RFC 4588), and read back with aiortc's own RTP parser as
an independent oracle. Skipped bytes are odd on purpose: an offset off by one lands on a byte
whose low bit says "not a keyframe"."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx

from media.rtp_wire import (
    RTP_HEADER,
    RTP_VERSION_EXT,
    extension_block,
    extension_element,
    frame_is_keyframe,
    rtx_wrap,
    starts_keyframe,
)

VP8, H264, OPUS = "video/vp8", "video/h264", "audio/opus"
MID_ID, LEVEL_ID = 3, 5

# VP8 payload descriptors: (bytes before the VP8 payload header, what they hold)
VP8_DESCRIPTORS = {
    "plain": bytes([0x10]),
    "picture-id-7": bytes([0x90, 0x80, 0x13]),
    "picture-id-15": bytes([0x90, 0x80, 0x81, 0x23]),
    "tl0picidx": bytes([0x90, 0x40, 0x05]),
    "tid": bytes([0x90, 0x20, 0x41]),
    "keyidx": bytes([0x90, 0x10, 0x01]),
    "all": bytes([0x90, 0xF0, 0x81, 0x01, 0x03, 0x05]),
    # RFC 7741: reserved bits "MUST be ignored by the receiver"
    "reserved-bits-set": bytes([0xD8, 0x0F]),
    "reserved-bits-and-picture-id": bytes([0xD8, 0x8F, 0x13]),
}


@pytest.mark.parametrize("descriptor", VP8_DESCRIPTORS.values(), ids=VP8_DESCRIPTORS.keys())
def test_vp8_keyframe_start_behind_every_descriptor_layout(descriptor: bytes) -> None:
    assert starts_keyframe(VP8, descriptor + b"\x00\x9d\x01\x2a")  # P bit 0: key frame
    assert not starts_keyframe(VP8, descriptor + b"\x01\x9d\x01\x2a")  # P bit 1: inter frame


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        bytes([0x00, 0x00]),  # S=0: not the start of a frame
        bytes([0x11, 0x00]),  # S=1 but partition 1
        bytes([0x14, 0x00]),  # S=1 but partition 4
        bytes([0x10]),  # no VP8 payload header
        bytes([0x90]),  # X set, extension byte missing
        bytes([0x90, 0x80]),  # I set, picture id missing
        bytes([0x90, 0x80, 0x81, 0x23]),  # 15-bit picture id, no payload header after it
        bytes([0x90, 0xF0, 0x81, 0x01, 0x03]),  # cut before the last descriptor byte
    ],
)
def test_vp8_non_starts_and_truncated_descriptors(payload: bytes) -> None:
    assert not starts_keyframe(VP8, payload)


def nal(kind: int, body: bytes = b"\xaa\xbb") -> bytes:
    return bytes([0x60 | kind]) + body  # nal_ref_idc 3


def stap_a(*units: bytes) -> bytes:
    return bytes([0x78]) + b"".join(len(u).to_bytes(2, "big") + u for u in units)


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (nal(5), True),  # IDR slice
        (nal(7), True),  # SPS
        (nal(1), False),  # non-IDR slice
        (nal(8), False),  # PPS alone
        (nal(6), False),  # SEI
        (b"", False),
        (stap_a(nal(7), nal(8), nal(5)), True),
        (stap_a(nal(6), nal(8), nal(5)), True),  # the IDR is the third unit
        (stap_a(nal(6), nal(1)), False),
        (stap_a(nal(6, b"\x01" * 300), nal(5)), True),  # a size over 255
        (bytes([0x78, 0x00]), False),  # cut inside the first size
        (bytes([0x78, 0x00, 0x01, 0x61, 0x00, 0x05]), False),  # a size, then nothing
        # the decision reads the NAL (or FU) header alone: a unit cut right after it counts
        (stap_a(nal(6), nal(5, b"")), True),
        (bytes([0x7C, 0x85]), True),
        (bytes([0x7C, 0x85]) + b"\xaa", True),  # FU-A start of an IDR
        (bytes([0x7C, 0x87]) + b"\xaa", True),  # FU-A start of an SPS
        (bytes([0x7C, 0x05]) + b"\xaa", False),  # FU-A continuation of an IDR
        (bytes([0x7C, 0x45]) + b"\xaa", False),  # FU-A end of an IDR
        (bytes([0x7C, 0x81]) + b"\xaa", False),  # FU-A start of a non-IDR slice
        (bytes([0x7C]), False),  # FU-A without its header
    ],
)
def test_h264_keyframe_starts(payload: bytes, key: bool) -> None:
    assert starts_keyframe(H264, payload) is key


def test_stap_a_sizes_are_followed_not_guessed() -> None:
    # the first unit's body holds bytes that look like an IDR header at every wrong offset
    decoy = bytes([0x65, 0x00, 0x02, 0x65, 0x65])
    assert not starts_keyframe(H264, stap_a(nal(1, decoy), nal(1)))
    # and a size that runs past the end stops the walk
    assert not starts_keyframe(H264, bytes([0x78, 0x00, 0x09, 0x61, 0x00]))


def test_audio_packets_and_frames_always_start() -> None:
    assert starts_keyframe(OPUS, b"") and starts_keyframe(OPUS, b"\x01")
    assert frame_is_keyframe(OPUS, b"") and frame_is_keyframe(OPUS, b"\x01")


def annex_b(*units: bytes, long_codes: bool = False) -> bytes:
    code = b"\x00\x00\x00\x01" if long_codes else b"\x00\x00\x01"
    return b"".join(code + u for u in units)


BODY = b"\x88\x84\x00\x10\xaa"  # slice-like bytes, no start code inside


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (annex_b(nal(7, BODY), nal(8, BODY), nal(5, BODY), long_codes=True), True),
        (annex_b(nal(6, BODY), nal(5, BODY)), True),  # IDR after an SEI
        (annex_b(nal(7, BODY), nal(8, BODY)), True),  # parameter sets first, nothing after
        (annex_b(nal(5, BODY), nal(1, BODY)), True),  # the key unit comes first
        (annex_b(nal(6, BODY), nal(5, BODY), nal(1, BODY)), True),  # ... or in the middle
        (annex_b(nal(1, BODY), nal(1, BODY), long_codes=True), False),
        (annex_b(nal(1, BODY), nal(6, BODY), nal(1, BODY)), False),
        (annex_b(nal(8, BODY)), False),
        (nal(5, BODY), False),  # not Annex-B: no start code
        (b"\x00\x00\x01", False),  # a start code with nothing behind it
        (annex_b(nal(1, BODY)) + b"\x00\x00\x01", False),
        (annex_b(nal(1, BODY), nal(5, b"")), True),  # the header alone decides
        (b"", False),
    ],
)
def test_h264_frame_keyframes(data: bytes, key: bool) -> None:
    assert frame_is_keyframe(H264, data) is key


def test_vp8_frame_keyframes() -> None:
    assert frame_is_keyframe(VP8, b"\x10\x02\x00\x9d\x01\x2a")
    assert not frame_is_keyframe(VP8, b"\x11\x02\x00")
    assert not frame_is_keyframe(VP8, b"")


def _extensions_map() -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        SimpleNamespace(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(MID_ID, "urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(
                    LEVEL_ID, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
                ),
            ]
        )
    )
    return extensions


@pytest.mark.parametrize("elements", [b"", b"x" * 1, b"x" * 3, b"x" * 4, b"x" * 5, b"x" * 8])
def test_extension_block_is_padded_to_words(elements: bytes) -> None:
    block = extension_block(elements)
    if not elements:
        assert block == b""
        return
    words = -(-len(elements) // 4)
    assert block == b"\xbe\xde" + words.to_bytes(2, "big") + elements.ljust(4 * words, b"\x00")


def test_extension_element_header_byte() -> None:
    assert extension_element(MID_ID, b"0") == bytes([0x30]) + b"0"
    assert extension_element(14, b"abcd") == bytes([0xE3]) + b"abcd"


def _packet(marker: int, pt: int, seq: int, ts: int, ssrc: int, ext: bytes, payload: bytes):
    header = RTP_HEADER.pack(RTP_VERSION_EXT, (marker << 7) | pt, seq, ts, ssrc)
    return header + ext, header + ext + payload


@pytest.mark.parametrize("mid", ["0", "video-12"])
def test_a_packet_with_our_extensions_parses_in_aiortc(mid: str) -> None:
    level = bytes([0x80 | 42])  # voice activity, -42 dBov
    ext = extension_block(extension_element(MID_ID, mid.encode()) + bytes([LEVEL_ID << 4]) + level)
    _, data = _packet(1, 111, 65535, 0xFFFFFFFF, 0xDEADBEEF, ext, b"opus")
    packet = RtpPacket.parse(data, _extensions_map())
    assert (packet.version, packet.marker, packet.payload_type) == (2, 1, 111)
    assert (packet.sequence_number, packet.timestamp, packet.ssrc) == (
        65535,
        0xFFFFFFFF,
        0xDEADBEEF,
    )
    assert packet.extensions.mid == mid
    assert packet.extensions.audio_level == (True, 42)
    assert packet.payload == b"opus"


@pytest.mark.parametrize("marker", [0, 1])
@pytest.mark.parametrize(("pt", "rtx_pt"), [(96, 97), (97, 98), (126, 127)])
def test_rtx_wrap_is_rfc_4588_as_aiortc_reads_it(marker: int, pt: int, rtx_pt: int) -> None:
    ext = extension_block(extension_element(MID_ID, b"1"))
    header, data = _packet(marker, pt, 0xABCD, 123456789, 0x11111111, ext, b"\x10vp8 payload")
    wrapped = rtx_wrap(data, len(header), rtx_pt, 0xFFFE, 0xA2222222)  # SSRCs are unsigned
    extensions = _extensions_map()
    rtx = RtpPacket.parse(wrapped, extensions)
    assert (rtx.version, rtx.marker, rtx.payload_type) == (2, marker, rtx_pt)
    assert (rtx.sequence_number, rtx.timestamp, rtx.ssrc) == (0xFFFE, 123456789, 0xA2222222)
    assert rtx.extensions.mid == "1"
    assert rtx.payload == (0xABCD).to_bytes(2, "big") + b"\x10vp8 payload"
    original = RtpPacket.parse(data, extensions)
    restored = unwrap_rtx(rtx, payload_type=pt, ssrc=0x11111111)
    assert (restored.sequence_number, restored.payload, restored.marker) == (
        original.sequence_number,
        original.payload,
        original.marker,
    )
