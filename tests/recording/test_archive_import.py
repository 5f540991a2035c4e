"""``vidconsult archive import``: an external recorder's archive (recorded once per module, for
real: the server, two SDK publishers, the external recorder signing with its own secret) brought
into a server's archive and index: checked with the recorder's key, re-signed with the server's,
idempotent, and refusing tampered files and foreign manifests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import SECRET, ServerHandle, served
from vidconsult import areas
from vidconsult.archive_import import (
    IMPORTED,
    REFUSED,
    SKIPPED,
    ImportReport,
    import_archive,
    source_archive,
    source_key,
)
from vidconsult.cli import main as cli_main
from vidconsult.config import Settings
from vidconsult.domain import recordings as domain
from vidconsult.domain.recordings import RecordingStatus
from vidconsult.store.recording_files import ArchiveFiles, verify
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_recordings import SQLiteRecordingStore
from web import recordings_api

RECORDER_SECRET = "recorder-own-secret-" + "r" * 40  # not the server's


@dataclass(frozen=True)
class Source:
    dir: Path  # the recorder's --data-dir
    room_id: str
    case_id: str


async def _record(base: Path, media: dict[str, Path]) -> Source:
    """A real external recording: the server (its own recording off for the room), two
    publishers, the recorder writing into ``base/recorder`` signed with its secret.key."""
    from vidconsult.client import RoomClient
    from vidconsult.external_recorder import ExternalRecorder, archive_for

    settings = Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=base / "origin",
        secret=SECRET,
        media_mode="passthrough",
    )
    rec_dir = base / "recorder"
    rec_dir.mkdir()
    (rec_dir / "secret.key").write_text(RECORDER_SECRET)
    async with served(settings, installers=[areas.install_recordings]) as srv:
        room = await srv.create_room("Cardiology consult", case_id="case-9")
        rid = room["id"]
        status, _ = await srv.api(
            "PUT", f"/api/v1/rooms/{rid}/recording/policy", {"enabled": False}
        )
        assert status == 200
        archive = archive_for(rec_dir, RECORDER_SECRET)  # what `vidconsult record` builds
        recorder = ExternalRecorder(srv.url, srv.mint("rec-1", "recorder", room=rid), archive)
        a = RoomClient(srv.url, srv.mint("dr-li", "doctor", room=rid))
        b = RoomClient(srv.url, srv.mint("pt-wang", "patient", room=rid))
        run = None
        try:
            await a.connect()
            await b.connect()
            run = asyncio.create_task(recorder.run())
            for _ in range(200):
                if recorder.client.identity or run.done():
                    break
                await asyncio.sleep(0.05)
            assert recorder.client.identity == "rec-1" and not run.done()
            await a.publish_file(str(media["a"]), loop=False)
            await b.publish_file(str(media["b"]), loop=False)
            await recorder.client.wait_until(lambda: len(recorder.client.remote_tracks) == 4)
            await asyncio.sleep(3)
            recorder.stop()
            await asyncio.wait_for(run, 20)
        finally:
            if run is not None and not run.done():
                run.cancel()
            await a.close()
            await b.close()
    assert {r.identity for r in recorder.finished} == {"dr-li", "pt-wang"}
    assert all(r.error is None for r in recorder.finished)
    return Source(rec_dir, rid, "case-9")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, media_files: dict[str, Path]) -> Source:
    """Recorded once for the module, on a loop of its own (a thread: no test loop runs)."""
    base = tmp_path_factory.mktemp("external")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _record(base, media_files)).result(timeout=120)


def _copy(source: Source, to: Path) -> Path:
    shutil.copytree(source.dir, to)
    return to


def _media(root: Path) -> list[Path]:
    return sorted(p for p in (root / "recordings").rglob("*") if p.suffix in (".webm", ".mkv"))


@pytest.fixture
async def server_store(tmp_path: Path) -> AsyncIterator[tuple[ArchiveFiles, SQLiteRecordingStore]]:
    """A server's archive and index (nothing running), data dir ``tmp_path/server``."""
    db = SQLiteDatabase(tmp_path / "server" / "vidconsult.db")
    store = SQLiteRecordingStore(db)
    await db.open()
    try:
        yield ArchiveFiles(tmp_path / "server" / "recordings", SECRET.encode()), store
    finally:
        await db.close()


async def _import(
    src: Path, target: ArchiveFiles, store: SQLiteRecordingStore, secret: str | None = None
) -> ImportReport:
    return await import_archive(source_archive(src, source_key(src, secret)), target, store)


