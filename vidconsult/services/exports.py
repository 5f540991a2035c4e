"""Composite export jobs: a room's participant files made into one MP4 for a referral hospital,
off the event loop, with progress (in memory while running, stored when done). A failed job
carries ``error_code`` (vidconsult.domain.recording_failures.ExportFailure: what the
coordinator reads, in their language) beside ``error`` (the diagnostic, for operators).

A job names the node that runs it (``node_id``). One the server was running when it stopped
(crash, kill, restart) is marked failed with ``export_interrupted`` when that node starts again
(:meth:`ExportService.recover`), or at once by another node that saw it die
(:meth:`ExportService.node_down`), so nobody waits on it and the coordinator starts it again.
The composite is written to ``{id}.part.mp4`` and renamed to ``{id}.mp4`` only when whole; an
interrupted job's files are deleted at that node's start, and only a ``done`` job's file is
ever served.

A node declared down may not be dead (a stalled process, a cut link to Redis): its job, marked
failed by another node, can still finish. Every outcome is written only if the job is still
``running`` under the writer's node (:meth:`RecordingStore.finish_export`, one atomic step), so
the first verdict stands: a late "done" never overwrites ``export_interrupted`` (the
coordinator was told to start it again, and may have), and a late "interrupted" never
overwrites "done". The finished file of a job that was failed meanwhile is deleted at once: it
would never be served, nothing else would delete it (the node's restart deletes only files of
jobs still ``running``), and it is a copy of patients' consultations. While it runs, the node
answers for the job with what the store says once that is no longer ``running``."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidconsult.domain.recording_failures import ExportFailure, export_failure
from vidconsult.domain.recordings import RecordingStatus
from vidconsult.errors import Conflict, NotFound
from vidconsult.ports import Clock, CompositeInput
from vidconsult.store.base_recordings import RecordingStore
from vidconsult.store.recording_files import ArchiveFiles

log = logging.getLogger(__name__)
# (inputs, out_path, progress) -> seconds of output: media/recording/composite.export_composite
Compose = Callable[..., float]
EXPORTABLE = (RecordingStatus.COMPLETED, RecordingStatus.INTERRUPTED, RecordingStatus.FAILED)


#: the longest pause between two recording sessions kept in a composite; a longer one (the
#: recording was stopped for a while) is cut to this, so the export holds what was recorded
SESSION_GAP = 1.0


def composite_inputs(recordings: list[Any], archive: ArchiveFiles) -> list[Any]:
    """The files to compose, each placed on one timeline. Within a room recording (session)
    offsets share one clock; sessions are placed by their wall-clock start (the earliest file
    opened in each), with a pause between sessions cut to ``SESSION_GAP``."""
    usable = [r for r in recordings if r.status in EXPORTABLE and r.duration_ms > 0]
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for r in usable:
        t = r.started_at.timestamp()
        starts[r.session_id] = min(starts.get(r.session_id, t), t)
    for r in usable:
        end = starts[r.session_id] + r.offset_ms / 1000 + r.duration_ms / 1000
        ends[r.session_id] = max(ends.get(r.session_id, end), end)
    placed: dict[str, float] = {}
    cut = 0.0
    reached: float | None = None  # the end of what is placed so far, wall clock
    first = min(starts.values(), default=0.0)
    for session in sorted(starts, key=starts.__getitem__):
        if reached is not None and starts[session] - reached > SESSION_GAP:
            cut += starts[session] - reached - SESSION_GAP
        placed[session] = starts[session] - first - cut
        reached = ends[session] if reached is None else max(reached, ends[session])
    out = []
    for r in usable:
        out.append(
            CompositeInput(
                str(archive.resolve(r.path)),
                offset=placed[r.session_id] + r.offset_ms / 1000,
                duration=r.duration_ms / 1000,
                label=f"{r.identity} ({r.role})",
            )
        )
    return out


def _missing(paths: list[str]) -> list[str]:
    return [p for p in paths if not Path(p).is_file()]


class _Failed(Exception):
    def __init__(self, code: ExportFailure, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


class ExportService:
    def __init__(
        self,
        *,
        store: RecordingStore,
        recordings: Any,
        archive: ArchiveFiles,
        compose: Compose,
        clock: Clock,
        node_id: str = "",
    ) -> None:
        self.node_id = node_id
        self._store = store
        self._recordings = recordings
        self._archive = archive
        self._compose = compose
        self._clock = clock
        self._live: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def output_path(self, job: dict[str, Any]) -> Path:
        return self._archive.root / "exports" / job["room_id"] / f"{job['id']}.mp4"

    async def recover(self) -> list[dict[str, Any]]:
        """At start (after the recordings service took the archive's server lock): the jobs
        this node (or no node, before jobs named theirs) left running are marked failed,
        ``export_interrupted``; every half-written composite (``*.part.mp4``) under the
        archive's exports is deleted (no server writes to it now), and so is an interrupted
        job's own file (it stopped before the job was marked done: never served)."""
        found, _ = await self.recover_files()
        return found

    async def recover_files(self) -> tuple[list[dict[str, Any]], list[str]]:
        """:meth:`recover`, and the files it deleted (archive-relative paths): what
        ``vidconsult archive recover`` reports. Idempotent: a second run finds nothing."""
        found = [
            job
            for node in dict.fromkeys((self.node_id, ""))
            for job in await self._store.list_exports(status="running", node_id=node)
            if job["id"] not in self._live
        ]
        for job in found:
            await self._interrupt(job, "server stopped while exporting")
        doomed = [self.output_path(job) for job in found]
        removed = await asyncio.to_thread(self._remove_partial, doomed)
        if removed:
            log.warning("half-written exports deleted files=%s", removed)
        return found, removed

    async def node_down(self, node_id: str) -> list[dict[str, Any]]:
        """Another node died: the exports it was running are marked failed now (its files
        are on its disk; it deletes them when it starts again). Idempotent."""
        if not node_id or node_id == self.node_id:
            return []
        found = await self._store.list_exports(status="running", node_id=node_id)
        for job in found:
            await self._interrupt(job, f"its node stopped while exporting ({node_id})")
        return found

    async def _interrupt(self, job: dict[str, Any], error: str) -> None:
        claim = str(job.get("node_id") or "")
        job.update(status="failed", error=error, error_code=ExportFailure.INTERRUPTED.value)
        if not await self._store.finish_export(job, node_id=claim):
            return  # it finished (or was marked) meanwhile: that stands
        log.warning(
            "interrupted export marked failed job=%s room=%s node=%s",
            job["id"],
            job["room_id"],
            job.get("node_id", ""),
        )

    def _remove_partial(self, outputs: list[Path]) -> list[str]:
        exports = self._archive.root / "exports"
        return self._remove(
            [*exports.glob("*/*.part.mp4"), *outputs] if exports.is_dir() else outputs
        )

    def _remove(self, doomed: list[Path]) -> list[str]:
        removed = []
        for path in doomed:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError:
                log.exception("a half-written export could not be deleted path=%s", path)
                continue
            removed.append(self._in_archive(str(path)))
        return removed

    async def start(self, room_id: str, *, by: str) -> dict[str, Any]:
        recs = await self._store.list_recordings(room_id=room_id, limit=10_000)
        if not [r for r in recs if r.status in EXPORTABLE]:
            raise Conflict(f"room {room_id} has no finished recordings", code="no_recordings")
        for live in [j for j in self._live.values() if j["room_id"] == room_id]:
            stored = await self._store.get_export(live["id"])
            # one marked failed while it runs here (this node declared down) does not count:
            # the coordinator was told to start it again; its own result will be dropped
            if live["status"] == "running" and (stored is None or stored["status"] == "running"):
                raise Conflict("an export of this room is already running", code="export_running")
        job_id = f"exp_{secrets.token_hex(6)}"
        job: dict[str, Any] = {
            "id": job_id,
            "room_id": room_id,
            "status": "running",
            "progress": 0.0,
            "created_by": by,
            "created_at": self._clock.now().isoformat(),
            "node_id": self.node_id,
            "files": [r.id for r in recs if r.status in EXPORTABLE],
            "error": None,
            "error_code": None,
            "duration_s": None,
            "speed": None,
        }
        self._live[job_id] = job
        await self._store.save_export(job)
        task = asyncio.get_running_loop().create_task(self._run(job, recs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return dict(job)

    async def _run(self, job: dict[str, Any], recs: list[Any]) -> None:
        out = self.output_path(job)
        inputs = composite_inputs(recs, self._archive)

        def progress(fraction: float) -> None:
            job["progress"] = round(fraction, 3)

        began = time.perf_counter()
        try:
            missing = await asyncio.to_thread(_missing, [i.path for i in inputs])
            if missing:  # moved, deleted, or a disk not mounted: say so before composing
                named = ", ".join(self._in_archive(p) for p in missing)
                raise _Failed(
                    ExportFailure.SOURCE_MISSING,
                    f"{len(missing)} of {len(inputs)} source files missing from the archive: "
                    f"{named}",
                )
            if not inputs:
                raise _Failed(ExportFailure.NOTHING_USABLE, "no file holds sound or picture")
            out.parent.mkdir(parents=True, exist_ok=True)
            seconds = await asyncio.to_thread(self._compose, inputs, str(out), progress)
            elapsed = time.perf_counter() - began
            job.update(
                status="done",
                progress=1.0,
                duration_s=round(seconds, 2),
                speed=round(seconds / elapsed, 2) if elapsed > 0 else None,
            )
        except _Failed as exc:
            log.error(
                "export failed job=%s room=%s code=%s error=%s",
                job["id"],
                job["room_id"],
                exc.code.value,
                exc.detail,
            )
            job.update(status="failed", error=exc.detail, error_code=exc.code.value)
        except Exception as exc:
            code = export_failure(exc)
            log.exception(
                "export failed job=%s room=%s code=%s", job["id"], job["room_id"], code.value
            )
            job.update(status="failed", error=f"{type(exc).__name__}: {exc}", error_code=code.value)
        if not await self._store.finish_export(job, node_id=self.node_id):
            await self._disowned(job, out)
        self._live.pop(job["id"], None)

    async def _disowned(self, job: dict[str, Any], out: Path) -> None:
        """The job ended here after it was marked failed (this node was declared down while
        it ran): the stored verdict stands and the finished file is deleted."""
        removed = await asyncio.to_thread(self._remove, [out, out.with_suffix(".part.mp4")])
        log.warning(
            "export finished after it was marked failed, result dropped job=%s room=%s "
            "outcome=%s removed=%s",
            job["id"],
            job["room_id"],
            job["status"],
            removed,
        )

    def _in_archive(self, path: str) -> str:
        """A file's path as the archive names it (no server directory in what a page shows)."""
        try:
            return str(Path(path).relative_to(self._archive.root))
        except ValueError:
            return Path(path).name

    async def get(self, job_id: str) -> dict[str, Any]:
        job = await self._store.get_export(job_id)
        if job_id in self._live and (job is None or job.get("status") == "running"):
            return dict(self._live[job_id])  # its progress is in memory while it runs
        if job is None:
            raise NotFound(f"export {job_id} not found")
        if job.get("status") == "failed" and not job.get("error_code"):
            job["error_code"] = ExportFailure.OTHER.value  # a job failed before codes
        job.setdefault("error_code", None)
        job.setdefault("node_id", "")
        return job

    async def close(self) -> None:
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
