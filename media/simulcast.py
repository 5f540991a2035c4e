"""Simulcast from publishers: the SDP that accepts it, and telling its layers apart.

aiortc has no simulcast: its SDP parser ignores ``a=rid`` / ``a=simulcast`` and its receiver
treats every SSRC of a track as one stream. What is done here instead:

* **SDP**: a video section offered with ``a=simulcast:send q;h;f`` (and ``a=rid:... send``)
  gets ``a=rid:... recv`` and ``a=simulcast:recv q;h;f`` in the publish answer, so the browser
  sends all of its layers. The rid header extensions (``sdes:rtp-stream-id``,
  ``sdes:repaired-rtp-stream-id``) are negotiated by aiortc itself once
  :func:`media.compat.enable_rid_extensions` added them to its list, so its packet parser
  reads them.
* **Layers**: numbered in the order of the ``a=simulcast`` list, lowest first (the room page
  lists ``q;h;f``, quarter / half / full resolution, as browsers' examples do). A packet's
  layer comes from its SSRC once that SSRC was seen with a rid (or, for RTX, a repaired rid):
  browsers put the rid on the first packets of each stream.
* **Recording**: aiortc's own receive path (jitter buffer, taps, upstream NACKs, receiver
  reports) sees one layer only, the best one being sent; when the publisher stops sending it
  (its uplink got thinner) the next best takes over at its keyframe, and a better one that
  starts again takes over the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SimulcastDemux", "offered_layers", "with_simulcast_answer"]

STALE_AFTER = 1.0  # seconds without a packet after which a layer is not being sent


def offered_layers(sdp: str) -> dict[str, list[str]]:
    """mid -> the rids a video section of an offer sends as simulcast, in ``a=simulcast``
    order; sections without simulcast are absent."""
    layers: dict[str, list[str]] = {}
    video = False
    mid: str | None = None
    rids: list[str] = []

    def close() -> None:
        if video and mid is not None and len(rids) > 1:
            layers[mid] = list(rids)

    for line in sdp.splitlines():
        if line.startswith("m="):
            close()
            video, mid, rids = line.startswith("m=video"), None, []
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith("a=simulcast:"):
            words = line[len("a=simulcast:") :].split()
            for direction, streams in zip(words[::2], words[1::2], strict=False):
                if direction == "send":
                    rids = [alt.split(",")[0].lstrip("~") for alt in streams.split(";")]
    close()
    return {m: r for m, r in layers.items() if all(_valid_rid(x) for x in r)}


def _valid_rid(rid: str) -> bool:
    return 0 < len(rid) <= 16 and all(c.isalnum() or c in "-_" for c in rid)


def with_simulcast_answer(answer_sdp: str, layers: dict[str, list[str]]) -> str:
    """The answer with ``a=rid:<rid> recv`` and ``a=simulcast:recv`` in the sections whose
    mid is in ``layers``."""
    if not layers:
        return answer_sdp
    out: list[str] = []
    pending: list[str] = []
    for line in answer_sdp.splitlines():
        if not line:
            continue
        if line.startswith("m="):
            out += pending
            pending = []
        elif line.startswith("a=mid:"):
            rids = layers.get(line[6:].strip())
            if rids:
                pending = [f"a=rid:{rid} recv" for rid in rids]
                pending.append("a=simulcast:recv " + ";".join(rids))
        out.append(line)
    out += pending
    return "\r\n".join(out) + "\r\n"


@dataclass(slots=True)
class SimulcastDemux:
    """The layer of each packet of one simulcast track, and which layer is recorded."""

    rids: list[str]
    layer_ssrc: list[int | None] = field(default_factory=list)
    record_layer: int | None = None
    _media: dict[int, int] = field(default_factory=dict)
    _rtx: dict[int, int] = field(default_factory=dict)
    _last_seen: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.layer_ssrc = [None] * len(self.rids)
        self._last_seen = [float("-inf")] * len(self.rids)

    @property
    def layers(self) -> int:
        return len(self.rids)

    def layer_of(self, ssrc: int, rid: str | None, rtx: bool) -> int:
        """The layer of a packet (``rid``: its rid, or repaired rid for RTX), -1 if not
        known yet."""
        table = self._rtx if rtx else self._media
        layer = table.get(ssrc)
        if layer is None:
            if rid is None or rid not in self.rids:
                return -1
            layer = self.rids.index(rid)
            table[ssrc] = layer
            if not rtx:
                self.layer_ssrc[layer] = ssrc
        return layer

    def media_ssrc(self, rtx_ssrc: int) -> int | None:
        """The media SSRC an RTX SSRC repairs."""
        layer = self._rtx.get(rtx_ssrc)
        return None if layer is None else self.layer_ssrc[layer]

    def best(self, now: float) -> int | None:
        """The best layer being sent."""
        for layer in range(len(self.rids) - 1, -1, -1):
            if now - self._last_seen[layer] <= STALE_AFTER:
                return layer
        return None

    def seen(self, layer: int, now: float) -> None:
        self._last_seen[layer] = now

    def wanted_record_layer(self, now: float) -> int | None:
        """The layer the recording should move to, or None if it is on the best one."""
        best = self.best(now)
        return None if best is None or best == self.record_layer else best