async def test_import_into_a_running_server(
    source: Source, rec_server: ServerHandle, rec_settings: Settings
) -> None:
    # the running server's own archive and database, opened a second time (as the CLI does)
    target = ArchiveFiles(recordings_api.recordings_root(rec_settings), SECRET.encode())
    db = SQLiteDatabase(rec_settings.data_dir / "vidconsult.db")
    store = SQLiteRecordingStore(db)
    await db.open()
    try:
        report = await _import(source.dir, target, store)
        assert [o.status for o in report.outcomes] == [IMPORTED, IMPORTED], report.outcomes
        again = await _import(source.dir, target, store)
        assert [(o.status, o.reason) for o in again.outcomes] == [(SKIPPED, "already imported")] * 2
        assert again.summary() == "0 imported, 2 skipped, 0 refused"
        rows = await store.list_recordings(room_id=source.room_id)
    finally:
        await db.close()

    [src_manifest] = source_archive(source.dir, RECORDER_SECRET.encode()).manifests()
    src_entries = {e["recording_id"]: e for e in json.loads(src_manifest.read_text())["entries"]}
    assert {r.id for r in rows} == set(src_entries)
    for rec in rows:
        entry = src_entries[rec.id]
        assert rec.identity in ("dr-li", "pt-wang") and rec.role in ("doctor", "patient")
        assert rec.kinds == ["audio", "video"] and rec.codecs == ["audio/opus", "video/VP8"]
        assert rec.case_id == source.case_id and rec.session_id.startswith("ext_")
        assert rec.status is RecordingStatus.COMPLETED and rec.error is None
        assert (rec.path, rec.size, rec.sha256, rec.duration_ms, rec.offset_ms) == (
            entry["file"],
            entry["size"],
            entry["sha256"],
            entry["duration_ms"],
            entry["offset_ms"],
        )
        assert rec.started_at.isoformat() == entry["started_at"]
        assert (
            target.resolve(rec.path).read_bytes()
            == (source.dir / "recordings" / rec.path).read_bytes()
        )
    assert len({r.session_id for r in rows}) == 1

    # the server's archive checks out with the server's key (re-signed), not the recorder's
    checked, problems = verify(target, SECRET.encode())
    assert checked == 2 and problems == [], problems
    _, foreign = verify(target, RECORDER_SECRET.encode())
    assert any("signature" in str(p) for p in foreign)
    assert not list(target.root.rglob("*.tmp"))

    # and the running server lists them
    status, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={source.room_id}")
    assert status == 200, listing
    assert {r["id"] for r in listing["recordings"]} == set(src_entries)
    assert all(
        r["codecs"] == ["audio/opus", "video/VP8"] and r["case_id"] == source.case_id
        for r in listing["recordings"]
    )


async def test_a_tampered_file_is_refused_and_named(
    source: Source, tmp_path: Path, server_store: tuple
) -> None:
    target, store = server_store
    src = _copy(source, tmp_path / "copy")
    bad, good = _media(src)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte, size unchanged
    bad.write_bytes(bytes(data))
    bad_rel = bad.relative_to(src / "recordings").as_posix()

    report = await _import(src, target, store)
    by_path = {o.path: o for o in report.outcomes}
    assert by_path[bad_rel].status == REFUSED
    assert "sha256" in by_path[bad_rel].reason
    assert by_path[good.relative_to(src / "recordings").as_posix()].status == IMPORTED
    assert not target.resolve(bad_rel).exists()
    assert [r.path for r in await store.list_recordings()] == [
        good.relative_to(src / "recordings").as_posix()
    ]
    checked, problems = verify(target, SECRET.encode())
    assert checked == 1 and problems == [], problems


async def test_a_manifest_signed_with_another_secret_is_refused(
    source: Source, tmp_path: Path, server_store: tuple
) -> None:
    target, store = server_store
    src = _copy(source, tmp_path / "copy")
    [manifest] = source_archive(src, b"").manifests()
    doc = json.loads(manifest.read_text())
    forged = domain.sign_manifest(b"another-secret-" + b"z" * 40, doc["room_id"], doc["entries"])
    manifest.write_text(json.dumps(forged))

    report = await _import(src, target, store)
    [outcome] = report.outcomes
    rel_manifest = manifest.relative_to(src / "recordings").as_posix()
    assert outcome.status == REFUSED and outcome.path == rel_manifest
    assert "signature" in outcome.reason and "room not imported" in outcome.reason
    assert await store.list_recordings() == []
    assert not target.root.exists() or not list(target.root.rglob("*.*"))

    # the right manifest, checked with the wrong key: refused the same way
    report = await _import(source.dir, target, store, secret="wrong-secret-" + "w" * 40)
    assert [o.status for o in report.outcomes] == [REFUSED]


