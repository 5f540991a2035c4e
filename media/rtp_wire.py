"""RTP wire details the passthrough needs: keyframe detection in payloads and frames, the
one-byte header-extension block, RTX wrapping. Pure functions on bytes, no aiortc objects."""

from __future__ import annotations

import struct

RTP_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, seq, timestamp, ssrc
SEQ = struct.Struct("!H")
RTP_VERSION_EXT = 0x90  # version 2, no padding, header extension present, no CSRC

_VP8 = "video/vp8"
_H264 = "video/h264"
_H264_KEY_NALS = (5, 7)  # IDR slice, SPS


def starts_keyframe(mime: str, payload: bytes) -> bool:
    """Whether this RTP payload is the first packet of a keyframe (``mime`` lower-case)."""
    if mime == _VP8:
        return _vp8_starts_keyframe(payload)
    if mime == _H264:
        return _h264_starts_keyframe(payload)
    return True  # audio: every packet is a starting point


def _vp8_starts_keyframe(payload: bytes) -> bool:
    # RFC 7741 payload descriptor: X R N S R PID(3); S=1 and PID=0 start the frame
    if len(payload) < 1:
        return False
    first = payload[0]
    if not first & 0x10 or first & 0x07:
        return False
    pos = 1
    if first & 0x80:  # X: extension byte I L T K
        if len(payload) < 2:
            return False
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= pos:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            pos += 1
    # VP8 payload header: P bit (bit 0) is 0 for a key frame
    return len(payload) > pos and not payload[pos] & 0x01


def _h264_starts_keyframe(payload: bytes) -> bool:
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal in _H264_KEY_NALS:
        return True
    if nal == 24:  # STAP-A: 16-bit size, NAL, ...
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if payload[pos + 2] & 0x1F in _H264_KEY_NALS:
                return True
            pos += 2 + size
        return False
    if nal == 28 and len(payload) > 1:  # FU-A: start bit and the fragmented NAL's type
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in _H264_KEY_NALS
    return False


def frame_is_keyframe(mime: str, data: bytes) -> bool:
    """Whether a depayloaded frame (VP8 frame, H264 Annex-B access unit) is a keyframe."""
    if mime == _VP8:
        return bool(data) and not data[0] & 0x01
    if mime == _H264:
        pos = data.find(b"\x00\x00\x01")
        while pos != -1 and pos + 3 < len(data):
            if data[pos + 3] & 0x1F in _H264_KEY_NALS:
                return True
            pos = data.find(b"\x00\x00\x01", pos + 3)
        return False
    return True


def extension_block(elements: bytes) -> bytes:
    """A one-byte-header extension block (RFC 8285) holding ``elements``, padded to words."""
    if not elements:
        return b""
    padded = elements + b"\x00" * (-len(elements) % 4)
    return b"\xbe\xde" + SEQ.pack(len(padded) // 4) + padded


def extension_element(ext_id: int, value: bytes) -> bytes:
    return bytes(((ext_id << 4) | (len(value) - 1),)) + value


def rtx_wrap(data: bytes, header_len: int, rtx_pt: int, rtx_seq: int, rtx_ssrc: int) -> bytes:
    """An RFC 4588 retransmission of the serialized packet ``data`` (header of ``header_len``
    bytes, no padding): RTX payload type, sequence and SSRC, original sequence in front of the
    payload; timestamp, marker and extensions kept."""
    return (
        data[:1]
        + bytes(((data[1] & 0x80) | rtx_pt,))
        + SEQ.pack(rtx_seq)
        + data[4:8]
        + struct.pack("!I", rtx_ssrc)
        + data[12:header_len]
        + data[2:4]
        + data[header_len:]
    )
