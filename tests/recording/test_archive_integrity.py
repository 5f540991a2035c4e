"""The archive's own checks, each one on its own: the chain and the per-entry hashes of a
manifest that was tampered with and then re-signed with the right key (so the signature hides
nothing), and file hashes checked against an independent sha256 of the whole file, for files
larger than the digest's 1 MiB read size."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vidconsult.domain import recordings as domain
from vidconsult.domain.recordings import Recording, RecordingStatus
from vidconsult.store.recording_files import (
    ArchiveFiles,
    ManifestError,
    Problem,
    file_digest,
    verify,
)

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


# found by mutation testing (mutmut on the manifest and verify code) ---------------------------
def test_the_entry_and_signature_formats_are_pinned(tmp_path: Path) -> None:
    """Archived manifests outlive the code: a change of the canonical form (separators, key
    names, non-ASCII kept as UTF-8) would make every manifest on disk fail its check. The
    expected hashes are computed here from hand-written canonical JSON."""
    rec = _recording(1, b"x")
    rec.identity, rec.offset_ms = "李医生", 1500  # non-ASCII stays UTF-8 in the hashed form
    rec.size, rec.sha256 = 1234, "ab" * 32
    entry = domain.manifest_entry(rec, domain.GENESIS, event="file")
    fields = (
        '"duration_ms":60000,"ended_at":"2026-01-01T10:02:00+00:00","event":"file",'
        f'"file":"{rec.path}",'
    )
    rest = (
        '"identity":"李医生","offset_ms":1500,'
        f'"prev":"{"0" * 64}","recording_id":"rec_000000000001","role":"doctor",'
        f'"sha256":"{"ab" * 32}","size":1234,"started_at":"2026-01-01T10:01:00+00:00",'
        '"status":"completed"'
    )
    expected_hash = hashlib.sha256(("{" + fields + rest + "}").encode()).hexdigest()
    assert entry == {
        "event": "file",
        "recording_id": "rec_000000000001",
        "file": rec.path,
        "identity": "李医生",
        "role": "doctor",
        "sha256": "ab" * 32,
        "size": 1234,
        "duration_ms": 60000,
        "offset_ms": 1500,
        "status": "completed",
        "started_at": "2026-01-01T10:01:00+00:00",
        "ended_at": "2026-01-01T10:02:00+00:00",
        "prev": domain.GENESIS,
        "hash": expected_hash,
    }
    doc = domain.sign_manifest(KEY, ROOM, [entry])
    body = (
        '{"entries":[{' + fields + f'"hash":"{expected_hash}",' + rest + "}],"
        f'"room_id":"{ROOM}","version":1}}'
    )
    assert doc == {
        "version": 1,
        "room_id": ROOM,
        "entries": [entry],
        "signature": hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest(),
    }
    rec.ended_at = None  # still being written: no end in the entry
    assert domain.manifest_entry(rec, domain.GENESIS, event="file")["ended_at"] is None


def test_a_manifest_without_entries_or_signature_is_reported_not_a_crash() -> None:
    signature = "manifest signature does not match (edited, or another secret)"
    assert domain.check_manifest(KEY, {}) == [signature]
    assert domain.check_manifest(KEY, {"version": 1, "room_id": ROOM}) == [signature]


def test_a_missing_hash_is_reported_once_not_again_by_the_next_link(tmp_path: Path) -> None:
    _archive(tmp_path, [b"first", b"second"])
    entries = _manifest(tmp_path)["entries"]
    del entries[0]["hash"]
    entries[1]["prev"] = ""  # chained to what the hashless entry stands for
    _rehash(entries[1])
    doc = _resign(tmp_path, entries)
    assert domain.check_manifest(KEY, doc) == [
        f"entry 0 ({entries[0]['file']}): entry hash does not match"
    ]


def test_append_returns_whether_it_added_and_writes_the_room_id(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [])
    rec = _recording(1, b"one")
    (tmp_path / rec.path).write_bytes(b"one")
    assert archive.append(ROOM_DIR, ROOM, rec, event="file") is True
    assert archive.append(ROOM_DIR, ROOM, rec, event="file") is True  # a plain append always adds
    assert len(_manifest(tmp_path)["entries"]) == 2
    listed = archive.append(ROOM_DIR, ROOM, rec, event="file", unless_listed=True)
    assert listed is False and len(_manifest(tmp_path)["entries"]) == 2
    # any difference in event, recording id or sha256 is a new entry
    other_event = archive.append(ROOM_DIR, ROOM, rec, event="deleted", unless_listed=True)
    rec2 = _recording(1, b"one")
    rec2.id = "rec_0000000000ff"
    other_id = archive.append(ROOM_DIR, ROOM, rec2, event="file", unless_listed=True)
    rec3 = _recording(1, b"one, replaced")
    other_hash = archive.append(ROOM_DIR, ROOM, rec3, event="file", unless_listed=True)
    assert (other_event, other_id, other_hash) == (True, True, True)
    doc = _manifest(tmp_path)
    assert doc["room_id"] == ROOM and len(doc["entries"]) == 5
    assert domain.check_manifest(KEY, doc) == []
    mode = (tmp_path / ROOM_DIR / "manifest.json").stat().st_mode & 0o777
    assert mode == 0o644


def test_append_writes_beside_the_manifest_and_cleans_up_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _archive(tmp_path, [b"first"])
    manifest = tmp_path / ROOM_DIR / "manifest.json"
    before = manifest.read_bytes()
    replaced: list[tuple[str, str]] = []

    def failing_replace(src: str, dst: str) -> None:
        replaced.append((str(src), str(dst)))
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", failing_replace)
    rec = _recording(2, b"second")
    with pytest.raises(OSError, match="Input/output error"):
        archive.append(ROOM_DIR, ROOM, rec, event="file")
    ((src, dst),) = replaced
    assert Path(src).parent == manifest.parent  # a rename within the directory: atomic
    assert Path(dst) == manifest
    assert manifest.read_bytes() == before
    assert sorted(p.name for p in manifest.parent.iterdir() if p.name.startswith(".manifest.")) == [
        ".manifest.lock"
    ]


def test_append_refuses_unreadable_and_non_object_manifests(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [b"first"])
    manifest = tmp_path / ROOM_DIR / "manifest.json"
    rec = _recording(2, b"second")
    manifest.write_text("{not json")
    with pytest.raises(ManifestError, match=r"^2026/01/01/room1/manifest.json is unreadable \("):
        archive.append(ROOM_DIR, ROOM, rec, event="file")
    manifest.write_text("[]")
    with pytest.raises(ManifestError, match="fails its check: not a JSON object$"):
        archive.append(ROOM_DIR, ROOM, rec, event="file")
    entries = _manifest_after(manifest, [b"first"], tmp_path)
    entries[0]["size"] = 1  # edited and not re-signed: two problems, both named
    manifest.write_text(json.dumps({"version": 1, "room_id": ROOM, "entries": entries}))
    with pytest.raises(
        ManifestError,
        match=r"fails its check: manifest signature does not match .*; entry 0 .*: entry hash",
    ):
        archive.append(ROOM_DIR, ROOM, rec, event="file")


def _manifest_after(manifest: Path, files: list[bytes], root: Path) -> list[dict[str, Any]]:
    """The entries of a fresh archive of ``files`` (to restore a clobbered manifest)."""
    fresh = root / "fresh"
    _archive(fresh, files)
    return _manifest(fresh)["entries"]


def test_verify_names_every_problem_and_goes_on_after_each(tmp_path: Path) -> None:
    """One room's manifest lists, in order: a file later deleted by retention, a missing file,
    a path outside the archive, an entry without a file, and a changed file; a stray file lies
    beside them and one is being written. Every problem is named, none stops the walk."""
    archive = _archive(tmp_path, [b"gone", b"missing", b"outside", b"nofile", b"changed"])
    entries = _manifest(tmp_path)["entries"]
    gone = _recording(1, b"gone")
    (tmp_path / gone.path).unlink()
    (tmp_path / entries[1]["file"]).unlink()
    for entry in entries[2:4]:
        (tmp_path / entry["file"]).unlink()
    entries[2]["file"] = "../../etc/passwd"
    del entries[3]["file"]
    (tmp_path / entries[4]["file"]).write_bytes(b"changed!")
    for entry in entries[2:4]:
        _rehash(entry)
    for previous, entry in zip(entries, entries[1:], strict=False):
        entry["prev"] = previous["hash"]
        _rehash(entry)
    deleted = domain.manifest_entry(gone, entries[-1]["hash"], event="deleted")
    _resign(tmp_path, [*entries, deleted])
    (tmp_path / ROOM_DIR / "stray.webm").write_bytes(b"?")
    (tmp_path / ROOM_DIR / "live.mkv").write_bytes(b"?")
    checked, problems = verify(archive, KEY, in_progress={f"{ROOM_DIR}/live.mkv"})
    assert checked == 4  # the deleted recording's file is not looked for
    assert [str(p) for p in problems] == [
        f"{entries[1]['file']}: missing",
        "../../etc/passwd: listed path is outside the archive",
        ": listed path is outside the archive",
        f"{entries[4]['file']}: content changed (sha256 does not match)",
        f"{ROOM_DIR}/stray.webm: not listed in the manifest",
    ]


def test_verify_of_one_room_and_of_rooms_it_cannot_read(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [b"first"])
    assert verify(archive, KEY, "room9") == (0, [Problem("room9", "no manifest for this room")])
    assert verify(ArchiveFiles(tmp_path / "empty", KEY), KEY) == (0, [])
    # two more rooms: one with an unreadable manifest (sorted first), one with a changed file
    (tmp_path / "2026/01/01/room0").mkdir(parents=True)
    (tmp_path / "2026/01/01/room0/manifest.json").write_text("{")
    other = tmp_path / "2026/01/02/room2"
    other.mkdir(parents=True)
    rec = _recording(2, b"room two")
    rec.room_id, rec.path = "room2", "2026/01/02/room2/p.webm"
    (tmp_path / rec.path).write_bytes(b"room two, changed")
    archive.append("2026/01/02/room2", "room2", rec, event="file")
    assert verify(archive, KEY, ROOM) == (1, [])  # only the room asked for
    checked, problems = verify(archive, KEY)
    assert checked == 2
    assert [p.path for p in problems] == [
        "2026/01/01/room0/manifest.json",
        "2026/01/02/room2/p.webm",
    ]
    assert problems[0].problem.startswith("unreadable: ")


SIGNATURE = "manifest signature does not match (edited, or another secret)"
X = f"{ROOM_DIR}/x.webm"


@pytest.mark.parametrize(
    ("doc", "problems"),
    [
        ([], ["not a JSON object"]),
        ({}, [SIGNATURE]),
        ({"entries": "abc"}, [SIGNATURE, "entries is not a list"]),
        (
            {"entries": [1, {"file": X}]},
            [
                SIGNATURE,
                "entry 0: not a JSON object",
                f"entry 1 ({X}): chain broken",
                f"entry 1 ({X}): entry hash does not match",
            ],
        ),
        (
            {"entries": [{"file": X}]},
            [
                SIGNATURE,
                f"entry 0 ({X}): chain broken",
                f"entry 0 ({X}): entry hash does not match",
            ],
        ),
    ],
    ids=["a-list", "no-entries", "entries-not-a-list", "entry-not-an-object", "entry-no-event"],
)
def test_verify_reports_a_malformed_manifest_instead_of_crashing(
    tmp_path: Path, doc: Any, problems: list[str]
) -> None:
    """Valid JSON of the wrong shape (an edited manifest, re-signed or not) is a problem in
    verify's report, and the rooms after it are still checked; before, ``archive verify``
    stopped with a traceback."""
    archive = _archive(tmp_path, [])
    (tmp_path / ROOM_DIR / "manifest.json").write_text(json.dumps(doc))
    later = tmp_path / "2026/01/02/room2"  # sorted after room1
    later.mkdir(parents=True)
    (later / "manifest.json").write_text("{")
    checked, found = verify(archive, KEY)
    assert checked == 0
    assert [(p.path, p.problem) for p in found[:-1]] == [
        (f"{ROOM_DIR}/manifest.json", problem) for problem in problems
    ]
    assert found[-1].path == "2026/01/02/room2/manifest.json"
