"""Edge cases of the recording service and the archive files: a failing finish, manifest
tampering and races, recovery that must not stop the server, the server lock, late joiners'
offsets after a crash, retention vs a hold set meanwhile, rotation without a gap."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from media.recording.recorder import TapRecorder
from tests.recording.archive_cli import archive_recover
from tests.recording.fakes import FakeEngine, FakeNotifier, FakeRooms, MemoryRecordingStore
from vidconsult.domain import recordings as domain
from vidconsult.domain.recordings import Recording, RecordingStatus
from vidconsult.domain.rooms import Room, TrackSource
from vidconsult.ports import PublishedTrack, SystemClock
from vidconsult.services.recordings import ArchiveBusy, RecordingConfig, RecordingService
from vidconsult.store.recording_files import ArchiveFiles, ManifestError, verify

ROOT_DIR = Path(__file__).resolve().parents[2]
KEY = b"k" * 32
T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


class FailingEvents:
    async def publish(self, event: str, payload: Any) -> None:
        raise RuntimeError("event bus down")


def make(
    root: Path, *, salvage: Any = None, events: Any = None, retention_days: int = 0
) -> tuple[RecordingService, FakeEngine, TapRecorder]:
    room = Room(id="room1", name="R", created_at=datetime.now(UTC))
    engine = FakeEngine()
    recorder = TapRecorder(engine, header_timeout=0.3)
    svc = RecordingService(
        store=MemoryRecordingStore(),
        archive=ArchiveFiles(root, KEY),
        recorder=recorder,
        rooms=FakeRooms(room),
        notifier=FakeNotifier(),
        clock=SystemClock(),
        salvage=salvage,
        events=events,
        config=RecordingConfig(retention_days=retention_days),
    )
    return svc, engine, recorder


def row(
    i: int,
    who: str,
    *,
    started: datetime = T0,
    session: str = "rs_1",
    status: RecordingStatus = RecordingStatus.RECORDING,
    case: str | None = None,
    rd: str = "2026/01/01/room1",
) -> Recording:
    rid = f"rec_{i:012d}"
    return Recording(
        id=rid,
        room_id="room1",
        case_id=case,
        identity=who,
        role="doctor",
        path=f"{rd}/{who}-{rid}.webm",
        started_at=started,
        status=status,
        session_id=session,
    )


# finding 2: stop() must finish every file whatever fails -------------------------------------
@pytest.mark.parametrize("damage", ["torn", "no_hash"])
async def test_stop_finishes_every_file_when_the_manifest_is_damaged(
    tmp_path: Path, damage: str
) -> None:
    svc, engine, recorder = make(tmp_path, events=FailingEvents())
    engine.tracks["room1"] = [
        ("alice", PublishedTrack("TA", "audio", "audio/opus")),
        ("bob", PublishedTrack("TB", "audio", "audio/opus")),
    ]
    await svc.start("room1", by="coord")
    manifest = tmp_path / svc._sessions["room1"].room_dir / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    if damage == "torn":
        manifest.write_text('{"entries": [')
    else:
        manifest.write_text(json.dumps({"entries": [{"event": "file", "file": "x"}]}))
    before = manifest.read_bytes()

    await svc.stop("room1", by="coord")  # must not raise

    assert "room1" not in svc._sessions
    assert recorder._open == {}
    assert engine.taps == {}
    statuses = {r.identity: r.status for r in svc.store.recs.values()}  # type: ignore[attr-defined]
    assert statuses == {"alice": RecordingStatus.FAILED, "bob": RecordingStatus.FAILED}
    assert all("manifest not written" in (r.error or "") for r in svc.store.recs.values())  # type: ignore[attr-defined]
    assert "recording.stopped" in svc._notifier.sent  # type: ignore[attr-defined]
    assert "manifest not written" in (svc.errors.get("room1") or "")
    assert manifest.read_bytes() == before  # never rewritten
    await svc.close()


# finding 4a: a tampered manifest is never re-signed ------------------------------------------
def test_append_refuses_a_tampered_manifest(tmp_path: Path) -> None:
    archive = ArchiveFiles(tmp_path, KEY)
    rd = "2026/01/01/room1"
    (tmp_path / rd).mkdir(parents=True)

    def rec(i: int, data: bytes) -> Recording:
        r = row(i, "p", status=RecordingStatus.COMPLETED)
        (tmp_path / r.path).write_bytes(data)
        r.size, r.sha256 = len(data), hashlib.sha256(data).hexdigest()
        return r

    archive.append(rd, "room1", rec(1, b"original consultation"), event="file")
    first = rec(1, b"forged")  # the file replaced, its entry rewritten with a fresh hash
    doc = json.loads((tmp_path / rd / "manifest.json").read_text())
    entry = doc["entries"][0]
    entry.update(sha256=first.sha256, size=first.size)
    entry.pop("hash")
    entry["hash"] = hashlib.sha256(domain._canonical(entry)).hexdigest()
    (tmp_path / rd / "manifest.json").write_text(json.dumps(doc))
    tampered = (tmp_path / rd / "manifest.json").read_bytes()

    with pytest.raises(ManifestError, match="signature"):
        archive.append(rd, "room1", rec(2, b"next file"), event="file")
    assert (tmp_path / rd / "manifest.json").read_bytes() == tampered
    problems = [str(p) for p in verify(archive, KEY)[1]]
    assert any("signature does not match" in p for p in problems)


# finding 4b: appends are serialised across threads and processes -----------------------------
def _append_many(root: Path, tag: str, n: int) -> None:
    archive = ArchiveFiles(root, KEY)
    for i in range(n):
        r = row(0, tag, status=RecordingStatus.DELETED)
        r.id = f"rec_{tag}{i:011d}"
        archive.append("2026/01/01/room1", "room1", r, event="deleted")


def test_concurrent_appends_in_threads_keep_every_entry(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def worker(tag: str) -> None:
        try:
            _append_many(tmp_path, tag, 60)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    doc = json.loads((tmp_path / "2026/01/01/room1/manifest.json").read_text())
    assert len(doc["entries"]) == 120
    assert domain.check_manifest(KEY, doc) == []


def test_concurrent_appends_in_processes_keep_every_entry(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from tests.recording.test_service_edges import _append_many; "
        "_append_many(Path(sys.argv[1]), sys.argv[2], 40)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), tag], cwd=ROOT_DIR)
        for tag in "cd"
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    doc = json.loads((tmp_path / "2026/01/01/room1/manifest.json").read_text())
    assert len(doc["entries"]) == 80
    assert domain.check_manifest(KEY, doc) == []


# finding 6: recover() never fails the server's start -----------------------------------------
async def test_recover_goes_on_when_a_salvage_fails(tmp_path: Path) -> None:
    def salvage(path: str) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    svc, _, _ = make(tmp_path, salvage=salvage)
    for r in (row(1, "alice"), row(2, "bob")):
        (tmp_path / r.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / r.path).write_bytes(b"prefix")
        await svc.store.add_recording(r)

    found = await svc.recover()

    assert len(found) == 2
    recs = svc.store.recs  # type: ignore[attr-defined]
    assert {r.status for r in recs.values()} == {RecordingStatus.INTERRUPTED}
    assert all("not salvaged" in (r.error or "") for r in recs.values())
    assert all(r.sha256 == hashlib.sha256(b"prefix").hexdigest() for r in recs.values())
    assert verify(svc.archive, KEY)[1] == []
    await svc.close()


# finding 7: one server per archive; no `archive recover` under a running server -------------
async def test_server_lock_refuses_a_second_recover(tmp_path: Path) -> None:
    data = tmp_path / "var"
    root = data / "recordings"
    first, _, _ = make(root)
    await first.recover()  # a running server holds the lock

    second, _, _ = make(root)
    with pytest.raises(ArchiveBusy, match="another vidconsult server"):
        await second.recover()

    cli = await asyncio.to_thread(archive_recover, data, 60)
    assert cli.returncode == 2, cli.stderr
    assert "another vidconsult server is running" in cli.stderr

    await first.close()  # released
    await second.recover()
    await second.close()


# finding 11: a late joiner's offset after a crash -------------------------------------------
async def test_recover_estimates_the_offset_of_a_late_joiner(tmp_path: Path) -> None:
    svc, _, _ = make(tmp_path)
    early = row(1, "alice", started=T0, status=RecordingStatus.COMPLETED)
    late = row(2, "bob", started=T0 + timedelta(seconds=7, milliseconds=250))
    first_alone = row(3, "carol", started=T0 + timedelta(hours=1), session="rs_2")
    for r in (early, late, first_alone):
        await svc.store.add_recording(r)

    await svc.recover()

    recs = svc.store.recs  # type: ignore[attr-defined]
    assert recs[late.id].offset_ms == 7250
    assert recs[first_alone.id].offset_ms == 0
    await svc.close()


# finding 12: retention re-reads holds before each deletion -----------------------------------
async def test_purge_spares_a_recording_held_meanwhile(tmp_path: Path) -> None:
    svc, _, _ = make(tmp_path, retention_days=30)
    old = T0 - timedelta(days=400)
    recs = [
        row(i, who, started=old, status=RecordingStatus.COMPLETED, case=case)
        for i, who, case in ((1, "alice", None), (2, "bob", None), (3, "carol", "case9"))
    ]
    for r in recs:
        r.ended_at = old
        (tmp_path / r.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / r.path).write_bytes(r.identity.encode())
        await svc.store.add_recording(r)
    store: MemoryRecordingStore = svc.store  # type: ignore[assignment]
    real_delete = svc.archive.delete

    def delete(relative: str) -> None:  # holds set while the first file is being deleted
        real_delete(relative)
        store.recs[recs[1].id].legal_hold = True
        store.held.add("case9")

    svc.archive.delete = delete  # type: ignore[method-assign]

    deleted = await svc.purge()

    assert [r.id for r in deleted] == [recs[0].id]
    assert store.recs[recs[1].id].status is RecordingStatus.COMPLETED
    assert store.recs[recs[1].id].legal_hold is True
    assert (tmp_path / recs[1].path).exists() and (tmp_path / recs[2].path).exists()
    assert store.recs[recs[0].id].status is RecordingStatus.DELETED


# finding 17: rotation opens the new file before closing the old one --------------------------
async def test_rotation_opens_the_new_file_before_finishing_the_old(tmp_path: Path) -> None:
    svc, engine, recorder = make(tmp_path)
    engine.tracks["room1"] = [("alice", PublishedTrack("TA", "audio", "audio/opus"))]
    await svc.start("room1", by="coord")
    order: list[str] = []
    real_start, real_finish = recorder.start, recorder.finish

    def start(target: Any, tracks: Any, **kw: Any) -> Any:
        order.append("start")
        return real_start(target, tracks, **kw)

    async def finish(recording_id: str) -> Any:
        order.append("finish")
        return await real_finish(recording_id)

    recorder.start = start  # type: ignore[method-assign]
    recorder.finish = finish  # type: ignore[method-assign]
    old_id = svc._sessions["room1"].files[("alice", "camera")].id
    real_add = recorder.add_track
    recorder.add_track = lambda rid, t: rid != old_id and real_add(rid, t)  # type: ignore
    video = PublishedTrack("TV", "video", "video/vp8")
    engine.tracks["room1"].append(("alice", video))

    await svc._track_published("room1", "alice", video)

    assert order == ["start", "finish"]
    session = svc._sessions["room1"]
    assert session.files[("alice", "camera")].id != old_id
    assert session.tracks[("alice", "camera")] == {"TA", "TV"}
    assert old_id not in recorder._open
    await svc.stop("room1", by="coord")
    await svc.close()


# issue 10: a shared screen is recorded as a file of its own, listed as such -----------------
async def test_a_shared_screen_is_a_file_of_its_own_in_the_index(tmp_path: Path) -> None:
    svc, engine, recorder = make(tmp_path)
    camera = PublishedTrack("TV", "video", "video/vp8")
    engine.tracks["room1"] = [
        ("alice", PublishedTrack("TA", "audio", "audio/opus")),
        ("alice", camera),
    ]
    await svc.start("room1", by="coord")
    camera_file = svc._sessions["room1"].files[("alice", "camera")].id
    screen = PublishedTrack("TS", "video", "video/vp8", source=TrackSource.SCREEN)
    engine.tracks["room1"].append(("alice", screen))

    await svc._track_published("room1", "alice", screen)

    session = svc._sessions["room1"]
    # the camera's file goes on untouched; the screen gets a file with only its own track
    assert session.files[("alice", "camera")].id == camera_file
    assert session.tracks[("alice", "camera")] == {"TA", "TV"}
    assert session.tracks[("alice", "screen")] == {"TS"}
    listed = {r["source"]: r for r in svc.status("room1")["files"]}
    assert set(listed) == {"camera", "screen"}
    assert listed["screen"]["identity"] == "alice"
    stored = svc.store.recs[session.files[("alice", "screen")].id]  # type: ignore[attr-defined]
    assert stored.source == "screen"
    await svc.stop("room1", by="coord")
    await svc.close()


def test_no_stray_lock_holders(tmp_path: Path) -> None:
    """The manifest lock is a plain file in the room directory; verify ignores it."""
    archive = ArchiveFiles(tmp_path, KEY)
    archive.append(
        "2026/01/01/room1", "room1", row(1, "p", status=RecordingStatus.DELETED), event="deleted"
    )
    names = sorted(os.listdir(tmp_path / "2026/01/01/room1"))
    assert names == [".manifest.lock", "manifest.json"]
    assert verify(archive, KEY)[1] == []


def test_serve_refuses_an_archive_another_server_holds(tmp_path: Path, capsys) -> None:
    """A second server on the same data dir would salvage the first one's open files at
    start: `vidconsult serve` says why and exits 2 instead."""
    import fcntl
    import os

    from vidconsult import cli

    root = tmp_path / "recordings"
    root.mkdir()
    fd = os.open(root / ".server.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "the other server"
        code = cli.main(
            ["serve", "--data-dir", str(tmp_path), "--port", "0", "--host", "127.0.0.1"]
        )
    finally:
        os.close(fd)
    assert code == 2
    assert "another vidconsult server is running" in capsys.readouterr().err
