"""The external recorder: archive a room from another machine through the Python SDK.

It joins with a ``recorder`` token (hidden from the participant list, subscribe only) in the
SDK's encoded mode, so nothing is decoded or re-encoded, and feeds each publisher's encoded
frames into the server recorder's own classes (:class:`media.recording.tap.ParticipantRecording`
on a :class:`media.recording.writer.ContainerWriter`): one file per participant, audio and video
placed on a common clock by the publishers' sender reports, the archive layout and signed
manifest of :mod:`vidconsult.store.recording_files`. A file is finished and chained into the
manifest when its participant's tracks end, and every open file when the room ends or the
recorder leaves. ``vidconsult archive verify --data-dir DIR`` (with the same secret) checks it.

    vidconsult record --url URL --token TOKEN --data-dir DIR [--secret S] [--room ID]
    python -m vidconsult.external_recorder ...   (the same)

The manifest is signed with ``--secret`` (or ``VIDCONSULT_SECRET``), else with the data dir's
``secret.key`` (made once), as the server does. Do not give it the server's secret: on the
server, ``vidconsult archive import DIR`` checks the manifests with this one and re-signs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from media.recording.recorder import MAX_REANNOUNCE, clock_rate
from media.recording.tap import ParticipantRecording
from media.recording.writer import ContainerWriter, container_for, supported
from vidconsult.client import RemoteTrack, RoomClient
from vidconsult.domain import recordings as domain
from vidconsult.domain.recordings import Recording, RecordingStatus
from vidconsult.services.recordings import new_recording_id
from vidconsult.store.recording_files import ArchiveFiles

log = logging.getLogger(__name__)
# how long a new file waits for the rest of its participant's published tracks, and how often
# it looks (seconds)
OPEN_WAIT = 2.0
OPEN_POLL = 0.05


@dataclass(slots=True)
class _File:
    recording: Recording
    participant: ParticipantRecording
    tracks: dict[str, RemoteTrack]


class ExternalRecorder:
    """``run()`` records until the room ends, the recorder is removed or :meth:`stop`."""

    def __init__(
        self,
        url: str,
        token: str,
        archive: ArchiveFiles,
        *,
        header_timeout: float = 4.0,
        room: str | None = None,
    ) -> None:
        self.archive = archive
        self.client = RoomClient(url, token, room=room, encoded=True, on_track=self._on_track)
        self.finished: list[Recording] = []
        self._header_timeout = header_timeout
        self._files: dict[str, _File] = {}  # by identity
        self._reannounced: dict[str, int] = {}  # track sid -> files opened again for it
        self._pending: dict[str, list[RemoteTrack]] = {}  # tracks waiting for their file
        self._finishing: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._manifest_lock = asyncio.Lock()  # the manifest is read, extended, rewritten
        self._origin = time.monotonic()
        self._session_id = f"ext_{secrets.token_hex(6)}"
        self.room_id = ""
        self._room_dir = ""
        self._case_id: str | None = None
        self._room_name = ""

    # lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        joined = await self.client.connect()
        room = joined.get("room") or {}
        self.room_id = str(room.get("id") or joined.get("room_id") or "")
        self._case_id = room.get("case_id")
        self._room_name = str(room.get("name") or self.room_id)
        self._origin = time.monotonic()
        log.info("external recorder joined room=%s as %s", self.room_id, self.client.identity)

    async def run(self) -> None:
        await self.start()
        try:
            waits: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(e.wait()) for e in (self._stop, self.client.disconnected)
            ]
            waits.append(
                asyncio.ensure_future(
                    self.client.wait_until(lambda: self.client.closed_reason is not None, None)
                )
            )
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
        finally:
            await self.close()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        """Leave, then finish and chain every open file."""
        await self.client.leave()  # remote tracks end: their taps get on_end
        while self._finishing:
            for result in await asyncio.gather(*list(self._finishing), return_exceptions=True):
                if isinstance(result, BaseException):
                    log.error("finishing a file failed: %r", result)
        for identity in list(self._files):
            await self._finish(identity)

    # tracks ---------------------------------------------------------------------------------
    def _on_track(self, remote: RemoteTrack) -> None:
        if remote.ingress is None or not supported(remote.codec):
            log.warning("track not recordable track=%s codec=%s", remote.track_sid, remote.codec)
            return
        entry = self._files.get(remote.publisher)
        if entry is not None and self._attach(entry, remote):
            return
        if entry is not None:  # the header is written: a new file with all the tracks
            tracks = [t for t in entry.tracks.values() if not _ended(t)] + [remote]
            self._finish_soon(remote.publisher)
            self._open(remote.publisher, tracks)
            return
        self._open(remote.publisher, [remote])

    def _open(self, identity: str, tracks: list[RemoteTrack]) -> None:
        # A file's header is written once, with the tracks it has: a track that comes later
        # gets a file of its own. A participant's tracks usually come in one subscribe offer,
        # right after this callback, but on a busy server their publication can reach us in
        # separate offers: the file waits (OPEN_WAIT at most) for every track the participant
        # has published, so that one participant's camera and microphone share one file.
        pending = self._pending.setdefault(identity, [])
        first = not pending
        pending.extend(tracks)
        if first:
            loop = asyncio.get_running_loop()
            loop.call_soon(self._open_when_complete, identity, loop.time() + OPEN_WAIT)

    def _open_when_complete(self, identity: str, deadline: float) -> None:
        pending = self._pending.get(identity)
        if not pending:
            return
        published = {
            str(t.get("sid"))
            for t in self.client.participants.get(identity, {}).get("tracks") or []
        }
        loop = asyncio.get_running_loop()
        if published <= {t.track_sid for t in pending} or loop.time() >= deadline:
            self._open_now(identity)
        else:
            loop.call_later(OPEN_POLL, self._open_when_complete, identity, deadline)

    def _open_now(self, identity: str) -> None:
        tracks = self._pending.pop(identity, [])
        if not tracks:
            return
        now = datetime.now(UTC)
        if not self._room_dir:
            self._room_dir = domain.room_directory(self.room_id, now)
        container, ext = container_for([t.codec for t in tracks])
        rid = new_recording_id()
        role = str(self.client.participants.get(identity, {}).get("role", "unknown"))
        rel = f"{self._room_dir}/{domain.file_name(identity, rid, ext)}"
        recording = Recording(
            id=rid,
            room_id=self.room_id,
            case_id=self._case_id,
            identity=identity,
            role=role,
            path=rel,
            started_at=now,
            session_id=self._session_id,
        )
        loop = asyncio.get_running_loop()

        def refused(sid: str, who: str = identity, recording_id: str = rid) -> None:
            with contextlib.suppress(RuntimeError):  # (writer thread) the loop closed meanwhile
                loop.call_soon_threadsafe(self._refused, who, recording_id, sid)

        writer = ContainerWriter(
            self.archive.resolve(rel),
            container,
            header_timeout=self._header_timeout,
            on_track_refused=refused,
            metadata={
                "title": f"{self._room_name} - {identity}",
                "room_id": self.room_id,
                "case_id": self._case_id or "",
                "participant": identity,
                "role": role,
                "recording_id": rid,
                "session_id": self._session_id,
                "recording_started": now.isoformat(),
                "recorded_by": self.client.identity,
            },
        )
        participant = ParticipantRecording(
            rid,
            writer,
            origin=self._origin,
            on_all_ended=functools.partial(self._all_ended, identity),
        )
        entry = _File(recording, participant, {})
        self._files[identity] = entry
        for remote in tracks:
            self._attach(entry, remote)
        log.info(
            "external recording started room=%s identity=%s tracks=%s path=%s",
            self.room_id,
            identity,
            list(entry.tracks),
            rel,
        )

    def _refused(self, identity: str, recording_id: str, sid: str) -> None:
        """The file left track ``sid`` out (not ready when its header was written) and the
        track is ready now: detach it and take it again, which opens a file that has it (as
        the server's recorder does)."""
        entry = self._files.get(identity)
        remote = entry.tracks.get(sid) if entry is not None else None
        if entry is None or remote is None or entry.recording.id != recording_id:
            return
        count = self._reannounced.get(sid, 0)
        if count >= MAX_REANNOUNCE or _ended(remote):
            return
        self._reannounced[sid] = count + 1
        with contextlib.suppress(Exception):
            remote.remove_tap(entry.participant.taps.get(sid))
        entry.participant.remove_track(sid)
        entry.tracks.pop(sid, None)
        log.warning(
            "track left out of the file is ready, new file identity=%s track=%s", identity, sid
        )
        self._on_track(remote)

    def _attach(self, entry: _File, remote: RemoteTrack) -> bool:
        if (
            remote.kind == "video"
            and remote.codec.lower() == "video/h264"
            and not entry.recording.path.endswith(".mkv")
        ):
            return False  # WebM has no H264 (Matroska takes VP8 and H264)
        tap = entry.participant.add_track(
            remote.track_sid, remote.kind, remote.codec, clock_rate(remote.codec)
        )
        if tap is None:
            return False
        entry.tracks[remote.track_sid] = remote
        remote.add_tap(tap)
        return True

    def _all_ended(self, identity: str, recording_id: str) -> None:
        entry = self._files.get(identity)
        if entry is not None and entry.recording.id == recording_id:
            self._finish_soon(identity)

    def _finish_soon(self, identity: str) -> None:
        entry = self._files.pop(identity, None)
        if entry is None:
            return
        task = asyncio.get_running_loop().create_task(self._finish_entry(entry))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, identity: str) -> None:
        entry = self._files.pop(identity, None)
        if entry is not None:
            await self._finish_entry(entry)

    async def _finish_entry(self, entry: _File) -> None:
        for remote in entry.tracks.values():
            with contextlib.suppress(Exception):
                remote.remove_tap(entry.participant.taps.get(remote.track_sid))
        result = await asyncio.wrap_future(entry.participant.writer.finish())
        recording = entry.recording
        recording.ended_at = datetime.now(UTC)
        recording.duration_ms, recording.size = result.duration_ms, result.size
        recording.sha256 = result.sha256
        recording.offset_ms = int(entry.participant.offset * 1000)
        recording.kinds, recording.codecs = result.kinds, result.codecs
        recording.missing = result.missing
        recording.error = result.file_error()
        recording.status = RecordingStatus.FAILED if recording.error else RecordingStatus.COMPLETED
        if result.size == 0 and not result.packets:
            with contextlib.suppress(OSError):
                self.archive.resolve(recording.path).unlink()
            log.info("nothing recorded, no file identity=%s", recording.identity)
            return
        try:
            async with self._manifest_lock:
                await asyncio.to_thread(
                    self.archive.append, self._room_dir, self.room_id, recording, event="file"
                )
        except Exception as exc:  # a damaged or tampered manifest is never re-signed
            log.error(
                "manifest not written identity=%s path=%s: %s",
                recording.identity,
                recording.path,
                exc,
            )
            recording.error = (
                f"{recording.error}; " if recording.error else ""
            ) + f"manifest not written: {exc}"
        self.finished.append(recording)
        log.info(
            "external recording finished identity=%s duration_ms=%s size=%s error=%s",
            recording.identity,
            recording.duration_ms,
            recording.size,
            recording.error,
        )


