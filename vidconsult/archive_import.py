"""Bringing an external recorder's archive home: ``vidconsult archive import SOURCE_DIR``.

The external recorder (:mod:`vidconsult.external_recorder`) writes the server's archive layout
under ``SOURCE_DIR/recordings``, its manifests signed with its own secret (``--source-secret``,
else ``SOURCE_DIR/secret.key``). For every source manifest:

* the manifest must pass its own check (signature with the source key, hash chain); if not,
  nothing of that room is imported;
* the server's manifest for the same room directory, if there is one, must pass its check with
  the server key too (appending re-signs it: a tampered one must not be laundered);
* each ``file`` entry not later ``deleted`` is copied (temp name, fsync, rename) to the same
  relative path in the server archive; the bytes copied must have the entry's size and sha256;
  its Matroska tags give case and session, its streams kinds and codecs;
* the file is chained into the server's manifest for that room (signed with the server key)
  and then indexed in the server's store.

Idempotent: a recording id already indexed with the same sha256 is skipped; with another sha256
it is a conflict, refused and left alone. A run cut short (a file copied, or also chained, but
not indexed) is completed by the next run: an identical file already in place is not copied
again, an entry already in the server's manifest is not appended again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import av

from media.recording.writer import _canonical as canonical_codec
from vidconsult.domain import recordings as domain
from vidconsult.domain.recordings import Recording, RecordingStatus
from vidconsult.store.base_recordings import RecordingStore
from vidconsult.store.recording_files import (
    MANIFEST,
    MEDIA_SUFFIXES,
    ArchiveFiles,
    ManifestError,
    file_digest,
)

log = logging.getLogger(__name__)

IMPORTED, SKIPPED, REFUSED = "imported", "skipped", "refused"


@dataclass(frozen=True, slots=True)
class Outcome:
    path: str  # relative to the archive root (a file, or a room's manifest)
    status: str  # imported | skipped | refused
    reason: str = ""
    recording_id: str = ""

    def __str__(self) -> str:
        return f"{self.status} {self.path}" + (f": {self.reason}" if self.reason else "")


@dataclass(slots=True)
class ImportReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == REFUSED]

    def summary(self) -> str:
        return (
            f"{self.count(IMPORTED)} imported, {self.count(SKIPPED)} skipped, "
            f"{self.count(REFUSED)} refused"
        )


def source_key(source_dir: Path, secret: str | None = None) -> bytes:
    """The key the external recorder signed with: ``secret``, else ``SOURCE_DIR/secret.key``
    (never made here, and never the server's own ``VIDCONSULT_SECRET``)."""
    if secret:
        raw = secret.encode()
        if len(raw) < 32:
            raise ValueError("the source secret must be at least 32 characters")
        return raw
    path = source_dir / "secret.key"
    if not path.is_file():
        raise ValueError(f"no {path}: give the recorder's secret with --source-secret")
    raw = path.read_bytes().strip()
    if len(raw) < 32:
        raise ValueError(f"{path} holds a secret shorter than 32 bytes")
    return raw


def source_archive(source_dir: Path, key: bytes) -> ArchiveFiles:
    """The external recorder's archive: ``SOURCE_DIR/recordings``, as ``archive_for`` lays it
    out."""
    root = source_dir / "recordings"
    if not root.is_dir():
        raise ValueError(f"no recordings directory in {source_dir}")
    return ArchiveFiles(root, key)


async def import_archive(
    source: ArchiveFiles,
    target: ArchiveFiles,
    store: RecordingStore,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> ImportReport:
    """Import every manifest of ``source`` (checked with its key) into ``target`` (chained
    and signed with its key) and ``store``. Never raises for a bad file or manifest: each is
    a ``refused`` outcome."""
    report = ImportReport()

    def note(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        (log.warning if outcome.status == REFUSED else log.info)("archive import %s", outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    for manifest in await asyncio.to_thread(source.manifests):
        await _import_room(source, target, store, manifest, note)
    return report


async def _import_room(
    source: ArchiveFiles,
    target: ArchiveFiles,
    store: RecordingStore,
    manifest: Path,
    note: Callable[[Outcome], None],
) -> None:
    room_dir = manifest.parent.relative_to(source.root).as_posix()
    manifest_rel = f"{room_dir}/{MANIFEST}"
    try:
        doc = json.loads(await asyncio.to_thread(manifest.read_text))
    except (OSError, ValueError) as exc:
        note(Outcome(manifest_rel, REFUSED, f"unreadable manifest ({exc}); room not imported"))
        return
    if not isinstance(doc, dict):
        note(Outcome(manifest_rel, REFUSED, "the manifest is not a JSON object; room not imported"))
        return
    issues = domain.check_manifest(source.key, doc)
    if issues:
        note(
            Outcome(
                manifest_rel,
                REFUSED,
                f"source manifest fails its check ({'; '.join(issues)}); room not imported",
            )
        )
        return
    room_id = str(doc.get("room_id") or Path(room_dir).name)
    try:
        existing = await asyncio.to_thread(target.read_manifest, room_dir)
    except (OSError, ValueError) as exc:
        note(
            Outcome(
                manifest_rel,
                REFUSED,
                f"the server's manifest is unreadable ({exc}); room not imported",
            )
        )
        return
    if existing.get("entries"):
        issues = domain.check_manifest(target.key, existing)
        if issues:
            note(
                Outcome(
                    manifest_rel,
                    REFUSED,
                    f"the server's manifest fails its check ({'; '.join(issues)}); "
                    "run `vidconsult archive verify`; room not imported",
                )
            )
            return
    entries = doc.get("entries", [])
    deleted = {e.get("recording_id") for e in entries if e.get("event") == "deleted"}
    for entry in entries:
        if entry.get("event") != "file":
            continue
        rel = str(entry.get("file", ""))
        if entry.get("recording_id") in deleted:
            note(Outcome(rel, SKIPPED, "deleted at the source", entry.get("recording_id", "")))
            continue
        note(await _import_file(source, target, store, room_dir, room_id, entry))


async def _import_file(
    source: ArchiveFiles,
    target: ArchiveFiles,
    store: RecordingStore,
    room_dir: str,
    room_id: str,
    entry: dict[str, Any],
) -> Outcome:
    rel = str(entry.get("file", ""))
    rid = str(entry.get("recording_id", ""))

    def refuse(reason: str) -> Outcome:
        return Outcome(rel, REFUSED, reason, rid)

    if not domain.RECORDING_ID.match(rid):
        return refuse(f"bad recording id {rid!r}")
    if rel.rsplit("/", 1)[0] != room_dir or Path(rel).suffix not in MEDIA_SUFFIXES:
        return refuse("listed path is not a media file of the manifest's room directory")
    try:
        src, dst = source.resolve(rel), target.resolve(rel)
    except ValueError:
        return refuse("listed path is outside the archive")
    indexed = await store.get_recording(rid)
    if indexed is not None:
        if indexed.sha256 == entry.get("sha256"):
            return Outcome(rel, SKIPPED, "already imported", rid)
        return refuse(
            f"conflict: {rid} is already in the index with another sha256 "
            f"({indexed.path}); left as it is"
        )
    try:
        recording = _recording(entry, room_id)
    except (KeyError, TypeError, ValueError) as exc:
        return refuse(f"bad manifest entry ({exc})")
    if not await asyncio.to_thread(src.is_file):
        return refuse("missing at the source")
    problem = await asyncio.to_thread(_place, src, dst, recording)
    if problem:
        return refuse(problem)
    try:  # under the room's manifest lock; nothing if a run cut short already chained it
        await asyncio.to_thread(
            target.append, room_dir, room_id, recording, event="file", unless_listed=True
        )
    except ManifestError as exc:
        return refuse(f"the server's manifest: {exc}; run `vidconsult archive verify`")
    await store.add_recording(recording)
    return Outcome(rel, IMPORTED, "", rid)


def _place(src: Path, dst: Path, recording: Recording) -> str:
    """Copy ``src`` to ``dst`` (temp name, fsync, rename) if the bytes copied are the
    manifest's (size, sha256) and the file's tags agree with it; fill in the recording's case,
    session, kinds and codecs from the file. "" on success, else why not. An identical ``dst``
    (a run cut short) is left in place."""
    if dst.exists():
        if file_digest(dst) != (recording.size, recording.sha256):
            return "a different file is already at this path in the server's archive"
        return _describe(dst, recording)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".import.tmp")  # not a media suffix: verify ignores it
    h = hashlib.sha256()
    copied = 0
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(1 << 20):
                h.update(chunk)
                copied += len(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        if copied != recording.size:
            problem = (
                f"content does not match the manifest (size {copied}, expected {recording.size})"
            )
        elif h.hexdigest() != recording.sha256:
            problem = "content does not match the manifest (sha256 differs)"
        else:
            problem = _describe(tmp, recording)
        if problem:
            tmp.unlink()
            return problem
        os.replace(tmp, dst)
        _fsync_dir(dst.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return f"copy failed: {exc}"
    return ""


def _describe(path: Path, recording: Recording) -> str:
    """Fill in what the index keeps and the manifest does not, from the file; "" or why the
    file does not belong to its manifest entry."""
    tags, kinds, codecs = _probe(path)
    for name, expected in (("room_id", recording.room_id), ("recording_id", recording.id)):
        if tags.get(name) and tags[name] != expected:
            return f"the file's {name} tag {tags[name]!r} is not {expected!r}"
    recording.case_id = tags.get("case_id") or None
    recording.session_id = tags.get("session_id", "")
    recording.source = "screen" if tags.get("source") == "screen" else "camera"
    recording.kinds, recording.codecs = kinds, codecs
    return ""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _probe(path: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """(tags, kinds, codecs) of a file, the codecs as the recorder names them ("video/VP8",
    "audio/opus", "video/H264"). An unreadable file gives empty lists: the manifest vouches
    for its bytes, the index just knows less about it."""
    try:
        with av.open(str(path)) as container:
            tags = {str(k).lower(): str(v) for k, v in container.metadata.items()}
            streams = [
                (str(s.type), str(s.codec_context.name))
                for s in container.streams
                if s.type in ("audio", "video")
            ]
    except (av.FFmpegError, OSError, EOFError) as exc:
        log.warning("archive import: cannot read the tags of %s: %s", path, exc)
        return {}, [], []
    kinds = sorted({kind for kind, _ in streams})
    codecs = sorted({canonical_codec(f"{kind}/{name}") for kind, name in streams})
    return tags, kinds, codecs


def _recording(entry: dict[str, Any], room_id: str) -> Recording:
    status = RecordingStatus(entry["status"])
    return Recording(
        id=str(entry["recording_id"]),
        room_id=room_id,
        case_id=None,
        identity=str(entry["identity"]),
        role=str(entry["role"]),
        path=str(entry["file"]),
        started_at=datetime.fromisoformat(entry["started_at"]),
        ended_at=datetime.fromisoformat(entry["ended_at"]) if entry.get("ended_at") else None,
        status=status,
        duration_ms=int(entry["duration_ms"]),
        offset_ms=int(entry["offset_ms"]),
        size=int(entry["size"]),
        sha256=str(entry["sha256"]),
        error="failed in the external recorder" if status is RecordingStatus.FAILED else None,
    )
