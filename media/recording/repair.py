"""Closing a file the server could not close (SIGKILL, power loss): its readable prefix is
remuxed, packet for packet, into a proper Matroska / WebM file (cues, duration), which then
replaces it atomically. No decoding, no re-encoding."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Salvaged:
    duration_ms: int
    kinds: list[str]
    codecs: list[str]
    packets: int


def salvage(path: str) -> Salvaged:
    """Remux the readable part of ``path`` in place; a file with nothing readable is left as
    it is (0 ms)."""
    src_path = Path(path)
    tmp = src_path.with_name(src_path.name + ".salvage")
    fmt = "webm" if src_path.suffix == ".webm" else "matroska"
    first: int | None = None
    last = 0
    packets = 0
    kinds: set[str] = set()
    codecs: set[str] = set()
    try:
        src = av.open(str(src_path))
    except (av.FFmpegError, OSError, EOFError) as exc:
        log.warning("nothing readable in file=%s error=%s", path, exc)
        return Salvaged(0, [], [], 0)
    with src, av.open(str(tmp), "w", format=fmt) as out:
        out.metadata.update(src.metadata)
        mapping = {}
        for stream in src.streams:
            if stream.type not in ("audio", "video"):
                continue
            mapping[stream.index] = out.add_stream_from_template(stream)
            kinds.add(stream.type)
            codecs.add(f"{stream.type}/{_mime(stream.codec_context.name)}")
        try:
            for packet in src.demux(*[s for s in src.streams if s.index in mapping]):
                if packet.pts is None or packet.size == 0:
                    continue
                ms = int(packet.pts * packet.time_base * 1000)
                first = ms if first is None else min(first, ms)
                last = max(last, ms)
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
                packets += 1
        except (av.FFmpegError, EOFError) as exc:  # the torn end of the file
            log.info("salvage stopped at the damaged end file=%s error=%s", path, exc)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, src_path)
    duration = max(0, last - (first or 0))
    log.info("salvaged file=%s duration_ms=%s packets=%s", path, duration, packets)
    return Salvaged(duration, sorted(kinds), sorted(codecs), packets)


def _mime(name: str) -> str:
    return {"vp8": "VP8", "h264": "H264", "opus": "opus"}.get(name, name)
