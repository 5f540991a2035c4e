"""The recordings archive on disk: files under ``{root}/{YYYY}/{MM}/{DD}/{room_id}/``, and in
each room directory a ``manifest.json`` that chains the room's files by hash and is signed with
the server secret (see :mod:`vidconsult.domain.recordings`). Blocking: call from a thread."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidconsult.domain import recordings as domain
from vidconsult.domain.recordings import Recording

MANIFEST = "manifest.json"
# flock'ed around every read-modify-write of a room's manifest (threads and processes alike)
MANIFEST_LOCK = ".manifest.lock"
MEDIA_SUFFIXES = {".webm", ".mkv", ".mp4"}


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # relative to the root
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class ManifestError(ValueError):
    """A room's manifest is unreadable or fails its own check (signature, chain): nothing is
    appended to it, so a tampered manifest is never re-signed (run ``archive verify``)."""


class ArchiveFiles:
    def __init__(self, root: Path, key: bytes) -> None:
        self.root = root
        self._key = key

    @property
    def key(self) -> bytes:
        return self._key

    def resolve(self, relative: str) -> Path:
        """The absolute path of an archive file; refuses anything outside the root."""
        root = self.root.resolve()
        path = (root / relative).resolve()
        if root not in path.parents:
            raise ValueError(f"path outside the archive: {relative!r}")
        return path

    def read_manifest(self, room_dir: str) -> dict[str, Any]:
        path = self.resolve(f"{room_dir}/{MANIFEST}")
        if not path.exists():
            return {"version": 1, "room_id": Path(room_dir).name, "entries": []}
        return json.loads(path.read_text())

    @contextlib.contextmanager
    def manifest_lock(self, room_dir: str) -> Iterator[None]:
        """Exclusive hold on a room's manifest, across threads and processes (``flock`` on
        ``{room_dir}/.manifest.lock``; each call opens its own descriptor)."""
        path = self.resolve(f"{room_dir}/{MANIFEST_LOCK}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def append(
        self,
        room_dir: str,
        room_id: str,
        recording: Recording,
        *,
        event: str,
        unless_listed: bool = False,
    ) -> bool:
        """Add a link to the room's chain and rewrite the manifest atomically, under the room's
        manifest lock. Raises :class:`ManifestError` (appending nothing) if the existing
        manifest is unreadable or fails its signature / chain check. ``unless_listed``: do
        nothing if an entry with this event, recording id and sha256 is already there. Returns
        whether an entry was appended."""
        path = self.resolve(f"{room_dir}/{MANIFEST}")
        with self.manifest_lock(room_dir):
            if path.exists():
                try:
                    doc = json.loads(path.read_text())
                except ValueError as exc:
                    raise ManifestError(f"{room_dir}/{MANIFEST} is unreadable ({exc})") from exc
                issues = (
                    domain.check_manifest(self._key, doc)
                    if isinstance(doc, dict)
                    else ["not a JSON object"]
                )
                if issues:
                    raise ManifestError(
                        f"{room_dir}/{MANIFEST} fails its check: {'; '.join(issues)}"
                    )
            else:
                doc = {"entries": []}
            entries = list(doc.get("entries", []))
            if unless_listed and any(
                e.get("event") == event
                and e.get("recording_id") == recording.id
                and e.get("sha256") == recording.sha256
                for e in entries
            ):
                return False
            entries.append(domain.manifest_entry(recording, domain.last_hash(entries), event=event))
            signed = domain.sign_manifest(self._key, room_id, entries)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest.", suffix=".tmp")
            try:
                os.fchmod(fd, 0o644)
                with os.fdopen(fd, "w") as fh:
                    json.dump(signed, fh, indent=1, sort_keys=True)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return True

    def delete(self, relative: str) -> None:
        path = self.resolve(relative)
        if path.exists():
            path.unlink()

    def manifests(self, room_id: str | None = None) -> list[Path]:
        pattern = f"*/*/*/{domain.safe_name(room_id) if room_id else '*'}/{MANIFEST}"
        return sorted(self.root.glob(pattern)) if self.root.exists() else []


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def verify(
    archive: ArchiveFiles,
    key: bytes,
    room_id: str | None = None,
    *,
    in_progress: frozenset[str] | set[str] = frozenset(),
) -> tuple[int, list[Problem]]:
    """Check every manifest (or one room's): signature, chain, each listed file's presence and
    hash, and files in a room directory that no manifest lists. Returns (files checked,
    problems)."""
    checked = 0
    problems: list[Problem] = []
    manifests = archive.manifests(room_id)
    if room_id is not None and not manifests:
        problems.append(Problem(room_id, "no manifest for this room"))
    for manifest in manifests:
        room_dir = manifest.parent
        rel_dir = room_dir.relative_to(archive.root).as_posix()
        try:
            doc = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            problems.append(Problem(f"{rel_dir}/{MANIFEST}", f"unreadable: {exc}"))
            continue
        if not isinstance(doc, dict):
            problems.append(Problem(f"{rel_dir}/{MANIFEST}", "not a JSON object"))
            continue
        for issue in domain.check_manifest(key, doc):
            problems.append(Problem(f"{rel_dir}/{MANIFEST}", issue))
        # the files of entries shaped as this code writes them (the others are problems above)
        entries = doc.get("entries")
        entries = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
        deleted = {
            e["recording_id"]
            for e in entries
            if e.get("event") == "deleted" and "recording_id" in e
        }
        listed: set[str] = set()
        for entry in entries:
            rel = entry.get("file", "")
            listed.add(rel)
            if entry.get("event") != "file" or entry.get("recording_id") in deleted:
                continue
            checked += 1
            try:
                path = archive.resolve(rel)
            except ValueError:
                problems.append(Problem(rel, "listed path is outside the archive"))
                continue
            if not path.exists():
                problems.append(Problem(rel, "missing"))
                continue
            size, digest = file_digest(path)
            if digest != entry.get("sha256") or size != entry.get("size"):
                problems.append(Problem(rel, "content changed (sha256 does not match)"))
        for path in sorted(room_dir.iterdir()):
            rel = path.relative_to(archive.root).as_posix()
            if path.suffix in MEDIA_SUFFIXES and rel not in listed and rel not in in_progress:
                problems.append(Problem(rel, "not listed in the manifest"))
    return checked, problems
