"""A node declared down while it exports may not be dead (a stalled process, a cut link to the
live state): another node marks its job failed (``export_interrupted``) and the coordinator is
told to start it again, yet the job goes on and finishes. Its "done" must not overwrite the
"failed", the node must not answer "running" meanwhile, its finished file is deleted (never
served, nothing else would delete it), and the export can be started again at once. Two
ExportService instances (node-a, node-b) on one store, SQLite and PostgreSQL; the composite is
the seam held mid-way (as ``serve_proc --hold-exports`` holds it), then let go."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes import FakeClock
from tests.recording.finished import add_finished_recording
from tests.store.record_backends import Backend, backend_fixture
from vidconsult.services.exports import ExportService
from vidconsult.store.pg.recordings import PgRecordingStore
from vidconsult.store.recording_files import ArchiveFiles
from vidconsult.store.sqlite_recordings import SQLiteRecordingStore

RECORDINGS = {"sqlite": SQLiteRecordingStore, "postgres": PgRecordingStore}
backend = backend_fixture()
ROOM = "rm_000000000001"
WAIT = 30  # a bound, never a synchronisation


class HeldCompose:
    """Writes the start of the composite, reports half its progress, holds until released,
    then completes the file as the real one does (``.part.mp4`` renamed when whole)."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, inputs: Any, out_path: str, progress: Callable[[float], None]) -> float:
        part = Path(out_path).with_suffix(".part.mp4")
        part.write_bytes(b"\x00\x00\x00\x18ftypisom half")
        progress(0.5)
        self.started.release()
        if not self.release.wait(WAIT):
            raise TimeoutError("never released")
        part.rename(out_path)
        return 14.0


async def test_a_job_marked_failed_by_another_node_stays_failed_when_it_finishes(
    backend: Backend, tmp_path: Path
) -> None:
    store = await backend.open(RECORDINGS[backend.kind])
    archive = ArchiveFiles(tmp_path / "recordings", b"k" * 32)
    started = datetime(2026, 12, 5, 9, tzinfo=UTC)
    await add_finished_recording(store, archive, ROOM, started, b"webm")
    compose = HeldCompose()

    def node(name: str) -> ExportService:
        return ExportService(
            store=store,
            recordings=None,
            archive=archive,
            compose=compose,
            clock=FakeClock(),
            node_id=name,
        )

    a, b = node("node-a"), node("node-b")
    job = await a.start(ROOM, by="coordinator")
    assert await asyncio.to_thread(compose.started.acquire, True, WAIT)
    running = await a.get(job["id"])
    assert (running["status"], running["progress"]) == ("running", 0.5), running

    # node-b hears node-a is down (it is not): the job fails at once, under node-a's claim
    assert [j["id"] for j in await b.node_down("node-a")] == [job["id"]]
    for asked in (a, b):  # node-a, still composing, answers with the verdict, not "running"
        seen = await asked.get(job["id"])
        assert seen["status"] == "failed", seen
        assert seen["error_code"] == "export_interrupted", seen
        assert seen["node_id"] == "node-a", seen
    # the coordinator starts it again (here on node-a): not refused as "already running"
    again = await a.start(ROOM, by="coordinator")
    assert await asyncio.to_thread(compose.started.acquire, True, WAIT)

    compose.release.set()  # both composites complete their files
    await a.close()

    late = await store.get_export(job["id"])
    assert late is not None
    assert (late["status"], late["error_code"]) == ("failed", "export_interrupted"), late
    assert late["duration_s"] is None, late
    assert (await a.get(job["id"]))["status"] == "failed"
    out = a.output_path(job)
    assert not out.exists() and not out.with_suffix(".part.mp4").exists()
    # the export started again completes, its file kept
    redone = await a.get(again["id"])
    assert (redone["status"], redone["duration_s"]) == ("done", 14.0), redone
    assert a.output_path(again).is_file()
    # node-b hearing it again later changes nothing
    assert await b.node_down("node-a") == []
    assert (await store.get_export(again["id"]))["status"] == "done"
