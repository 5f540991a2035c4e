"""The recording service: whether and when a room records, one file per participant through
the :class:`vidconsult.ports.Recorder`, the archive index, the signed manifests, telling the
room (``recording.started`` / ``recording.stopped``), recovery after a crash and retention."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from vidconsult.domain import recordings as domain
from vidconsult.domain.recording_failures import recording_failure
from vidconsult.domain.recordings import Recording, RecordingPolicy, RecordingStatus
from vidconsult.domain.rooms import Room, RoomStatus
from vidconsult.errors import Conflict, NotFound, Unavailable
from vidconsult.ports import Clock, Notifier, PublishedTrack, Recorder, RecordingTarget
from vidconsult.services.events import EventBus
from vidconsult.services.rooms import RoomService
from vidconsult.store.base_recordings import RecordingStore
from vidconsult.store.recording_files import ArchiveFiles, file_digest

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)
# the error of a participant file that received no media at all
NO_MEDIA = "no_media"
# held (flock) in the recordings root by the server running on it, from recover() to close()
SERVER_LOCK = ".server.lock"
# the error of a file whose node died while recording, marked by another node; the node that
# holds the file replaces it when it closes and hashes the file at its next start
NODE_LOST = "its node stopped while recording"
# closes a file the server could not close (media/recording/repair.py); returns ms readable
Salvage = Callable[[str], Any]


class ArchiveBusy(Conflict):
    """Another process (a running server) holds the archive's server lock."""


def new_recording_id() -> str:
    return f"rec_{secrets.token_hex(6)}"


@dataclass
class RecordingConfig:
    retention_days: int = 0  # 0: keep forever
    link_ttl: timedelta = timedelta(minutes=5)


FileKey = tuple[str, str]  # (identity, file source: "camera" | "screen")


def file_source(track: PublishedTrack) -> str:
    """Which of a participant's files a track goes to: "screen" for what it shares."""
    return "screen" if track.shows.is_screen else "camera"


@dataclass
class _Session:
    """A room recording, from start to stop: one file per participant (more if a participant
    adds a track after its file started, or leaves and comes back)."""

    id: str
    room: Room
    origin: float
    started_at: datetime
    by: str
    room_dir: str
    # (identity, source) -> open file: a participant's camera and microphone are one file,
    # a screen it shares is another ("screen"), so the index lists the screen share apart
    files: dict[FileKey, Recording] = field(default_factory=dict)
    tracks: dict[FileKey, set[str]] = field(default_factory=dict)  # sids in each file

    def event(self) -> dict[str, Any]:
        return {
            "room_id": self.room.id,
            "session_id": self.id,
            "by": self.by,
            "started_at": self.started_at.isoformat(),
        }


