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
  starts again takes over the same way. The other layers get no upstream NACKs.
* **The publisher's bandwidth**: aiortc's REMB is *not* sent to a simulcast publisher (a
  bitrate cap still is). Its delay-based estimator runs on the event loop, whose scheduling
  delays look like queueing: measured on a loopback link with the machine busy, it fell to
  150-250 kbit/s over and over, and the browser then never enabled its top layer. The browser's
  own loss-based estimate (started at ``START_KBPS`` by ``x-google-start-bitrate``) decides
  which layers it sends; a thin uplink still makes it drop its top layers (more than 10 %
  loss), but a deep buffer on the uplink shows as delay only, which is then not reacted to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "SimulcastDemux",
    "offered_layers",
    "relay_layers",
    "with_relay_layers",
    "with_simulcast_answer",
]

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


#: the video bitrate (kbit/s) a simulcast publisher's bandwidth estimate starts at
START_KBPS = 1500


def with_simulcast_answer(
    answer_sdp: str, layers: dict[str, list[str]], start_kbps: int = START_KBPS
) -> str:
    """The answer with ``a=rid:<rid> recv`` and ``a=simulcast:recv`` in the sections whose
    mid is in ``layers``, and ``x-google-start-bitrate`` on their primary codec.

    The start bitrate is there because aiortc's receive-side estimator (REMB) grows by at most
    1.5 x what it receives: a browser starting at its default 300 kbit/s would take long to
    enable its top layer. Started at ``start_kbps``, it sends all layers at once and backs off
    from there if its uplink cannot carry them."""
    if not layers:
        return answer_sdp
    session, *media = _sections(answer_sdp)
    out = session
    for section in media:
        rids = layers.get(_mid(section))
        if rids:
            section = _with_start_bitrate(section, start_kbps)
            section += [f"a=rid:{rid} recv" for rid in rids]
            section.append("a=simulcast:recv " + ";".join(rids))
        out += section
    return "\r\n".join(out) + "\r\n"


def _sections(sdp: str) -> list[list[str]]:
    """An SDP's lines (blank ones dropped): the session part, then one list per m-section."""
    sections: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if not line:
            continue
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    return sections


def _mid(section: list[str]) -> str:
    """An m-section's mid ("" without one)."""
    return next((x[6:].strip() for x in section if x.startswith("a=mid:")), "")


def _with_start_bitrate(section: list[str], kbps: int) -> list[str]:
    words = section[0].split()
    if len(words) < 4 or not kbps:
        return section
    pt = words[3]
    param = f"x-google-start-bitrate={kbps}"
    fmtp = f"a=fmtp:{pt} "
    if any(x.startswith(fmtp) for x in section):
        return [x + ";" + param if x.startswith(fmtp) else x for x in section]
    at = max((i for i, x in enumerate(section) if x.startswith(f"a=rtpmap:{pt} ")), default=0)
    return [*section[: at + 1], fmtp + param, *section[at + 1 :]]


#: a node relay's leg (media/node_relay.py) carries each simulcast layer of a track in a
#: section of its own; this attribute, in each of them, names the section whose track they are
#: layers of (``<mid> <layer>``). That first section also says ``a=simulcast:send`` with one rid
#: per layer, so the edge's publish path sees one simulcast track whose layers' packets come
#: from several sections (told apart by their SSRCs, from the offer: no rid on the packets).
RELAY_LAYER = "a=x-vidconsult-relay-layer:"


def relay_rid(layer: int) -> str:
    return f"l{layer}"


def with_relay_layers(offer_sdp: str, slots: dict[str, tuple[str, int, int]]) -> str:
    """A leg's offer marked for the edge: ``slots`` mid -> (track sid, layer, layers) of the
    sections carrying one layer each (media/engine.py ``slot_layers``)."""
    if not slots:
        return offer_sdp
    first: dict[str, str] = {}  # track sid -> mid of its lowest layer's section
    for mid, (sid, _, _) in sorted(slots.items(), key=lambda x: x[1][1]):
        first.setdefault(sid, mid)
    session, *media = _sections(offer_sdp)
    out = session
    for section in media:
        mid = _mid(section)
        found = slots.get(mid)
        if found is not None:
            sid, layer, layers = found
            section = [*section, f"{RELAY_LAYER}{first[sid]} {layer}"]
            if first[sid] == mid:
                rids = [relay_rid(i) for i in range(layers)]
                section += [f"a=rid:{rid} send" for rid in rids]
                section.append("a=simulcast:send " + ";".join(rids))
        out += section
    return "\r\n".join(out) + "\r\n"


def relay_layers(sdp: str) -> dict[str, tuple[str, int]]:
    """mid -> (mid of the track's first section, layer) of the sections of an offer that carry
    one layer of a relayed simulcast track (:func:`with_relay_layers`)."""
    found: dict[str, tuple[str, int]] = {}
    mid: str | None = None
    for line in [*sdp.splitlines(), "m="]:
        if line.startswith("m="):
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith(RELAY_LAYER) and mid is not None:
            words = line[len(RELAY_LAYER) :].split()
            if len(words) == 2 and words[1].isdigit():
                found[mid] = (words[0], int(words[1]))
    return found


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

    def known(self, layer: int, ssrc: int, rtx_ssrc: int | None) -> None:
        """``layer``'s SSRCs, known beforehand (a relay leg's sections): its packets need no
        rid. Replaces what the layer had."""
        if not 0 <= layer < len(self.rids):
            return
        for table in (self._media, self._rtx):
            for old in [s for s, x in table.items() if x == layer]:
                del table[old]
        self._media[ssrc] = layer
        self.layer_ssrc[layer] = ssrc
        if rtx_ssrc is not None:
            self._rtx[rtx_ssrc] = layer

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
