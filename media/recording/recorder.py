"""``TapRecorder``: the :class:`vidconsult.ports.Recorder` on the media engine's encoded taps.

Each participant file is a :class:`ParticipantRecording` whose track taps are attached with
``engine.add_tap``; the engine's track observer tells the core (through the listener) when
tracks come and go, so it can start, extend or finish files.

A track the file's header had to leave out (no keyframe in time) is detached from the file as
soon as it becomes ready and announced to the listener again as a newly published track: the
file cannot take it (``add_track`` is False), so the core finishes it and starts one with every
live track. After ``MAX_REANNOUNCE`` such announcements in a row (no file got the track in
between) the track stays in the file that left it out, and that file's ``RecordedFile`` says
it is ``missing``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.recording.tap import ParticipantRecording
from media.recording.writer import ContainerWriter, Opener, container_for, supported
from vidconsult.errors import NotFound
from vidconsult.ports import PublishedTrack, RecordedFile, RecorderListener, RecordingTarget

log = logging.getLogger(__name__)
# how often in a row one track is announced again after a file left it out (no endless
# rotation when a publisher's keyframes always come too late); a file that gets the track's
# media starts the count again
MAX_REANNOUNCE = 2


def clock_rate(codec: str) -> int:
    return 90000 if codec.lower().startswith("video/") else 48000


@dataclass(slots=True)
class _Open:
    target: RecordingTarget
    recording: ParticipantRecording
    # track sid -> the tap attached to the engine
    attached: dict[str, Any]


class TapRecorder:
    def __init__(
        self, engine: Any, *, opener: Opener | None = None, header_timeout: float = 4.0
    ) -> None:
        for method in ("add_tap", "remove_tap", "published_tracks", "add_track_observer"):
            if not hasattr(engine, method):
                raise TypeError(f"the media engine has no {method}(): recording needs taps")
        self._engine = engine
        self._opener = opener
        self._header_timeout = header_timeout
        self._listener: RecorderListener | None = None
        self._open: dict[str, _Open] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reannounced: dict[str, int] = {}  # track sid -> times announced again
        engine.add_track_observer(self)

    def set_listener(self, listener: RecorderListener) -> None:
        self._listener = listener

    def now(self) -> float:
        return time.monotonic()

    def published_tracks(self, room_id: str) -> list[tuple[str, PublishedTrack]]:
        return list(self._engine.published_tracks(room_id))

    def container_for(self, codecs: list[str]) -> tuple[str, str]:
        return container_for(codecs)

    # media.taps.TrackObserver ----------------------------------------------------------------
    def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        if self._listener is not None:
            self._listener.on_track_published(room_id, identity, track)

    def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None:
        self._reannounced.pop(track_sid, None)
        if self._listener is not None:
            self._listener.on_track_ended(room_id, identity, track_sid)

    # files ----------------------------------------------------------------------------------
    def start(
        self, target: RecordingTarget, tracks: list[PublishedTrack], *, origin: float
    ) -> list[str]:
        self._loop = asyncio.get_running_loop()
        rid = target.recording_id
        writer = ContainerWriter(
            Path(target.path),
            target.container,
            metadata=dict(target.tags),
            header_timeout=self._header_timeout,
            opener=self._opener,
            on_error=lambda error: self._failed_threadsafe(rid, error),
            on_track_refused=lambda sid: self._refused_threadsafe(rid, sid),
            on_keyframe_needed=lambda sid: self._request_keyframe(rid, sid),
            on_keyframe_wanted=lambda sid: self._keyframe_threadsafe(rid, sid),
        )
        recording = ParticipantRecording(rid, writer, origin=origin, on_all_ended=self._all_ended)
        self._open[rid] = _Open(target, recording, {})
        taken = [t.sid for t in tracks if self.add_track(rid, t)]
        log.info(
            "recording started recording=%s room=%s identity=%s tracks=%s path=%s",
            rid,
            target.room_id,
            target.identity,
            taken,
            target.path,
        )
        return taken

    def add_track(self, recording_id: str, track: PublishedTrack) -> bool:
        entry = self._open.get(recording_id)
        if entry is None or not supported(track.codec):
            return False
        if track.sid in entry.attached:
            return True
        if (
            track.kind == "video"
            and track.codec.lower() == "video/h264"
            and entry.target.container != "matroska"
        ):
            return False  # WebM has no H264 (Matroska takes VP8 and H264)
        tap = entry.recording.add_track(
            track.sid, str(track.kind), track.codec, clock_rate(track.codec)
        )
        if tap is None:
            return False
        try:
            self._engine.add_tap(entry.target.room_id, entry.target.identity, track.sid, tap)
        except NotFound:  # the track ended meanwhile: it must not hold the file open
            entry.recording.remove_track(track.sid)
            return False
        entry.attached[track.sid] = tap
        return True

    async def finish(self, recording_id: str) -> RecordedFile:
        entry = self._open.pop(recording_id)
        for sid, tap in entry.attached.items():
            with contextlib.suppress(Exception):
                self._engine.remove_tap(entry.target.room_id, entry.target.identity, sid, tap)
        result = await asyncio.wrap_future(entry.recording.writer.finish())
        for sid in result.tracks:
            # the file took the track: the cap is for a track whose keyframes always come too
            # late (endless rotation), not for the session's lifetime (a track refused now and
            # then, or a session stopped and started again, gets its file each time)
            self._reannounced.pop(sid, None)
        log.info(
            "recording finished recording=%s duration_ms=%s size=%s error=%s missing=%s",
            recording_id,
            result.duration_ms,
            result.size,
            result.error,
            result.missing,
        )
        return RecordedFile(
            recording_id=recording_id,
            duration_ms=result.duration_ms,
            size=result.size,
            sha256=result.sha256,
            kinds=result.kinds,
            codecs=result.codecs,
            offset_ms=int(entry.recording.offset * 1000),
            error=result.file_error(),
            missing=result.missing,
        )

    async def close(self) -> None:
        for rid in list(self._open):
            with contextlib.suppress(Exception):
                await self.finish(rid)
        with contextlib.suppress(Exception):
            self._engine.remove_track_observer(self)

    # callbacks ------------------------------------------------------------------------------
    def _failed_threadsafe(self, recording_id: str, error: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._failed, recording_id, error)

    def _failed(self, recording_id: str, error: str) -> None:
        if self._listener is not None and recording_id in self._open:
            self._listener.on_recording_failed(recording_id, error)

    def _refused_threadsafe(self, recording_id: str, sid: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._refused, recording_id, sid)

    def _refused(self, recording_id: str, sid: str) -> None:
        """The file left track ``sid`` out (not ready for its header) and it is ready now:
        detach it and announce it again, so the core starts a file that has it."""
        entry = self._open.get(recording_id)
        if entry is None or self._listener is None:
            return
        room_id, identity = entry.target.room_id, entry.target.identity
        track = next(
            (
                t
                for who, t in self._engine.published_tracks(room_id)
                if who == identity and t.sid == sid
            ),
            None,
        )
        if track is None:
            return  # ended meanwhile
        count = self._reannounced.get(sid, 0)
        if count >= MAX_REANNOUNCE:
            # it stays in this file, which never gets it: the file says so (``missing``)
            log.warning(
                "track again not ready for a file header, not recorded recording=%s track=%s",
                recording_id,
                sid,
            )
            return
        self._reannounced[sid] = count + 1
        tap = entry.attached.pop(sid, None)
        if tap is not None:
            with contextlib.suppress(Exception):
                self._engine.remove_tap(room_id, identity, sid, tap)
        entry.recording.remove_track(sid)
        log.warning(
            "track left out of the file is ready, announced again recording=%s track=%s",
            recording_id,
            sid,
        )
        self._listener.on_track_published(room_id, identity, track)

    def _keyframe_threadsafe(self, recording_id: str, sid: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._request_keyframe, recording_id, sid)

    def _request_keyframe(self, recording_id: str, sid: str) -> None:
        """The writer lost a frame of video track ``sid``, or still waits for a keyframe to
        open it (or to report it ready once the header left it out): ask the publisher for
        one. The engine has no call for that, but attaching a tap asks for one (and a tap
        already attached is not attached twice; the engine spaces its requests)."""
        entry = self._open.get(recording_id)
        tap = entry.attached.get(sid) if entry is not None else None
        if entry is not None and tap is not None:
            with contextlib.suppress(Exception):
                self._engine.add_tap(entry.target.room_id, entry.target.identity, sid, tap)

    def _all_ended(self, recording_id: str) -> None:
        if self._listener is not None and recording_id in self._open:
            self._listener.on_tracks_ended(recording_id)
