"""One participant's file: encoded frames muxed into Matroska / WebM with PyAV, on a thread of
its own (the event loop only enqueues), written so that a SIGKILL loses at most ~2 s.

Crash safety: the Matroska muxer keeps a cluster in memory until it closes it, so clusters are
cut every second (``cluster_time_limit``); the muxer hands every finished cluster to the OS at
once, and ``flush_packets`` does the same for the header (without it the header waits in the
I/O buffer for the first cluster); the interleaver holds packets at most 0.5 s
(``max_interleave_delta``), and the file is fsync'ed every 2 s. The prefix of a killed file is
therefore a readable Matroska stream (unknown-size segment, no cues) that
:mod:`media.recording.repair` remuxes into a proper file.

The header needs every stream up front (and a video stream's picture size, read from its
first keyframe), so packets are held until each track the file was opened with is ready, or
``header_timeout`` seconds after the first packet; a track added after the header is refused
(the caller starts a new file). A track the header had to leave out (not ready in time) is
reported through ``on_track_refused`` as soon as it becomes ready, so that the caller can start
a new file that includes it. An H264 track is ready once its SPS and PPS are known and an IDR
arrives (without them the file's codec private would be wrong and the video undecodable).
Attaching the tap asks the publisher for that keyframe once; while a video track still waits
for one (to open the file, or to be reported once left out), ``on_keyframe_wanted`` asks again
every ``KEYFRAME_RETRY`` seconds: a keyframe lost on the way, or not sent because the camera
was muted when the tap was attached, would otherwise leave the file without its video, with
nothing said, until some subscriber happened to ask for one. A track the file keeps but never
gets (its keyframe never came, or came only after the header and no new file took it) is
named by kind in :attr:`WriterResult.missing`, so the file's record says what it lacks.

When the disk does not keep up (``MAX_QUEUE`` frames waiting), frames are dropped and counted
(:attr:`WriterResult.dropped`, turned into the file's error by :meth:`WriterResult.file_error`);
a video track then skips frames until its next keyframe (``on_keyframe_needed`` asks for one).
"""

from __future__ import annotations

import concurrent.futures
import errno
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av

from media.recording.bitstream import ANNEXB_START, h264_size, nal_units, vp8_size
from vidconsult.store.recording_files import file_digest

log = logging.getLogger(__name__)

MS = Fraction(1, 1000)
MUXER_OPTIONS = {
    "cluster_time_limit": "1000",  # ms: a cluster reaches the file at least every second
    "flush_packets": "1",
    "max_interleave_delta": "500000",  # µs
}
FSYNC_INTERVAL = 2.0
BATCH_INTERVAL = 0.1  # s: the writer thread wakes at most this often while frames flow
MAX_QUEUE = 4000  # ~40 s of one participant's frames; beyond that the disk is not keeping up
KEYFRAME_RETRY = 1.0  # s: a video track waiting for a keyframe asks again this often
_STOP = object()
# PyAV encoder names for the codecs WebRTC negotiates
_CODECS = {"video/VP8": "vp8", "video/H264": "h264", "audio/opus": "opus"}
Opener = Callable[[Path], IO[bytes]]


def container_for(codecs: list[str]) -> tuple[str, str]:
    """(PyAV format, file extension) for a set of mime types: WebM when every codec is a WebM
    one (VP8, Opus), Matroska otherwise (H264)."""
    if all(c.lower() in ("video/vp8", "audio/opus") for c in codecs):
        return "webm", "webm"
    return "matroska", "mkv"


def supported(codec: str) -> bool:
    return _canonical(codec) in _CODECS


def _canonical(codec: str) -> str:
    kind, _, name = codec.partition("/")
    return f"{kind.lower()}/{'opus' if name.lower() == 'opus' else name.upper()}"


def opus_head(channels: int = 2) -> bytes:
    """The OpusHead codec private (RFC 7845): version 1, pre-skip 0, 48 kHz, family 0."""
    return (
        b"OpusHead"
        + bytes([1, channels])
        + (0).to_bytes(2, "little")
        + (48000).to_bytes(4, "little")
        + (0).to_bytes(2, "little")
        + b"\x00"
    )


