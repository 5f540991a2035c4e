"""``EncodedFilePlayer``: a media file's encoded packets (VP8 / H264 / Opus) as tracks the SDK
publishes as they are, paced in real time, optionally looped.

aiortc's ``MediaPlayer(decode=False, loop=True)`` restarts the packets' timestamps at every
loop and its pacing then releases the whole file at once: after the first loop a publisher
floods the server and the RTP timestamps jump backwards. Here the timestamps go on across loops
(each loop starts where the previous one ended) and both tracks share one wall clock, so audio
and video stay in sync for as long as the file plays.

A reader thread demuxes at most ``AHEAD`` seconds ahead of the wall clock; each track's
``recv`` waits for its packet's time.

aiortc packetizes a packet as the negotiated codec, whatever it holds, so each track says what
it carries (:attr:`_PacketTrack.mime_type`: the SDK offers only that codec for it). H264 from
MP4 / Matroska is stored length-prefixed (avcC) while aiortc's packetizer splits Annex-B start
codes: such packets go through FFmpeg's ``h264_mp4toannexb`` filter first (which also puts the
parameter sets in front of every IDR frame, as a subscriber joining late needs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.bitstream import BitStreamFilterContext

#: how far (seconds of media) the reader thread runs ahead of the wall clock
AHEAD = 1.0
SENDABLE = {"audio": ("opus", "pcm_alaw", "pcm_mulaw"), "video": ("vp8", "h264")}
#: FFmpeg codec name -> the RTP codec (mime type) its packets are sent as
MIME_TYPES = {
    "opus": "audio/opus",
    "pcm_alaw": "audio/PCMA",
    "pcm_mulaw": "audio/PCMU",
    "vp8": "video/VP8",
    "h264": "video/H264",
}


class _PacketTrack(MediaStreamTrack):
    def __init__(self, player: EncodedFilePlayer, kind: str, mime_type: str) -> None:
        super().__init__()
        self.kind = kind
        #: the codec the packets are in: the one a connection must negotiate to send them
        self.mime_type = mime_type
        self._player: EncodedFilePlayer | None = player
        self._queue: asyncio.Queue[tuple[float, av.Packet] | None] = asyncio.Queue()

    async def recv(self) -> av.Packet:
        if self.readyState != "live" or self._player is None:
            raise MediaStreamError
        start = self._player.begin()
        item = await self._queue.get()
        if item is None:
            self.stop()
            raise MediaStreamError
        at, packet = item
        delay = start + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return packet

    def stop(self) -> None:
        super().stop()
        player, self._player = self._player, None
        if player is not None:
            player.track_stopped(self)


class EncodedFilePlayer:
    """``audio`` / ``video``: the file's first sendable stream of each kind, or None."""

    def __init__(self, path: str, *, loop: bool = False) -> None:
        self._container = av.open(path)
        self._loop_playback = loop
        self._streams: dict[int, _PacketTrack] = {}
        self._annexb: dict[int, BitStreamFilterContext] = {}  # avcC H264 streams
        self.audio: _PacketTrack | None = None
        self.video: _PacketTrack | None = None
        for stream in self._container.streams:
            kind = stream.type
            name = stream.codec_context.name
            if kind not in SENDABLE or name not in SENDABLE[kind]:
                continue
            if kind == "audio" and self.audio is None:
                self.audio = _PacketTrack(self, "audio", MIME_TYPES[name])
                self._streams[stream.index] = self.audio
            elif kind == "video" and self.video is None:
                self.video = _PacketTrack(self, "video", MIME_TYPES[name])
                self._streams[stream.index] = self.video
                extradata = stream.codec_context.extradata or b""
                if name == "h264" and extradata[:1] == b"\x01":  # avcC, not Annex-B
                    self._annexb[stream.index] = BitStreamFilterContext("h264_mp4toannexb", stream)
        if not self._streams:
            self._container.close()
            raise ValueError(f"{path}: no VP8, H264 or Opus stream to send as is")
        self._start: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()
        self._live = set(self._streams.values())
        self.loops = 0

    def begin(self) -> float:
        """The wall time (monotonic) of media time 0; starts the reader on the first call."""
        if self._start is None:
            self._start = time.monotonic()
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._read, name="file-player", daemon=True)
            self._thread.start()
        return self._start

    def track_stopped(self, track: _PacketTrack) -> None:
        self._live.discard(track)
        if not self._live:
            self._quit.set()
            if self._thread is None:
                self._container.close()

    # reader thread ------------------------------------------------------------------------
    def _deliver(self, track: _PacketTrack, item: tuple[float, av.Packet] | None) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(track._queue.put_nowait, item)

    def _read(self) -> None:
        offset = 0.0  # media time where the current loop starts
        span = 0.0  # the file's length, as seen so far
        origin: float | None = None  # file time of the first packet (webcam-style offsets)
        last: dict[int, float] = {}
        try:
            while not self._quit.is_set():
                for packet in self._container.demux(
                    *[self._container.streams[i] for i in self._streams]
                ):
                    if self._quit.is_set():
                        return
                    if not packet.size or packet.pts is None or packet.time_base is None:
                        continue
                    tb = packet.time_base
                    t_file = float(packet.pts * tb)
                    if origin is None:
                        origin = t_file
                    local = max(0.0, t_file - origin)
                    index = packet.stream.index
                    step = (
                        float(packet.duration * tb)
                        if packet.duration
                        else max(0.0, local - last.get(index, local))
                    )
                    last[index] = local
                    span = max(span, local + step)
                    at = offset + local
                    packet.pts = packet.dts = round(at / tb)
                    while at > time.monotonic() - self._start + AHEAD:  # type: ignore[operator]
                        if self._quit.wait(0.05):
                            return
                    bsf = self._annexb.get(index)
                    for out in bsf.filter(packet) if bsf is not None else (packet,):
                        self._deliver(self._streams[index], (at, out))
                if not self._loop_playback or span <= 0:
                    break
                self.loops += 1
                offset += span
                last.clear()
                self._container.seek(0)
            for track in self._streams.values():
                self._deliver(track, None)
        finally:
            self._container.close()