class RecordingService:
    """Implements :class:`vidconsult.ports.RecorderListener`."""

    def __init__(
        self,
        *,
        store: RecordingStore,
        archive: ArchiveFiles,
        recorder: Recorder | None,
        rooms: RoomService | None,
        notifier: Notifier | None,
        clock: Clock,
        config: RecordingConfig | None = None,
        salvage: Salvage | None = None,
        events: EventBus | None = None,
        node_id: str = "",
    ) -> None:
        """``node_id``: this node (its recorder's files are its own: several nodes share one
        index, each file lives on its node's disk)."""
        self.node_id = node_id
        self.store = store
        self.archive = archive
        self.archive_key = archive.key
        self.config = config or RecordingConfig()
        self._recorder = recorder
        # None in the offline archive tools (verify, purge, recover): no live room there
        self._room_service = rooms
        self._notifier = notifier
        self._clock = clock
        self._salvage = salvage
        self._events = events
        self._sessions: dict[str, _Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._paused: set[str] = set()  # rooms where someone stopped the recording
        self.errors: dict[str, str] = {}  # room -> last recording error
        self._tasks: set[asyncio.Task[None]] = set()
        self._server_lock: int | None = None  # fd of {root}/.server.lock while held
        if recorder is not None:
            recorder.set_listener(self)

    # policy ---------------------------------------------------------------------------------
    async def policy(self, room_id: str) -> RecordingPolicy:
        stored = await self.store.get_policy(room_id)
        if stored is not None:
            return stored
        room = await self._rooms().get_room(room_id)
        return domain.default_policy(room.id, room.kind, room.case_id)

    async def set_policy(
        self,
        room_id: str,
        *,
        enabled: bool | None = None,
        consent: bool | None = None,
        note: str | None = None,
        by: str,
    ) -> RecordingPolicy:
        policy = await self.policy(room_id)
        if enabled is not None:
            policy.enabled = enabled
        if consent is not None:
            policy.consent, policy.consent_by = consent, by
            policy.consent_at = self._clock.now()
        if note is not None:
            policy.note = note
        await self.store.save_policy(policy)
        log.info(
            "recording policy room=%s enabled=%s consent=%s by=%s",
            room_id,
            policy.enabled,
            policy.consent,
            by,
        )
        if not policy.enabled or policy.consent is False:
            await self.stop(room_id, by=by, reason="policy", missing_ok=True)
        return policy

    def status(self, room_id: str) -> dict[str, Any]:
        session = self._sessions.get(room_id)
        return {
            "room_id": room_id,
            "active": session is not None,
            "session": session.event() if session else None,
            "files": [r.to_dict() for r in session.files.values()] if session else [],
            "error": self.errors.get(room_id),
            "error_code": code.value
            if (code := recording_failure(self.errors.get(room_id)))
            else None,
        }

    def statuses(self) -> list[dict[str, Any]]:
        """:meth:`status` of every room recording now, and of rooms whose recording stopped
        on an error (until they record again): one call for a list of rooms."""
        return [self.status(room_id) for room_id in sorted(set(self._sessions) | set(self.errors))]

    # start / stop -----------------------------------------------------------------------------
    async def start(self, room_id: str, *, by: str) -> dict[str, Any]:
        if self._recorder is None:
            raise Unavailable(
                "recording needs the media engine's encoded taps", code="recording_unavailable"
            )
        room = await self._rooms().get_room(room_id)
        if room.status is not RoomStatus.OPEN:
            raise Conflict(f"room {room_id} is not open", code="room_not_open")
        domain.ensure_may_record(await self.policy(room_id))
        self._paused.discard(room_id)
        async with self._lock(room_id):
            if room_id not in self._sessions:
                await self._start_session(room, by)
        return self.status(room_id)

    async def stop(
        self, room_id: str, *, by: str, reason: str = "stopped", missing_ok: bool = False
    ) -> dict[str, Any]:
        if reason == "stopped":
            self._paused.add(room_id)
        async with self._lock(room_id):
            session = self._sessions.pop(room_id, None)
            if session is None:
                if missing_ok:
                    return self.status(room_id)
                raise Conflict(f"room {room_id} is not recording", code="not_recording")
            for key in list(session.files):
                try:  # one file's failure must not leave the others' writers open
                    await self._finish_file(session, key)
                except Exception as exc:
                    log.exception("finishing a file failed room=%s file=%s", room_id, key)
                    # the first cause stays the room's error (what stopped it)
                    self.errors.setdefault(room_id, f"finishing a file failed: {exc!r}")
        payload = {
            **session.event(),
            "reason": reason,
            "stopped_by": by,
            "stopped_at": self._clock.now().isoformat(),
        }
        await self._tell(room_id, "recording.stopped", payload)
        log.info(
            "recording stopped room=%s session=%s reason=%s by=%s", room_id, session.id, reason, by
        )
        return self.status(room_id)

    async def _start_session(self, room: Room, by: str) -> None:
        assert self._recorder is not None
        now = self._clock.now()
        earlier = await self.store.list_recordings(room_id=room.id, limit=1)
        day = earlier[0].started_at if earlier else now
        session = _Session(
            id=f"rs_{secrets.token_hex(6)}",
            room=room,
            origin=self._recorder.now(),
            started_at=now,
            by=by,
            room_dir=domain.room_directory(room.id, day),
        )
        self._sessions[room.id] = session
        self.errors.pop(room.id, None)
        by_file: dict[FileKey, list[PublishedTrack]] = {}
        for identity, track in self._recorder.published_tracks(room.id):
            by_file.setdefault((identity, file_source(track)), []).append(track)
        for key, tracks in by_file.items():
            await self._open_file(session, key, tracks)
        await self._tell(room.id, "recording.started", session.event())
        log.info("recording started room=%s session=%s by=%s", room.id, session.id, by)

    async def _open_file(
        self, session: _Session, key: FileKey, tracks: list[PublishedTrack]
    ) -> None:
        assert self._recorder is not None
        if not tracks:
            return
        identity, source = key
        container, ext = self._recorder.container_for([t.codec for t in tracks])
        rid = new_recording_id()
        role = next(
            (
                p.role.value
                for p in self._rooms().participants(session.room.id, include_hidden=True)
                if p.identity == identity
            ),
            "unknown",
        )
        rel = f"{session.room_dir}/{domain.file_name(identity, rid, ext)}"
        now = self._clock.now()
        recording = Recording(
            id=rid,
            room_id=session.room.id,
            case_id=session.room.case_id,
            identity=identity,
            role=role,
            path=rel,
            started_at=now,
            session_id=session.id,
            source=source,
            node_id=self.node_id,
        )
        await self.store.add_recording(recording)  # in the index before the first byte
        target = RecordingTarget(
            recording_id=rid,
            room_id=session.room.id,
            identity=identity,
            path=str(self.archive.resolve(rel)),
            container=container,
            tags={
                "title": f"{session.room.name} - {identity}",
                "room_id": session.room.id,
                "case_id": session.room.case_id or "",
                "participant": identity,
                "role": role,
                "source": source,
                "recording_id": rid,
                "session_id": session.id,
                "recording_started": now.isoformat(),
            },
        )
        taken = self._recorder.start(target, tracks, origin=session.origin)
        session.files[key] = recording
        session.tracks[key] = set(taken)

    async def _finish_file(self, session: _Session, key: FileKey) -> None:
        recording = session.files.pop(key)
        session.tracks.pop(key, None)
        await self._finish_recording(session, recording)

    async def _finish_recording(self, session: _Session, recording: Recording) -> None:
        """Close one file and record it (index, manifest, event). Never raises: whatever fails
        is logged and noted on the recording / the room's error."""
        assert self._recorder is not None
        try:
            result = await self._recorder.finish(recording.id)
        except Exception as exc:
            log.exception(
                "closing a file failed recording=%s room=%s", recording.id, recording.room_id
            )
            recording.ended_at = self._clock.now()
            recording.error = f"not closed: {exc!r}"
            recording.status = RecordingStatus.FAILED
        else:
            recording.ended_at = self._clock.now()
            recording.duration_ms, recording.size = result.duration_ms, result.size
            recording.sha256, recording.offset_ms = result.sha256, result.offset_ms
            recording.kinds, recording.codecs = result.kinds, result.codecs
            recording.missing = result.missing
            recording.error = result.error
            if result.missing:
                log.warning(
                    "recording lacks published tracks recording=%s room=%s identity=%s missing=%s",
                    recording.id,
                    recording.room_id,
                    recording.identity,
                    result.missing,
                )
            if recording.error is None and not result.kinds:
                # tracks were published but nothing reached the file (the media never
                # flowed): an empty file is a failed recording, never a "completed" one
                recording.error = NO_MEDIA
                log.warning(
                    "recording got no media recording=%s room=%s identity=%s",
                    recording.id,
                    recording.room_id,
                    recording.identity,
                )
            recording.status = (
                RecordingStatus.FAILED if recording.error else RecordingStatus.COMPLETED
            )
        await self._chain(session.room_dir, recording, "file")
        try:
            await self.store.save_recording(recording)
        except Exception:
            log.exception("index not updated recording=%s room=%s", recording.id, recording.room_id)
            self.errors.setdefault(recording.room_id, f"index not updated for {recording.id}")
        await self._publish("recording.completed", recording.to_dict())

    async def _chain(self, room_dir: str, recording: Recording, event: str) -> None:
        """Append to the room's manifest. Never raises: a failure (unreadable or tampered
        manifest, I/O error) is logged, noted in ``recording.error`` (callers save the
        recording afterwards) and the room's error, and published as
        ``recording.manifest_failed``; the manifest is left as it is."""
        try:
            await asyncio.to_thread(
                self.archive.append, room_dir, recording.room_id, recording, event=event
            )
        except Exception as exc:
            log.exception(
                "manifest not written room=%s recording=%s", recording.room_id, recording.id
            )
            problem = f"manifest not written: {exc}"
            recording.error = f"{recording.error}; {problem}" if recording.error else problem
            # the first cause stays the room's error: a manifest that cannot be written in a
            # folder that cannot be written is not news
            self.errors.setdefault(recording.room_id, problem)
            await self._publish(
                "recording.manifest_failed",
                {
                    "room_id": recording.room_id,
                    "recording_id": recording.id,
                    "event": event,
                    "error": str(exc),
                },
            )

    # RecorderListener (sync, on the loop) -----------------------------------------------------
    def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        self._spawn(room_id, self._track_published(room_id, identity, track))

    def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None:
        pass  # a file ends when all its tracks have (on_tracks_ended)

    def on_tracks_ended(self, recording_id: str) -> None:
        for session in self._sessions.values():
            for key, rec in session.files.items():
                if rec.id == recording_id:
                    self._spawn(session.room.id, self._file_ended(session, key, recording_id))
                    return

    def on_recording_failed(self, recording_id: str, error: str) -> None:
        for room_id, session in self._sessions.items():
            if any(r.id == recording_id for r in session.files.values()):
                self.errors[room_id] = error
                log.error(
                    "recording failed room=%s recording=%s error=%s", room_id, recording_id, error
                )
                self._spawn(
                    room_id,
                    self.stop(room_id, by="server", reason=error, missing_ok=True),
                    locked=False,
                )
                return

    async def _track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        assert self._recorder is not None
        session = self._sessions.get(room_id)
        if session is None:
            if room_id in self._paused or not await self._auto(room_id):
                return
            room = await self._rooms().get_room(room_id)
            await self._start_session(room, by="policy")  # takes every published track
            return
        # a track already in the file is confirmed by add_track; one the file left out (it
        # was not ready when the header was written) is announced again and gets a new file
        key = (identity, file_source(track))
        old = session.files.get(key)
        if old is not None and self._recorder.add_track(old.id, track):
            session.tracks[key].add(track.sid)
            return
        # a new file with all its tracks, opened before the old one is closed (no gap)
        tracks = [
            t
            for who, t in self._recorder.published_tracks(room_id)
            if who == identity and file_source(t) == key[1]
        ]
        try:
            await self._open_file(session, key, tracks)
        finally:
            if old is not None:
                if session.files.get(key) is old:
                    session.files.pop(key)
                    session.tracks.pop(key, None)
                await self._finish_recording(session, old)

    async def _auto(self, room_id: str) -> bool:
        try:
            policy = await self.policy(room_id)
            room = await self._rooms().get_room(room_id)
        except NotFound:
            return False
        return room.status is RoomStatus.OPEN and policy.enabled and policy.consent is not False

    async def _file_ended(self, session: _Session, key: FileKey, recording_id: str) -> None:
        if self._sessions.get(session.room.id) is not session:
            return
        rec = session.files.get(key)
        if rec is not None and rec.id == recording_id:
            await self._finish_file(session, key)

    # room events (EventBus) -------------------------------------------------------------------
    async def on_event(self, event: str, data: dict[str, Any]) -> None:
        room_id = data.get("room_id")
        if not isinstance(room_id, str):
            return
        if event == "participant.joined" and isinstance(data.get("consent"), bool):
            await self._consent(room_id, str(data.get("identity")), bool(data["consent"]))
        if event == "room.ended":
            self._paused.discard(room_id)
            await self.stop(room_id, by="server", reason="room_ended", missing_ok=True)
        elif (
            event == "participant.joined"
            and room_id in self._sessions
            and self._notifier is not None
        ):
            await self._notifier.send(
                room_id,
                str(data.get("identity")),
                "recording.started",
                self._sessions[room_id].event(),
            )

    async def _consent(self, room_id: str, identity: str, consent: bool) -> None:
        """The pre-join answer, kept on the room's recording policy (with its case): one
        refusal stands against later agreements (everyone recorded must agree)."""
        policy = await self.policy(room_id)
        if consent and policy.consent is False:
            return
        await self.set_policy(room_id, consent=consent, by=identity)

    def _rooms(self) -> RoomService:
        if self._room_service is None:
            raise RuntimeError("live rooms are not available to the offline archive tools")
        return self._room_service

    async def _tell(self, room_id: str, event: str, payload: dict[str, Any]) -> None:
        try:
            if self._notifier is not None:
                await self._notifier.broadcast(room_id, event, payload)
        except Exception:
            log.exception("telling the room failed room=%s event=%s", room_id, event)
        await self._publish(event, payload)

    async def _publish(self, event: str, payload: dict[str, Any]) -> None:
        if self._events is None:
            return
        try:
            await self._events.publish(event, payload)
        except Exception:
            log.exception("publishing an event failed event=%s", event)

    # lifecycle -------------------------------------------------------------------------------
    def _lock(self, room_id: str) -> asyncio.Lock:
        return self._locks.setdefault(room_id, asyncio.Lock())

    def _spawn(self, room_id: str, coro: Awaitable[object], *, locked: bool = True) -> None:
        async def run() -> None:
            try:
                if locked:
                    async with self._lock(room_id):
                        await coro
                else:
                    await coro
            except Exception:
                log.exception("recording task failed room=%s", room_id)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Finish every open file (the server is stopping)."""
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
        for room_id in list(self._sessions):
            await self.stop(room_id, by="server", reason="server_stopped", missing_ok=True)
        if self._recorder is not None:
            await self._recorder.close()
        self.release_server_lock()

    def hold_server_lock(self) -> None:
        """Take ``{recordings root}/.server.lock`` (flock, exclusive, held until :meth:`close`):
        one server per archive, and no ``archive recover`` salvaging live files under it.
        Raises :class:`ArchiveBusy` if another process holds it."""
        if self._server_lock is not None:
            return
        root: Path = self.archive.root
        root.mkdir(parents=True, exist_ok=True)
        path = root / SERVER_LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ArchiveBusy(
                f"another vidconsult server is running on the archive {root} (it holds "
                f"{path}); stop it first: recovering now would cut its open files",
                code="archive_busy",
            ) from None
        self._server_lock = fd

    def release_server_lock(self) -> None:
        if self._server_lock is not None:
            with contextlib.suppress(OSError):
                os.close(self._server_lock)
            self._server_lock = None

    # archive ---------------------------------------------------------------------------------
    async def recover(self) -> list[Recording]:
        """At start: files still marked "recording" were cut off by a crash; close each (remux
        its readable prefix), measure it, mark it ``interrupted`` and chain it. Takes the
        server lock first (:meth:`hold_server_lock`; :class:`ArchiveBusy` if another server
        has it). A file that cannot be salvaged (e.g. disk full) is marked interrupted with
        the error, as it is; nothing here stops the server from starting.

        Several nodes share the index: only this node's files (and those of no node, written
        before nodes had ids) are its to close; other nodes' live recordings are left alone.
        Its files another node marked interrupted while this node was down
        (:meth:`node_down`) are closed and hashed now, on the disk that holds them."""
        self.hold_server_lock()
        found = [
            rec
            for node in dict.fromkeys((self.node_id, ""))
            for rec in await self.store.list_recordings(
                status=RecordingStatus.RECORDING.value, limit=100_000, node_id=node
            )
        ]
        if self.node_id:
            found += [
                rec
                for rec in await self.store.list_recordings(
                    status=RecordingStatus.INTERRUPTED.value, limit=100_000, node_id=self.node_id
                )
                if (rec.error or "").startswith(NODE_LOST)
            ]
        firsts: dict[tuple[str, str], datetime] = {}  # (room, session) -> its first file start
        for rec in found:
            try:
                await self._recover_one(rec, firsts)
            except Exception:
                log.exception(
                    "recovering a recording failed recording=%s room=%s", rec.id, rec.room_id
                )
        return found

    async def node_down(self, node_id: str) -> list[Recording]:
        """Another node died (the live state announced it): its files still marked
        "recording" are marked interrupted now, so nobody waits on them. Their bytes are on
        that node's disk: it closes, hashes and chains them when it starts again
        (:meth:`recover`), and they stay verifiable. Idempotent (every node hears the news)."""
        if not node_id or node_id == self.node_id:
            return []
        found = await self.store.list_recordings(
            status=RecordingStatus.RECORDING.value, limit=100_000, node_id=node_id
        )
        now = self._clock.now()
        for rec in found:
            rec.status = RecordingStatus.INTERRUPTED
            rec.error = f"{NODE_LOST} ({node_id})"
            rec.ended_at = max(now, rec.started_at)
            await self.store.save_recording(rec)
            log.warning(
                "recording of a dead node marked interrupted recording=%s room=%s node=%s",
                rec.id,
                rec.room_id,
                node_id,
            )
        return found

    async def _recover_one(self, rec: Recording, firsts: dict[tuple[str, str], datetime]) -> None:
        path = self.archive.resolve(rec.path)
        problem = None
        if path.exists() and self._salvage is not None:
            try:
                salvaged = await asyncio.to_thread(self._salvage, str(path))
            except Exception as exc:
                log.exception("salvage failed recording=%s path=%s", rec.id, path)
                problem = f"not salvaged: {exc!r}"
            else:
                rec.duration_ms = salvaged.duration_ms
                rec.kinds, rec.codecs = salvaged.kinds, salvaged.codecs
        if path.exists():
            try:
                rec.size, rec.sha256 = await asyncio.to_thread(file_digest, path)
            except OSError as exc:
                log.exception("hashing failed recording=%s path=%s", rec.id, path)
                problem = problem or f"not hashed: {exc!r}"
        if rec.offset_ms == 0 and rec.session_id:
            rec.offset_ms = await self._estimated_offset(rec, firsts)
        rec.status = RecordingStatus.INTERRUPTED
        if (rec.error or "").startswith(NODE_LOST):
            rec.error = None  # this node has its file now
        rec.error = rec.error or "server stopped while recording"
        if problem:
            rec.error = f"{rec.error}; {problem}"
        rec.ended_at = rec.started_at + timedelta(milliseconds=rec.duration_ms)
        await self._chain(rec.path.rsplit("/", 1)[0], rec, "file")
        await self.store.save_recording(rec)
        log.warning(
            "interrupted recording closed recording=%s room=%s duration_ms=%s",
            rec.id,
            rec.room_id,
            rec.duration_ms,
        )

    async def _estimated_offset(
        self, rec: Recording, firsts: dict[tuple[str, str], datetime]
    ) -> int:
        """The recorder never reported this file's offset (it is set when a file finishes):
        estimate it as its start minus the start of its session's first file."""
        key = (rec.room_id, rec.session_id)
        if key not in firsts:
            rows = await self.store.list_recordings(room_id=rec.room_id, limit=100_000)
            starts = [r.started_at for r in rows if r.session_id == rec.session_id]
            firsts[key] = min(starts, default=rec.started_at)
        return max(0, int((rec.started_at - firsts[key]).total_seconds() * 1000))

    async def purge(self, *, dry_run: bool = False) -> list[Recording]:
        """Retention: delete files older than ``retention_days`` unless on legal hold. Each
        row and the held cases are read again just before its file is deleted (a hold set
        meanwhile wins), and again before the row is saved (so a hold set during the
        deletion is not overwritten)."""
        now = self._clock.now()
        held = await self.store.held_cases()
        doomed = [
            r
            for r in await self.store.list_recordings(limit=1_000_000)
            if domain.expired(
                r, now=now, retention_days=self.config.retention_days, held_cases=held
            )
        ]
        if dry_run:
            return doomed
        deleted: list[Recording] = []
        for candidate in doomed:
            rec = await self.store.get_recording(candidate.id)
            if rec is None or not domain.expired(
                rec,
                now=self._clock.now(),
                retention_days=self.config.retention_days,
                held_cases=await self.store.held_cases(),
            ):
                log.info("retention skipped (changed meanwhile) recording=%s", candidate.id)
                continue
            await asyncio.to_thread(self.archive.delete, rec.path)
            rec = await self.store.get_recording(rec.id) or rec
            rec.status = RecordingStatus.DELETED
            await self._chain(rec.path.rsplit("/", 1)[0], rec, "deleted")
            await self.store.save_recording(rec)
            deleted.append(rec)
            log.info(
                "recording deleted by retention recording=%s room=%s case=%s",
                rec.id,
                rec.room_id,
                rec.case_id,
            )
        return deleted

    async def set_hold(
        self, *, by: str, held: bool, case_id: str | None = None, recording_id: str | None = None
    ) -> None:
        if case_id is not None:
            await self.store.set_case_hold(case_id, held, by, self._clock.now())
        if recording_id is not None:
            rec = await self.get(recording_id)
            rec.legal_hold = held
            await self.store.save_recording(rec)

    async def case_held(self, case_id: str) -> bool:
        return case_id in await self.store.held_cases()

    async def get(self, recording_id: str) -> Recording:
        rec = None
        if domain.RECORDING_ID.match(recording_id):
            rec = await self.store.get_recording(recording_id)
        if rec is None:
            raise NotFound(f"recording {recording_id} not found", code="recording_not_found")
        return rec
