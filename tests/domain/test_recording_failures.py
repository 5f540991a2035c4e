"""Every diagnostic a recording can carry (as the writer, the service, another node and the
recovery after a crash write them, and as older index rows hold them) has its stable code; an
export's exception has its code."""

from __future__ import annotations

import errno

import pytest

from vidconsult.domain.recording_failures import (
    ExportFailure,
    RecordingFailure,
    export_failure,
    recording_failure,
)

R = RecordingFailure


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (None, None),
        ("", None),
        ("disk_full", R.DISK_FULL),
        ("not closed: OSError(28, 'No space left on device')", R.DISK_FULL),
        ("PermissionError: [Errno 13] Permission denied: '/srv/rec/2026'", R.NOT_WRITABLE),
        ("OSError: [Errno 30] Read-only file system: '/srv/rec/x.webm'", R.NOT_WRITABLE),
        ("FileExistsError: [Errno 17] File exists: '/srv/rec/2026/12/06/rm_1'", R.NOT_WRITABLE),
        ("NotADirectoryError: [Errno 20] Not a directory: '/srv/rec/a/b'", R.NOT_WRITABLE),
        ("OSError: [Errno 5] Input/output error", R.STORAGE_ERROR),
        ("no_media", R.NO_MEDIA),
        ("frames_dropped: 40 (the disk did not keep up)", R.FRAMES_DROPPED),
        ("writer_crashed", R.NOT_CLOSED),
        ("not closed: RuntimeError('x')", R.NOT_CLOSED),
        ("finishing a file failed: RuntimeError('x')", R.NOT_CLOSED),
        ("manifest not written: manifest of rm_1 does not verify", R.MANIFEST),
        ("index not updated for rec_1", R.INDEX),
        ("its node stopped while recording (node-b)", R.NODE_LOST),
        ("server stopped while recording", R.SERVER_STOPPED),
        # the first cause decides; the second is what followed from it
        ("server stopped while recording; not hashed: OSError(5, 'EIO')", R.SERVER_STOPPED),
        ("NotADirectoryError: [Errno 20] x; manifest not written: y", R.NOT_WRITABLE),
        ("RuntimeError: bug", R.OTHER),
    ],
)
def test_recording_failure_codes(error: str | None, code: RecordingFailure | None) -> None:
    assert recording_failure(error) is code


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), ExportFailure.SOURCE_MISSING),
        (OSError(errno.ENOSPC, "No space left on device"), ExportFailure.DISK_FULL),
        (PermissionError(errno.EACCES, "Permission denied"), ExportFailure.NOT_WRITABLE),
        (OSError(errno.EROFS, "Read-only file system"), ExportFailure.NOT_WRITABLE),
        (OSError(errno.EIO, "Input/output error"), ExportFailure.STORAGE_ERROR),
        (ValueError("[Errno 28] No space left on device"), ExportFailure.DISK_FULL),
        (RuntimeError("codec"), ExportFailure.OTHER),
    ],
)
def test_export_failure_codes(exc: BaseException, code: ExportFailure) -> None:
    assert export_failure(exc) is code


@pytest.mark.parametrize(
    ("status", "size", "duration_ms", "has_file"),
    [
        ("completed", 48_000, 9_000, True),
        ("recording", 0, 0, True),  # being written: as before
        ("deleted", 48_000, 9_000, False),  # retention removed it
        # never written: a folder that could not be written (nothing opened)
        ("failed", 0, 0, False),
        # no_media: the container's header, no sound or picture in it
        ("failed", 612, 0, False),
        # a dead node's file, marked by another node: not closed or measured yet
        ("interrupted", 0, 0, False),
        # recorded until it failed, or salvaged after a crash: what is there plays
        ("failed", 48_000, 9_000, True),
        ("interrupted", 48_000, 9_000, True),
    ],
)
def test_a_recording_has_a_file_to_play_only_with_something_in_it(
    status: str, size: int, duration_ms: int, has_file: bool
) -> None:
    from datetime import UTC, datetime

    from vidconsult.domain.recordings import Recording, RecordingStatus

    rec = Recording(
        id="rec_0000000000a1",
        room_id="rm_a",
        case_id=None,
        identity="dr-li",
        role="doctor",
        path="2026/12/06/rm_a/dr-li-rec_0000000000a1.webm",
        started_at=datetime(2026, 12, 6, 9, tzinfo=UTC),
        status=RecordingStatus(status),
        size=size,
        duration_ms=duration_ms,
    )
    assert rec.has_file is has_file
    assert rec.to_dict()["has_file"] is has_file