@dataclass(slots=True)
class WriterResult:
    duration_ms: int
    size: int
    sha256: str
    kinds: list[str]
    codecs: list[str]
    packets: int
    dropped: int
    error: str | None = None
    # sids of the tracks that reached the file (their media is in it)
    tracks: list[str] = field(default_factory=list)
    # kinds of the tracks the file was given (and kept) that never reached it: a camera whose
    # keyframe never came in time, a microphone that sent nothing; [] when it holds them all
    missing: list[str] = field(default_factory=list)

    def file_error(self) -> str | None:
        """The file's error: the writer's, else the frames it had to drop (a file with holes
        is not a complete recording)."""
        if self.error is None and self.dropped > 0:
            return f"frames_dropped: {self.dropped} (the disk did not keep up)"
        return self.error


@dataclass(slots=True)
class _Track:
    sid: str
    kind: str
    codec: str
    ready: bool = False
    size: tuple[int, int] | None = None
    extradata: bytes | None = None
    stream: Any = None
    first_pts: int | None = None
    last_pts: int = -1
    refused: bool = False  # not ready when the header was written: left out of the file
    reported: bool = False  # on_track_refused was called (once it became ready)
    sps: bytes | None = None  # H264 parameter sets seen so far (NAL units, no start code)
    pps: bytes | None = None
    asked_at: float | None = None  # waiting for a keyframe since, or last asked for one


@dataclass(slots=True)
class _State:
    tracks: dict[str, _Track] = field(default_factory=dict)
    pending: list[tuple[str, bytes, int, bool]] = field(default_factory=list)
    first_packet_at: float | None = None
    packets: int = 0


