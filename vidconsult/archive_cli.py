"""``vidconsult archive ...``: operator commands on the recordings archive.

    vidconsult archive verify [--room ID]      exit 1 and name each bad file
    vidconsult archive purge [--dry-run]       retention (legal holds respected)
    vidconsult archive recover                 close recordings cut off by a crash, fail the
                                               exports it left running (export_interrupted)
                                               and delete their .part.mp4 (refused, exit 2,
                                               while a server runs on the archive)
    vidconsult archive export --room ID [--out FILE]   composite MP4, with a progress bar
    vidconsult archive import SOURCE_DIR [--source-secret S]   an external recorder's archive

Wiring: ``register_cli(subparsers)`` adds the ``archive`` command; ``run_cli(args, settings)``
runs it. ``python -m vidconsult.archive_cli ...`` works on its own too.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

from vidconsult.compose import make_storage
from vidconsult.config import Settings
from vidconsult.store.base_stores import Storage


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("archive", help="verify, purge, recover or export recordings")
    parser.add_argument("--data-dir", dest="data_dir", default=None)
    parser.add_argument("--secret", default=None)
    sub = parser.add_subparsers(dest="archive_command", required=True)
    verify = sub.add_parser("verify", help="check manifests' signatures, chains and file hashes")
    verify.add_argument("--room", default=None)
    purge = sub.add_parser("purge", help="delete recordings past retention (not on hold)")
    purge.add_argument("--dry-run", action="store_true")
    purge.add_argument(
        "--days",
        type=int,
        default=None,
        help="retention in days (default: the recording_retention_days setting)",
    )
    sub.add_parser(
        "recover",
        help="close recordings a crash left open (mark them interrupted); mark exports it "
        "left running failed (export_interrupted) and delete their half-written files",
    )
    export = sub.add_parser("export", help="one MP4 (H264+AAC grid, mixed audio) of a room")
    export.add_argument("--room", required=True)
    export.add_argument("--out", default=None)
    imp = sub.add_parser(
        "import",
        help="bring an external recorder's archive (its --data-dir) "
        "into this archive and the index",
    )
    imp.add_argument(
        "source",
        metavar="SOURCE_DIR",
        help="the external recorder's data dir (archive under SOURCE_DIR/recordings)",
    )
    imp.add_argument(
        "--source-secret",
        dest="source_secret",
        default=None,
        help="the recorder's signing secret (default: SOURCE_DIR/secret.key)",
    )
    for command in (verify, purge, export, imp, sub.choices["recover"]):
        # also accepted after the command; SUPPRESS keeps a value given before it
        command.add_argument("--data-dir", dest="data_dir", default=argparse.SUPPRESS)
        command.add_argument("--secret", default=argparse.SUPPRESS)
    return parser


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    from vidconsult.store.recording_files import ArchiveFiles, verify
    from web.recordings_api import recordings_root

    if args.archive_command == "import":
        return asyncio.run(_import(settings, Path(args.source), args.source_secret))
    archive = ArchiveFiles(recordings_root(settings), settings.load_secret())
    if args.archive_command == "verify":
        checked, problems = verify(
            archive, archive.key, args.room, in_progress=_in_progress(settings)
        )
        for problem in problems:
            print(f"FAIL {problem}")
        print(f"{checked} file(s) checked, {len(problems)} problem(s)")
        return 1 if problems else 0
    if args.archive_command == "export":
        return asyncio.run(_export(settings, archive, args.room, args.out))
    return asyncio.run(_with_service(settings, args))


def _in_progress(settings: Settings) -> set[str]:
    db = settings.data_dir / "vidconsult.db"
    if not db.exists():
        return set()
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT path FROM recordings WHERE status='recording'")
            return {r[0] for r in rows}
        finally:
            conn.close()
    except sqlite3.Error:
        return set()


async def _service(
    settings: Settings, archive: Any, storage: Storage, days: int | None = None
) -> Any:
    from media.recording.repair import salvage
    from vidconsult.compose import node_id_of
    from vidconsult.ports import SystemClock
    from vidconsult.services.recordings import RecordingService
    from web.recordings_api import config_from

    config = config_from(settings)
    if days is not None:
        config.retention_days = days
    store = storage.recordings
    await storage.db.open()
    return RecordingService(
        store=store,
        archive=archive,
        recorder=None,
        rooms=None,
        notifier=None,
        clock=SystemClock(),
        config=config,
        salvage=salvage,
        node_id=node_id_of(settings),  # recover closes this node's files only
    )


def _exports(settings: Settings, service: Any) -> Any:
    """The export jobs of the archive, as the server's start sees them (``recover`` only:
    nothing is composed here)."""
    from media.recording.composite import export_composite
    from vidconsult.compose import node_id_of
    from vidconsult.ports import SystemClock
    from vidconsult.services.exports import ExportService

    return ExportService(
        store=service.store,
        recordings=service,
        archive=service.archive,
        compose=export_composite,
        clock=SystemClock(),
        node_id=node_id_of(settings),
    )


async def _with_service(settings: Settings, args: argparse.Namespace) -> int:
    from vidconsult.store.recording_files import ArchiveFiles
    from web.recordings_api import recordings_root

    archive = ArchiveFiles(recordings_root(settings), settings.load_secret())
    storage = make_storage(settings)
    db = storage.db
    service = await _service(settings, archive, storage, getattr(args, "days", None))
    try:
        if args.archive_command == "recover":
            from vidconsult.services.recordings import ArchiveBusy

            try:
                found = await service.recover()
            except ArchiveBusy as exc:
                print(f"vidconsult: {exc}", file=sys.stderr)
                return 2
            for rec in found:
                print(f"interrupted {rec.path} ({rec.duration_ms / 1000:.1f} s)")
            print(f"{len(found)} recording(s) recovered")
            jobs, removed = await _exports(settings, service).recover_files()
            for job in jobs:
                print(f"export {job['id']} of room {job['room_id']} failed: export_interrupted")
            for path in removed:
                print(f"deleted {path}")
            print(
                f"{len(jobs)} export(s) marked failed, {len(removed)} half-written file(s) deleted"
            )
        else:
            doomed = await service.purge(dry_run=args.dry_run)
            verb = "would delete" if args.dry_run else "deleted"
            for rec in doomed:
                print(f"{verb} {rec.path}")
            print(f"{len(doomed)} recording(s) {verb}")
        return 0
    finally:
        service.release_server_lock()
        await db.close()


async def _import(settings: Settings, source_dir: Path, source_secret: str | None) -> int:
    from vidconsult.archive_import import import_archive, source_archive, source_key
    from vidconsult.store.recording_files import ArchiveFiles
    from web.recordings_api import recordings_root

    try:
        source = source_archive(source_dir, source_key(source_dir, source_secret))
    except ValueError as exc:
        print(f"vidconsult: {exc}", file=sys.stderr)
        return 2
    target = ArchiveFiles(recordings_root(settings), settings.load_secret())
    storage = make_storage(settings)
    db, store = storage.db, storage.recordings
    await db.open()
    try:
        report = await import_archive(
            source, target, store, on_outcome=lambda o: print(o, flush=True)
        )
    finally:
        await db.close()
    print(report.summary())
    return 1 if report.refused else 0


async def _export(settings: Settings, archive: Any, room_id: str, out: str | None) -> int:
    from tqdm import tqdm

    from media.recording.composite import export_composite
    from vidconsult.services.exports import composite_inputs

    storage = make_storage(settings)
    db, store = storage.db, storage.recordings
    await db.open()
    try:
        recs = await store.list_recordings(room_id=room_id, limit=10_000)
    finally:
        await db.close()
    inputs = composite_inputs(recs, archive)
    if not inputs:
        print(f"room {room_id} has no finished recordings", file=sys.stderr)
        return 1
    target = Path(out or f"{room_id}-composite.mp4")
    with tqdm(total=100, unit="%", desc=f"export {room_id}") as bar:

        def progress(fraction: float) -> None:
            bar.update(int(fraction * 100) - bar.n)

        seconds = await asyncio.to_thread(export_composite, inputs, str(target), progress)
    print(f"wrote {target} ({seconds:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vidconsult")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    settings = Settings.from_env(data_dir=args.data_dir, secret=args.secret)
    return run_cli(args, settings)


if __name__ == "__main__":
    sys.exit(main())
