"""The last whole keyframe of each simulcast layer of a published video track, kept so that a
new subscriber can be sent one at once instead of waiting for the publisher to answer a PLI
(~100 ms on the join path, issue 15).

Pure bookkeeping on RTP fields (no aiortc, no clock of its own). A frame is kept only if it
is certainly whole: its first packet starts a keyframe (VP8: S bit, partition 0, P bit clear;
H.264: an SPS/PPS/IDR NAL, alone, in a STAP-A or starting an FU-A), its packets arrived in
sequence with no gap, all with the frame's timestamp, and the last one carries the marker.
Anything else (a loss, a reorder, a frame whose first packet is not a keyframe start) leaves the
previous keyframe in place. How it is sent, and why that is sound for the decoder, is
:meth:`media.downstream.Downstream.start_with`.
"""

from __future__ import annotations

from media.rtp_wire import starts_keyframe

#: a kept keyframe older than this is not sent (the live one asked at the same time comes
#: ~100 ms later; a picture much older than that is not worth showing first)
MAX_AGE = 10.0

Packet = tuple[int, int, int, bytes]  # (seq, ts, marker, payload)


class KeyframeCache:
    def __init__(self, layers: int, mime: str) -> None:
        self.mime = mime
        self._frame_ts: list[int | None] = [None] * layers  # timestamp of the frame arriving
        self._building: list[list[Packet] | None] = [None] * layers  # a keyframe arriving
        self._kept: list[tuple[float, list[Packet]] | None] = [None] * layers

    def add(self, layer: int, seq: int, ts: int, marker: int, payload: bytes, now: float) -> None:
        """Every packet of the layer, in arrival order (cheap for delta frames: one compare)."""
        building = self._building[layer]
        if ts == self._frame_ts[layer]:
            if building is None:
                return  # the rest of a delta frame (or of a keyframe already given up)
            if (building[-1][0] + 1) & 0xFFFF != seq:
                self._building[layer] = None  # a gap or a reorder: not certainly whole
                return
        else:
            self._frame_ts[layer] = ts
            building = [] if starts_keyframe(self.mime, payload) else None
            self._building[layer] = building
            if building is None:
                return
        building.append((seq, ts, marker, payload))
        if marker:
            self._building[layer] = None
            self._kept[layer] = (now, building)

    def get(self, layer: int, now: float) -> list[Packet] | None:
        kept = self._kept[layer] if 0 <= layer < len(self._kept) else None
        if kept is None or now - kept[0] > MAX_AGE:
            return None
        return kept[1]

    def clear(self) -> None:
        """Forget every kept keyframe (the track was muted: its old picture must not show)."""
        for i in range(len(self._kept)):
            self._kept[i] = None
            self._building[i] = None
            self._frame_ts[i] = None