def _ended(remote: RemoteTrack) -> bool:
    ingress = remote.ingress
    return ingress is None or ingress.track_sid != remote.track_sid or not ingress.taps


def archive_for(data_dir: Path, secret: str | None) -> ArchiveFiles:
    """The archive under ``data_dir`` as the server lays it out, signed with ``secret`` (else
    ``VIDCONSULT_SECRET``, else the data dir's ``secret.key``)."""
    from vidconsult.config import Settings
    from web.recordings_api import recordings_root

    overrides: dict[str, Any] = {"data_dir": data_dir}
    if secret:
        overrides["secret"] = secret
    settings = Settings.from_env(None, **overrides)
    return ArchiveFiles(recordings_root(settings), settings.load_secret())


async def _main(args: argparse.Namespace) -> int:
    archive = archive_for(Path(args.data_dir), args.secret)
    recorder = ExternalRecorder(args.url, args.token, archive, room=args.room)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, recorder.stop)
    await recorder.run()
    for rec in recorder.finished:
        print(f"{rec.status.value} {rec.path} {rec.duration_ms} ms")
    return 1 if any(r.error for r in recorder.finished) else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The recorder's options (here and in ``vidconsult record``)."""
    parser.add_argument("--url", required=True, help="the server's base URL")
    parser.add_argument("--token", required=True, help="a token with the recorder role")
    parser.add_argument(
        "--data-dir", dest="data_dir", required=True, help="archive under DIR/recordings"
    )
    parser.add_argument("--secret", default=None, help="manifest signing secret")
    parser.add_argument("--room", default=None, help="room id, if the token is not bound")


def run(args: argparse.Namespace) -> int:
    """Record until the room ends or SIGINT / SIGTERM; exit 1 if a file failed."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return asyncio.run(_main(args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vidconsult-external-recorder", description="record a room from outside the server"
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
