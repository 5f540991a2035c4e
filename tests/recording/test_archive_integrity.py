"""The archive's own checks, each one on its own: the chain and the per-entry hashes of a
manifest that was tampered with and then re-signed with the right key (so the signature hides
nothing), and file hashes checked against an independent sha256 of the whole file, for files
larger than the digest's 1 MiB read size."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vidconsult.domain import recordings as domain
from vidconsult.domain.recordings import Recording, RecordingStatus
from vidconsult.store.recording_files import ArchiveFiles, file_digest, verify

KEY = b"k" * 32
ROOM = "room1"
ROOM_DIR = "2026/01/01/room1"
T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
BIG = (1 << 20) * 3 + 12345  # three read chunks and a partial one


def _recording(i: int, data: bytes) -> Recording:
    return Recording(
        id=f"rec_{i:012x}",
        room_id=ROOM,
        case_id=None,
        identity=f"p{i}",
        role="doctor",
        path=f"{ROOM_DIR}/p{i}-rec_{i:012x}.webm",
        started_at=T0 + timedelta(minutes=i),
        status=RecordingStatus.COMPLETED,
        ended_at=T0 + timedelta(minutes=i + 1),
        duration_ms=60_000,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _archive(root: Path, files: list[bytes]) -> ArchiveFiles:
    archive = ArchiveFiles(root, KEY)
    (root / ROOM_DIR).mkdir(parents=True)
    for i, data in enumerate(files, 1):
        rec = _recording(i, data)
        (root / rec.path).write_bytes(data)
        archive.append(ROOM_DIR, ROOM, rec, event="file")
    return archive


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / ROOM_DIR / "manifest.json").read_text())


def _resign(root: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """What someone holding the key would write: the tampered entries, signed again."""
    doc = domain.sign_manifest(KEY, ROOM, entries)
    (root / ROOM_DIR / "manifest.json").write_text(json.dumps(doc))
    return doc


def _rehash(entry: dict[str, Any]) -> None:
    fields = {k: v for k, v in entry.items() if k != "hash"}
    entry["hash"] = hashlib.sha256(domain._canonical(fields)).hexdigest()


def _manifest_problems(archive: ArchiveFiles) -> list[str]:
    return [p.problem for p in verify(archive, KEY)[1] if p.path.endswith("manifest.json")]


# the chain and the entry hashes, under a valid signature -------------------------------------
def test_reordered_entries_break_the_chain_even_when_re_signed(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [b"first", b"second", b"third"])
    entries = _manifest(tmp_path)["entries"]
    assert domain.check_manifest(KEY, _manifest(tmp_path)) == []
    doc = _resign(tmp_path, [entries[1], entries[0], entries[2]])  # untouched, only swapped

    problems = domain.check_manifest(KEY, doc)
    assert not any("signature" in p for p in problems)  # the signature is fine
    assert [p for p in problems if "chain broken" in p] == [
        f"entry {i} ({entries[j]['file']}): chain broken" for i, j in ((0, 1), (1, 0), (2, 2))
    ]
    assert not any("entry hash" in p for p in problems)  # each entry is intact in itself
    assert any("chain broken" in p for p in _manifest_problems(archive))


def test_a_dropped_entry_breaks_the_chain_even_when_re_signed(tmp_path: Path) -> None:
    _archive(tmp_path, [b"first", b"second", b"third"])
    entries = _manifest(tmp_path)["entries"]
    doc = _resign(tmp_path, [entries[0], entries[2]])
    assert domain.check_manifest(KEY, doc) == [f"entry 1 ({entries[2]['file']}): chain broken"]


def test_an_edited_entry_fails_its_hash_even_when_re_signed(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [b"first", b"second"])
    entries = _manifest(tmp_path)["entries"]
    forged = b"a different second file"
    entries[1].update(sha256=hashlib.sha256(forged).hexdigest(), size=len(forged))
    (tmp_path / entries[1]["file"]).write_bytes(forged)  # the file matches its forged entry
    doc = _resign(tmp_path, entries)

    assert domain.check_manifest(KEY, doc) == [
        f"entry 1 ({entries[1]['file']}): entry hash does not match"
    ]
    checked, problems = verify(archive, KEY)
    assert checked == 2
    assert [str(p) for p in problems] == [
        f"{ROOM_DIR}/manifest.json: entry 1 ({entries[1]['file']}): entry hash does not match"
    ]


def test_an_edited_and_rehashed_entry_breaks_the_next_link(tmp_path: Path) -> None:
    _archive(tmp_path, [b"first", b"second", b"third"])
    entries = _manifest(tmp_path)["entries"]
    entries[0]["duration_ms"] = 1  # a shortened record of the first file, its hash redone
    _rehash(entries[0])
    doc = _resign(tmp_path, entries)
    assert domain.check_manifest(KEY, doc) == [f"entry 1 ({entries[1]['file']}): chain broken"]


def test_a_first_entry_not_chained_to_genesis_is_refused(tmp_path: Path) -> None:
    _archive(tmp_path, [b"first"])
    entries = _manifest(tmp_path)["entries"]
    entries[0]["prev"] = "f" * 64
    _rehash(entries[0])
    doc = _resign(tmp_path, entries)
    assert domain.check_manifest(KEY, doc) == [f"entry 0 ({entries[0]['file']}): chain broken"]


def test_a_missing_entry_hash_is_a_problem(tmp_path: Path) -> None:
    _archive(tmp_path, [b"first", b"second"])
    entries = _manifest(tmp_path)["entries"]
    del entries[1]["hash"]
    doc = _resign(tmp_path, entries)
    assert domain.check_manifest(KEY, doc) == [
        f"entry 1 ({entries[1]['file']}): entry hash does not match"
    ]


def test_a_signature_over_other_content_or_with_another_key_is_refused(tmp_path: Path) -> None:
    _archive(tmp_path, [b"first"])
    doc = _manifest(tmp_path)
    signature = "manifest signature does not match (edited, or another secret)"
    assert domain.check_manifest(b"x" * 32, doc) == [signature]
    assert domain.check_manifest(KEY, {**doc, "room_id": "room2"}) == [signature]
    assert domain.check_manifest(KEY, {k: v for k, v in doc.items() if k != "signature"}) == [
        signature
    ]


# hashes of whole files, larger than one read chunk --------------------------------------------
def test_file_digest_is_the_sha256_of_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(BIG)
    path.write_bytes(data)
    assert file_digest(path) == (BIG, hashlib.sha256(data).hexdigest())
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert file_digest(empty) == (0, hashlib.sha256(b"").hexdigest())


@pytest.mark.parametrize("where", [0, (1 << 20) + 7, BIG - 1], ids=["head", "past-1MiB", "last"])
def test_verify_sees_a_change_anywhere_in_a_large_file(tmp_path: Path, where: int) -> None:
    data = os.urandom(BIG)
    archive = _archive(tmp_path, [data])
    assert verify(archive, KEY) == (1, [])
    (path,) = (tmp_path / ROOM_DIR).glob("*.webm")
    tampered = bytearray(data)
    tampered[where] ^= 0x01
    path.write_bytes(bytes(tampered))
    rel = path.relative_to(tmp_path).as_posix()
    assert [str(p) for p in verify(archive, KEY)[1]] == [
        f"{rel}: content changed (sha256 does not match)"
    ]