class ContainerWriter:
    """``put`` is called on the event loop (cheap, never blocks, never raises); everything
    else happens on the writer thread."""

    def __init__(
        self,
        path: Path,
        container: str,
        *,
        metadata: dict[str, str] | None = None,
        header_timeout: float = 4.0,
        opener: Opener | None = None,
        on_error: Callable[[str], None] | None = None,
        on_track_refused: Callable[[str], None] | None = None,
        on_keyframe_needed: Callable[[str], None] | None = None,
        on_keyframe_wanted: Callable[[str], None] | None = None,
    ) -> None:
        """``on_error``, ``on_track_refused`` and ``on_keyframe_wanted`` (a track sid) are
        called on the writer thread; ``on_keyframe_needed`` (a track sid) in :meth:`put`, on
        the caller's thread."""
        self.path = path
        self._format = container
        self._metadata = metadata or {}
        self._header_timeout = header_timeout
        self._opener = opener or _open_file
        self._on_error = on_error
        self._on_track_refused = on_track_refused
        self._on_keyframe_needed = on_keyframe_needed
        self._on_keyframe_wanted = on_keyframe_wanted
        self._resync: set[str] = set()  # video tracks that lost a frame: wait for a keyframe
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop_requested = threading.Event()
        self._state = _State()
        self._lock = threading.Lock()
        self._header_written = False
        self._failed: str | None = None
        self.dropped = 0
        self._result: concurrent.futures.Future[WriterResult] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=f"rec-{path.stem}", daemon=True)
        self._thread.start()

    # event-loop side ---------------------------------------------------------------------
    def add_track(self, sid: str, kind: str, codec: str) -> bool:
        """Add a track before the header is written; False once it is (start a new file)."""
        with self._lock:
            if self._header_written or self._failed:
                return False
            self._state.tracks.setdefault(sid, _Track(sid, kind, _canonical(codec)))
            return True

    def remove_track(self, sid: str) -> None:
        """Forget a track that never got a stream in the file (e.g. its tap could not be
        attached); a no-op for a track that is in the file."""
        with self._lock:
            track = self._state.tracks.get(sid)
            if track is not None and track.stream is None:
                del self._state.tracks[sid]

    def put(self, sid: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        if self._failed is not None:
            return
        if sid in self._resync and not keyframe:
            self.dropped += 1  # a delta after a lost frame would not decode
            return
        if self._queue.qsize() >= MAX_QUEUE:
            self.dropped += 1
            track = self._state.tracks.get(sid)
            if track is not None and track.kind == "video" and sid not in self._resync:
                self._resync.add(sid)
                if self._on_keyframe_needed is not None:
                    try:
                        self._on_keyframe_needed(sid)
                    except Exception:
                        log.exception("keyframe request failed path=%s track=%s", self.path, sid)
            return
        self._resync.discard(sid)
        self._queue.put((sid, data, pts_ms, keyframe))

    def finish(self) -> concurrent.futures.Future[WriterResult]:
        """Close the file (trailer, fsync) and hash it; the future resolves when done."""
        self._queue.put(_STOP)
        self._stop_requested.set()
        return self._result

    @property
    def failed(self) -> str | None:
        return self._failed

    # writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        result: WriterResult | None = None
        try:
            result = self._run_file()
        except BaseException as exc:  # never leave finish() waiting
            self._fail(exc)
        finally:
            if result is None:
                result = WriterResult(
                    duration_ms=0,
                    size=0,
                    sha256="",
                    kinds=[],
                    codecs=[],
                    packets=self._state.packets,
                    dropped=self.dropped,
                    error=self._failed or "writer_crashed",
                )
            if not self._result.done():
                self._result.set_result(result)

    def _run_file(self) -> WriterResult:
        container = fh = None
        last_sync = time.monotonic()
        try:
            fh = self._opener(self.path)
            stopping = False
            while not stopping:
                try:
                    batch = [self._queue.get(timeout=0.5)]
                except queue.Empty:
                    batch = [None]
                while True:  # everything queued meanwhile: one wake-up per batch
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                for item in batch:
                    if item is _STOP:
                        stopping = True
                        break
                    if self._failed is None:
                        try:
                            if item is not None:
                                container = self._handle(container, fh, item)
                            elif not self._header_written:
                                container = self._maybe_header(container, fh)
                        except Exception as exc:  # a full disk, a muxer error: this file stops
                            self._fail(exc)
                if (
                    self._failed is None
                    and container is not None
                    and time.monotonic() - last_sync >= FSYNC_INTERVAL
                ):
                    try:
                        os.fsync(fh.fileno())
                    except OSError as exc:
                        self._fail(exc)
                    last_sync = time.monotonic()
                if not stopping:
                    # let frames gather instead of waking for each one (a thread switch per
                    # frame costs more than muxing it); well inside the 2 s crash budget
                    self._stop_requested.wait(BATCH_INTERVAL)
            if self._failed is None and not self._header_written:
                container = self._write_header(container, fh, force=True)
        except Exception as exc:  # opening failed, or the header at the end
            self._fail(exc)
        return self._close(container, fh)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "No space" in str(exc):
            message = "disk_full"
        else:
            message = f"{type(exc).__name__}: {exc}"
        if self._failed is None:
            self._failed = message
            log.error("recording failed path=%s error=%s", self.path, message)
            if self._on_error is not None:
                try:
                    self._on_error(message)
                except Exception:
                    log.exception("on_error failed path=%s", self.path)

    def _handle(self, container: Any, fh: IO[bytes], item: tuple[str, bytes, int, bool]) -> Any:
        state = self._state
        sid, data, pts, key = item
        track = state.tracks.get(sid)
        if track is None:
            return container
        if track.refused:
            if track.reported:
                return container
            if not self._becomes_ready(track, data, key):
                self._want_keyframe(track)
                return container
            track.reported = True
            log.warning("track left out of the file is ready now path=%s track=%s", self.path, sid)
            if self._on_track_refused is not None:
                try:
                    self._on_track_refused(sid)
                except Exception:
                    log.exception("on_track_refused failed path=%s", self.path)
            return container
        if not self._header_written:
            if not track.ready and not self._becomes_ready(track, data, key):
                self._want_keyframe(track)
                return container  # a decoder needs the keyframe (and parameter sets) first
            track.ready = True
            if state.first_packet_at is None:
                state.first_packet_at = time.monotonic()
            state.pending.append(item)
            return self._maybe_header(container, fh)
        self._mux(container, track, data, pts, key)
        return container

    def _want_keyframe(self, track: _Track) -> None:
        """A packet that cannot open video ``track``: ask for a keyframe again if it has waited
        ``KEYFRAME_RETRY`` since its first such packet (the tap's attach asked then) or since
        the last ask; never once per frame."""
        if track.kind != "video" or self._on_keyframe_wanted is None:
            return
        now = time.monotonic()
        if track.asked_at is None:
            track.asked_at = now  # the tap's attach asked about now
            return
        if now - track.asked_at < KEYFRAME_RETRY:
            return
        track.asked_at = now
        try:
            self._on_keyframe_wanted(track.sid)
        except Exception:
            log.exception("keyframe request failed path=%s track=%s", self.path, track.sid)

    def _becomes_ready(self, track: _Track, data: bytes, key: bool) -> bool:
        """Whether this packet can open the track: any audio packet; a VP8 keyframe (its
        picture size learnt); an H264 IDR once an SPS and a PPS were seen (in this packet or
        an earlier one: they are the file's codec private)."""
        if track.kind != "video":
            return True
        if track.codec != "video/H264":
            if not key:
                return False
            track.size = vp8_size(data)
            return True
        idr = False
        for unit in nal_units(data):
            kind = unit[0] & 0x1F
            if kind == 7:
                track.sps = unit
                track.size = h264_size(ANNEXB_START + unit) or track.size
            elif kind == 8:
                track.pps = unit
            elif kind == 5:
                idr = True
        if not (idr and track.sps and track.pps):
            return False
        track.extradata = ANNEXB_START + track.sps + ANNEXB_START + track.pps
        return True

    def _maybe_header(self, container: Any, fh: IO[bytes]) -> Any:
        state = self._state
        if state.first_packet_at is None:
            return container
        timed_out = time.monotonic() - state.first_packet_at >= self._header_timeout
        with self._lock:
            all_ready = all(t.ready for t in state.tracks.values())
        if all_ready or timed_out:
            return self._write_header(container, fh, force=timed_out)
        return container

    def _write_header(self, container: Any, fh: IO[bytes], *, force: bool) -> Any:
        state = self._state
        with self._lock:  # add_track / remove_track run on the event loop
            self._header_written = True
            tracks = list(state.tracks.values())
        ready = [t for t in tracks if t.ready]
        for t in tracks:
            if not t.ready:
                t.refused = True
                log.warning(
                    "track not ready for the header, left out path=%s track=%s", self.path, t.sid
                )
        if not ready:
            return None
        container = av.open(fh, "w", format=self._format, options=dict(MUXER_OPTIONS))
        container.metadata.update(self._metadata)
        for t in sorted(ready, key=lambda t: t.kind != "video"):
            stream = container.add_stream(
                _CODECS[t.codec], rate=48000 if t.kind == "audio" else None
            )
            if t.kind == "video":
                width, height = t.size or (640, 480)
                stream.width, stream.height = width, height
                if t.extradata:
                    stream.codec_context.extradata = t.extradata
            else:
                stream.codec_context.extradata = opus_head()
            stream.time_base = MS
            t.stream = stream
        pending, state.pending = state.pending, []
        for sid, data, pts, key in pending:
            track = state.tracks.get(sid)
            if track is not None:
                self._mux(container, track, data, pts, key)
        return container

    def _mux(self, container: Any, track: _Track, data: bytes, pts: int, key: bool) -> None:
        if track.stream is None:
            return
        if pts <= track.last_pts:  # the muxer needs increasing timestamps per stream
            pts = track.last_pts + 1
        packet = av.Packet(data)
        packet.stream = track.stream
        packet.pts = packet.dts = pts
        packet.time_base = MS
        packet.is_keyframe = key or track.kind == "audio"
        container.mux(packet)
        if track.first_pts is None:
            track.first_pts = pts
        track.last_pts = pts
        self._state.packets += 1

    def _close(self, container: Any, fh: IO[bytes] | None) -> WriterResult:
        """Trailer, fsync, close and hash; never raises (every failure becomes the error)."""
        if container is not None:
            try:
                container.close()
            except Exception as exc:
                self._fail(exc)
        if fh is not None:
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except Exception as exc:
                self._fail(exc)
            try:
                fh.close()
            except Exception as exc:  # EIO on close(2): the data may not be on disk
                self._fail(exc)
        tracks = list(self._state.tracks.values())
        used = [t for t in tracks if t.first_pts is not None]
        kinds = {t.kind for t in used}
        first = min((t.first_pts for t in used if t.first_pts is not None), default=0)
        last = max((t.last_pts for t in used), default=0)
        try:
            size, digest = file_digest(self.path) if self.path.exists() else (0, "")
        except Exception as exc:
            self._fail(exc)
            size, digest = 0, ""
        error = self._failed
        return WriterResult(
            duration_ms=max(0, last - first),
            size=size,
            sha256=digest,
            kinds=sorted(kinds),
            codecs=sorted({t.codec for t in used}),
            packets=self._state.packets,
            dropped=self.dropped,
            error=error,
            tracks=[t.sid for t in used],
            missing=sorted({t.kind for t in tracks if t.first_pts is None} - kinds),
        )


def _open_file(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w+b", buffering=0)  # noqa: SIM115 - the writer thread owns it
