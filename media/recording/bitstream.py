"""Reading what the recorder needs from encoded frames, without decoding them: the picture size
of a VP8 keyframe or an H264 SPS, and H264 parameter sets for the container's codec private."""

from __future__ import annotations

VP8_START_CODE = b"\x9d\x01\x2a"
ANNEXB_START = b"\x00\x00\x00\x01"
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 keyframe: 3-byte frame tag (bit 0 clear on a keyframe), start
    code 9d 01 2a, then 14-bit width and height (the top 2 bits are scaling). None otherwise."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != VP8_START_CODE:
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


def vp8_is_keyframe(frame: bytes) -> bool:
    return bool(frame) and not frame[0] & 0x01


def nal_units(access_unit: bytes) -> list[bytes]:
    """The NAL units of an Annex-B access unit (3- or 4-byte start codes)."""
    units: list[bytes] = []
    i, n = 0, len(access_unit)
    start = -1
    while i + 2 < n:
        if access_unit[i] == 0 and access_unit[i + 1] == 0 and access_unit[i + 2] == 1:
            if start >= 0:
                units.append(access_unit[start:i].rstrip(b"\x00"))
            i += 3
            start = i
            continue
        i += 1
    if start >= 0 and start < n:
        units.append(access_unit[start:])
    return [u for u in units if u]


def h264_parameter_sets(access_unit: bytes) -> bytes | None:
    """SPS and PPS of an access unit in Annex-B (the extradata Matroska's muxer turns into
    avcC), or None if it carries no SPS."""
    units = nal_units(access_unit)
    sps = [u for u in units if u[0] & 0x1F == 7]
    pps = [u for u in units if u[0] & 0x1F == 8]
    if not sps or not pps:
        return None
    return b"".join(ANNEXB_START + u for u in sps[:1] + pps[:1])


def h264_is_keyframe(access_unit: bytes) -> bool:
    return any(u[0] & 0x1F in (5, 7) for u in nal_units(access_unit))


def h264_size(access_unit: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SPS of an access unit, cropping applied."""
    for unit in nal_units(access_unit):
        if unit[0] & 0x1F == 7:
            try:
                return _sps_size(_unescape(unit[1:]))
            except IndexError:
                return None
    return None


def _unescape(rbsp: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return rbsp.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise IndexError("bad exp-golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _sps_size(data: bytes) -> tuple[int, int]:
    b = _Bits(data)
    profile = b.u(8)
    b.u(16)  # constraint flags, level
    b.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in _HIGH_PROFILES:
        chroma_format = b.ue()
        if chroma_format == 3:
            b.u(1)  # separate_colour_plane_flag
        b.ue()  # bit_depth_luma
        b.ue()  # bit_depth_chroma
        b.u(1)  # qpprime_y_zero_transform_bypass
        if b.u(1):  # seq_scaling_matrix_present
            for i in range(8 if chroma_format != 3 else 12):
                if b.u(1):
                    _skip_scaling_list(b, 16 if i < 6 else 64)
    b.ue()  # log2_max_frame_num_minus4
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()
    elif poc_type == 1:
        b.u(1)
        b.se()
        b.se()
        for _ in range(b.ue()):
            b.se()
    b.ue()  # max_num_ref_frames
    b.u(1)  # gaps_in_frame_num_allowed
    width_mbs = b.ue() + 1
    height_units = b.ue() + 1
    frame_mbs_only = b.u(1)
    if not frame_mbs_only:
        b.u(1)  # mb_adaptive_frame_field
    b.u(1)  # direct_8x8_inference
    crop = (0, 0, 0, 0)
    if b.u(1):
        crop = (b.ue(), b.ue(), b.ue(), b.ue())
    if chroma_format == 0:
        unit_x, unit_y = 1, 2 - frame_mbs_only
    else:
        sub_w = 1 if chroma_format == 3 else 2
        sub_h = 2 if chroma_format == 1 else 1
        unit_x, unit_y = sub_w, sub_h * (2 - frame_mbs_only)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    return width, height


def _skip_scaling_list(b: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + b.se() + 256) % 256
        last = nxt or last
