"""Why a recording or an export failed, as a stable code a page turns into a sentence for the
coordinator (web/static/i18n.js ``recFailures`` / ``exportFailures``, zh-CN and en), apart
from the diagnostic (``error``: the server's own English, with the exception; for operators:
logs, the index, a folded "details for support").

A recording's ``error`` is written where the failure happens (the writer thread, the service
finishing a file, another node marking a dead node's files, recovery after a crash); its code
is read from that diagnostic by :func:`recording_failure`, for the rows already in an index
too. An export's code is decided where it fails (:func:`export_failure`) and kept with the
job. Pure."""

from __future__ import annotations

import errno
import re
from enum import StrEnum


class RecordingFailure(StrEnum):
    DISK_FULL = "disk_full"  # the node's disk (the recordings directory) is full
    NOT_WRITABLE = "storage_not_writable"  # the recordings directory cannot be written
    STORAGE_ERROR = "storage_error"  # another read/write error of the disk
    NO_MEDIA = "no_media"  # no sound or picture reached the file
    FRAMES_DROPPED = "frames_dropped"  # the disk did not keep up: the file has holes
    NOT_CLOSED = "file_not_closed"  # the file could not be finished (it may not play)
    MANIFEST = "manifest_not_written"  # the room's tamper-evident manifest was not appended
    INDEX = "index_not_updated"  # the recordings index (database) was not updated
    NODE_LOST = "node_lost"  # the node recording it stopped; it finishes the file when back
    SERVER_STOPPED = "server_stopped"  # the server stopped while recording (crash, restart)
    OTHER = "recording_failed"  # anything else (the details say what)


class ExportFailure(StrEnum):
    SOURCE_MISSING = "source_missing"  # a recording file the export needs is not in the archive
    NOTHING_USABLE = "nothing_usable"  # none of the files holds sound or picture
    DISK_FULL = "disk_full"
    NOT_WRITABLE = "storage_not_writable"
    STORAGE_ERROR = "storage_error"
    # the server (or its node) stopped while the export ran: marked at its restart or by the
    # node that saw it die; the coordinator starts the export again
    INTERRUPTED = "export_interrupted"
    OTHER = "export_failed"


# the diagnostic's words for each code, checked in this order (the first part of a compound
# "a; b" diagnostic is what stopped the file)
_RECORDING_WORDS: tuple[tuple[RecordingFailure, re.Pattern[str]], ...] = tuple(
    (code, re.compile(pattern, re.IGNORECASE))
    for code, pattern in (
        (RecordingFailure.DISK_FULL, r"^disk_full|no space left|errno 28\]|\bENOSPC\b"),
        (
            RecordingFailure.NOT_WRITABLE,
            # refused, read-only, or a path in the folder that is not a directory
            r"PermissionError|errno 13\]|read-only file system|errno 30\]"
            r"|NotADirectoryError|FileExistsError|errno 20\]|errno 17\]",
        ),
        (RecordingFailure.NO_MEDIA, r"^no_media\b"),
        (RecordingFailure.FRAMES_DROPPED, r"^frames_dropped\b"),
        (RecordingFailure.NODE_LOST, r"^its node stopped while recording"),
        (RecordingFailure.SERVER_STOPPED, r"^server stopped while recording"),
        (RecordingFailure.MANIFEST, r"^manifest not written"),
        (RecordingFailure.INDEX, r"^index not updated"),
        (RecordingFailure.NOT_CLOSED, r"^not closed|^finishing a file failed|^writer_crashed"),
        (RecordingFailure.STORAGE_ERROR, r"OSError|IOError|errno \d+\]"),
    )
)


def recording_failure(error: str | None) -> RecordingFailure | None:
    """The code of a recording's (or a room's last recording's) diagnostic; None: no error.
    The first cause decides ("server stopped while recording; not hashed: …" is
    server_stopped); within it, a full disk or a refused write wins over how it surfaced
    ("not closed: OSError(28, 'No space left on device')" is disk_full)."""
    if not error:
        return None
    first = error.split("; ", 1)[0]
    for code in (RecordingFailure.DISK_FULL, RecordingFailure.NOT_WRITABLE):
        if dict(_RECORDING_WORDS)[code].search(first):
            return code
    for code, words in _RECORDING_WORDS:
        if words.search(first):
            return code
    return RecordingFailure.OTHER


def export_failure(exc: BaseException) -> ExportFailure:
    """The code of the exception an export stopped on."""
    if isinstance(exc, FileNotFoundError):
        return ExportFailure.SOURCE_MISSING
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return ExportFailure.DISK_FULL
        if isinstance(exc, (PermissionError, NotADirectoryError, FileExistsError)) or (
            exc.errno == errno.EROFS
        ):
            return ExportFailure.NOT_WRITABLE
        return ExportFailure.STORAGE_ERROR
    if "No space left" in str(exc):  # av wraps the OS error in its own
        return ExportFailure.DISK_FULL
    return ExportFailure.OTHER
