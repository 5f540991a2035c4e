"""media.intake.parse_rtp against aiortc's RtpPacket.parse, on packets aiortc serialises."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media.intake import parse_rtp, rtp_fields

LEVEL_ID, MID_ID, ABS_ID = 1, 3, 4


def extensions_map() -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(
                    id=LEVEL_ID, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
                ),
                RTCRtpHeaderExtensionParameters(
                    id=MID_ID, uri="urn:ietf:params:rtp-hdrext:sdes:mid"
                ),
                RTCRtpHeaderExtensionParameters(
                    id=ABS_ID,
                    uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
                ),
            ]
        )
    )
    return m


def packet(**ext: object) -> RtpPacket:
    p = RtpPacket(payload_type=111, marker=1, sequence_number=65535, timestamp=4_000_000_000)
    p.ssrc = 0x12345678
    p.payload = b"\x01\x02\x03payload"
    for key, value in ext.items():
        setattr(p.extensions, key, value)
    return p


@pytest.mark.parametrize(
    "ext",
    [
        {},
        {"audio_level": (True, 42)},
        {"mid": "0", "audio_level": (False, 127)},
        {"mid": "video-1", "abs_send_time": 0x123456},
        {"abs_send_time": 1},
    ],
)
@pytest.mark.parametrize("csrc", [[], [7, 8]])
def test_same_fields_as_aiortc(ext: dict[str, object], csrc: list[int]) -> None:
    m = extensions_map()
    p = packet(**ext)
    p.csrc = csrc
    data = p.serialize(m)
    ours, theirs = parse_rtp(data, LEVEL_ID, m), RtpPacket.parse(data, m)
    for field in ("payload_type", "marker", "sequence_number", "timestamp", "ssrc", "payload"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert ours.extensions.audio_level == theirs.extensions.audio_level
    assert parse_rtp(data, 0, m).extensions.audio_level is None  # not negotiated: not read


def test_padding_is_stripped_and_bad_packets_raise() -> None:
    m = extensions_map()
    data = packet(audio_level=(True, 3)).serialize(m)
    padded = bytes([data[0] | 0x20]) + data[1:] + b"\x00\x00\x03"
    ours, theirs = parse_rtp(padded, LEVEL_ID, m), RtpPacket.parse(padded, m)
    assert ours.payload == theirs.payload == b"\x01\x02\x03payload"
    assert ours.padding_size == theirs.padding_size == 3
    for bad in (data[:11], bytes([0x40]) + data[1:], data[:15], padded[:-1] + b"\xff"):
        with pytest.raises(ValueError):
            RtpPacket.parse(bad, m)
        with pytest.raises(ValueError):
            parse_rtp(bad, LEVEL_ID, m)


def test_two_byte_extensions_fall_back_to_aiortc() -> None:
    m = extensions_map()
    # profile 0x1000 (two-byte headers): id, length, value
    body = bytes([LEVEL_ID, 1, 0x85, 0])
    data = (
        bytes([0x90, 111, 0, 1])
        + (5).to_bytes(4, "big")
        + (9).to_bytes(4, "big")
        + b"\x10\x00\x00\x01"
        + body
        + b"xyz"
    )
    assert parse_rtp(data, LEVEL_ID, m).extensions.audio_level == (True, 5)
    assert parse_rtp(data, LEVEL_ID, m).payload == b"xyz"


# --- rtp_fields: the lean path's header read (no RtpPacket) ---


def fields_of(p: RtpPacket) -> tuple[object, ...]:
    return (
        p.payload_type,
        p.marker,
        p.sequence_number,
        p.timestamp,
        p.ssrc,
        p.payload,
        p.extensions.audio_level,
    )


@pytest.mark.parametrize(
    "ext",
    [
        {},
        {"audio_level": (True, 42)},
        {"audio_level": (False, 0)},
        {"mid": "0", "audio_level": (False, 127)},
        {"mid": "video-1", "abs_send_time": 0x123456, "transport_sequence_number": 7},
        {"rtp_stream_id": "h", "repaired_rtp_stream_id": "h"},  # RTX of a layer
    ],
)
@pytest.mark.parametrize("csrc", [[], [7], [7, 8, 0xFFFFFFFF]])
@pytest.mark.parametrize("padding", [0, 1, 5])
@pytest.mark.parametrize("marker", [0, 1])
def test_rtp_fields_are_aiortcs(
    ext: dict[str, object], csrc: list[int], padding: int, marker: int
) -> None:
    m = extensions_map()
    p = packet(**ext)
    p.csrc, p.marker = csrc, marker
    data = p.serialize(m)
    if padding:
        data = bytes([data[0] | 0x20]) + data[1:] + bytes(padding - 1) + bytes([padding])
    theirs = RtpPacket.parse(data, m)
    assert rtp_fields(data, LEVEL_ID) == fields_of(theirs)
    no_level = rtp_fields(data, 0)
    assert no_level is not None and no_level[:6] == fields_of(theirs)[:6]
    assert no_level[6] is None  # not negotiated: not read


def test_rtp_fields_of_an_rtx_packet() -> None:
    m = extensions_map()
    p = packet(mid="1")
    p.payload_type, p.payload = 97, b"\x12\x34" + b"original payload"
    data = p.serialize(m)
    assert rtp_fields(data, LEVEL_ID) == fields_of(RtpPacket.parse(data, m))


def test_rtp_fields_leave_two_byte_extensions_to_aiortc() -> None:
    data = (
        bytes([0x90, 111, 0, 1])
        + (5).to_bytes(4, "big")
        + (9).to_bytes(4, "big")
        + b"\x10\x00\x00\x01"
        + bytes([LEVEL_ID, 1, 0x85, 0])
        + b"xyz"
    )
    assert rtp_fields(data, LEVEL_ID) is None  # the caller parses it with aiortc
    fields = rtp_fields(data, 0)  # the level is not wanted: the block is skipped whole
    assert fields is not None and fields[5] == b"xyz"


def test_rtp_fields_raise_where_aiortc_does() -> None:
    m = extensions_map()
    data = packet(audio_level=(True, 3)).serialize(m)
    padded = bytes([data[0] | 0x20]) + data[1:] + b"\x00\x00\x03"
    bad_packets = [
        data[:11],
        bytes([0x40]) + data[1:],
        data[:15],
        data[:17],
        padded[:-1] + b"\xff",
        padded[:-1] + b"\x00",
        bytes([0x8F]) + data[1:12],  # 15 CSRC announced, none there
    ]
    for bad in bad_packets:
        with pytest.raises(ValueError):
            RtpPacket.parse(bad, m)
        with pytest.raises(ValueError):
            rtp_fields(bad, LEVEL_ID)
