"""A finished recording in the archive, as the export tests start from: one participant's
completed 14 s camera file (VP8 + Opus), indexed, its bytes where the index says.
tests/recording/test_export_node_down.py and test_export_recovery.py share it."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

from vidconsult.domain.recordings import Recording, RecordingStatus, file_name, room_directory
from vidconsult.store.base_recordings import RecordingStore
from vidconsult.store.recording_files import ArchiveFiles

REC_ID = "rec_0000000000a1"
SECONDS = 14


async def add_finished_recording(
    store: RecordingStore,
    archive: ArchiveFiles,
    room_id: str,
    started: datetime,
    content: bytes | Path,
) -> Recording:
    """dr-li's completed recording in ``room_id`` from ``started``: ``content`` (bytes, or a
    media file copied) written at its archive path, then the recording added to ``store``."""
    rec = Recording(
        id=REC_ID,
        room_id=room_id,
        case_id=None,
        identity="dr-li",
        role="doctor",
        path=f"{room_directory(room_id, started)}/{file_name('dr-li', REC_ID, 'webm')}",
        started_at=started,
        status=RecordingStatus.COMPLETED,
        kinds=["audio", "video"],
        codecs=["VP8", "opus"],
        ended_at=started + timedelta(seconds=SECONDS),
        duration_ms=SECONDS * 1000,
        session_id="rs_000000000001",
    )
    target = archive.resolve(rec.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Path):
        shutil.copyfile(content, target)
    else:
        target.write_bytes(content)
    rec.size = target.stat().st_size
    await store.add_recording(rec)
    return rec