@pytest.mark.parametrize("shape", [[], "text", 42, None])
async def test_a_manifest_that_is_not_an_object_is_refused_and_named(
    source: Source, tmp_path: Path, server_store: tuple, shape: object
) -> None:
    # valid JSON of the wrong shape: refused with a reason, not an AttributeError
    target, store = server_store
    src = _copy(source, tmp_path / "copy")
    [manifest] = source_archive(src, b"").manifests()
    manifest.write_text(json.dumps(shape))

    report = await _import(src, target, store)
    [outcome] = report.outcomes
    assert outcome.status == REFUSED and outcome.path.endswith("manifest.json"), outcome
    assert "not a JSON object" in outcome.reason
    assert await store.list_recordings() == []


async def test_a_different_file_under_the_same_id_is_a_conflict(
    source: Source, tmp_path: Path, server_store: tuple
) -> None:
    target, store = server_store
    report = await _import(source.dir, target, store)
    assert report.count(IMPORTED) == 2
    [first, _] = await store.list_recordings()
    first.sha256 = "0" * 64  # the index says another file has this id
    await store.save_recording(first)

    again = await _import(source.dir, target, store)
    by_id = {o.recording_id: o for o in again.outcomes}
    assert by_id[first.id].status == REFUSED and "conflict" in by_id[first.id].reason
    assert [o.status for o in again.outcomes].count(SKIPPED) == 1
    assert (await store.get_recording(first.id)).sha256 == "0" * 64  # not overwritten


async def test_a_run_cut_short_is_completed(
    source: Source, tmp_path: Path, server_store: tuple
) -> None:
    """Files copied and chained, but not indexed (the import died): the next run indexes
    them without copying or chaining them again."""
    target, store = server_store
    await _import(source.dir, target, store)
    [manifest] = target.manifests()
    chained = manifest.read_text()
    db = SQLiteDatabase(tmp_path / "fresh.db")  # an index that never saw them
    fresh = SQLiteRecordingStore(db)
    await db.open()
    try:
        report = await _import(source.dir, target, fresh)
        assert [o.status for o in report.outcomes] == [IMPORTED, IMPORTED]
        assert len(await fresh.list_recordings()) == 2
    finally:
        await db.close()
    assert manifest.read_text() == chained
    checked, problems = verify(target, SECRET.encode())
    assert checked == 2 and problems == [], problems


def test_cli_archive_import(
    source: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "server"
    base = ["archive", "import", str(source.dir), "--data-dir", str(data_dir), "--secret", SECRET]
    assert cli_main(base) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("imported ") for line in out) == 2, out
    assert out[-1] == "2 imported, 0 skipped, 0 refused"

    assert cli_main(base) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("skipped ") and "already imported" in line for line in out) == 2, out
    assert out[-1] == "0 imported, 2 skipped, 0 refused"

    assert cli_main(["archive", "verify", "--data-dir", str(data_dir), "--secret", SECRET]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 file(s) checked, 0 problem(s)"

    # a tampered copy into another server: exit 1, the file named
    src = _copy(source, tmp_path / "copy")
    bad = _media(src)[0]
    data = bytearray(bad.read_bytes())
    data[-10] ^= 0x01
    bad.write_bytes(bytes(data))
    assert (
        cli_main(
            [
                "archive",
                "--data-dir",
                str(tmp_path / "other"),
                "--secret",
                SECRET,
                "import",
                str(src),
            ]
        )
        == 1
    )
    out = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith(f"refused {bad.relative_to(src / 'recordings').as_posix()}: ")
        for line in out
    ), out
    assert out[-1] == "1 imported, 0 skipped, 1 refused"

    # no recorder key at all: a usage error, nothing made
    (src / "secret.key").unlink()
    assert (
        cli_main(
            [
                "archive",
                "import",
                str(src),
                "--data-dir",
                str(tmp_path / "third"),
                "--secret",
                SECRET,
            ]
        )
        == 2
    )
    assert "--source-secret" in capsys.readouterr().err
    assert not (src / "secret.key").exists()


def test_record_command_parses() -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["record", "--help"])
    assert exc.value.code == 0
