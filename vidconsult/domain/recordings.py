"""Recordings of consultations, as the archive keeps them: the index entry of one participant's
file, a room's recording policy (and the consent behind it), where files go, when they may be
deleted, and the tamper-evident manifest that chains a room's files.

Pure: no I/O, no clock reads (times are arguments)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from vidconsult.domain.recording_failures import recording_failure
from vidconsult.domain.rooms import RoomKind
from vidconsult.domain.timeutil import utc_iso
from vidconsult.errors import InvalidInput

GENESIS = "0" * 64
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
RECORDING_ID = re.compile(r"^rec_[0-9a-f]{12}$")


class RecordingStatus(StrEnum):
    RECORDING = "recording"  # being written (or the server died while writing it)
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # the server stopped while writing; closed at restart
    FAILED = "failed"  # the writer failed (e.g. disk full); the readable prefix is kept
    DELETED = "deleted"  # removed by retention; the index row and manifest entry stay


@dataclass(slots=True)
class Recording:
    id: str
    room_id: str
    case_id: str | None
    identity: str
    role: str
    path: str  # relative to the recordings root
    started_at: datetime
    status: RecordingStatus = RecordingStatus.RECORDING
    kinds: list[str] = field(default_factory=list)
    codecs: list[str] = field(default_factory=list)
    ended_at: datetime | None = None
    duration_ms: int = 0
    offset_ms: int = 0  # from the room recording's start to this file's 0
    size: int = 0
    sha256: str = ""
    error: str | None = None
    legal_hold: bool = False
    session_id: str = ""  # the room recording (start..stop) this file belongs to
    # "camera": the participant's camera and microphone; "screen": the screen it shared
    source: str = "camera"
    # the node whose recorder writes the file (its disk holds it); "" = before nodes had ids
    node_id: str = ""
    # kinds ("audio", "video") of the tracks the participant was publishing for this file that
    # never reached it (e.g. the camera's keyframe never came in time): the medical record
    # says the file lacks them instead of passing for complete; [] when it lacks nothing
    missing: list[str] = field(default_factory=list)

    @property
    def has_file(self) -> bool:
        """Whether the archive holds a file of it worth playing or downloading. Not when
        deleted by retention, nor when a failed or interrupted recording's file was never
        written or holds no sound or picture (size or duration 0: a folder that could not be
        written, ``no_media``, a dead node's file its node has not closed yet). A failed or
        interrupted file with something in it (recorded until the failure, salvaged after a
        crash) has one: what was recorded plays, the failure is said beside it."""
        if self.status is RecordingStatus.DELETED:
            return False
        if self.status in (RecordingStatus.FAILED, RecordingStatus.INTERRUPTED):
            return self.size > 0 and self.duration_ms > 0
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room_id": self.room_id,
            "case_id": self.case_id,
            "identity": self.identity,
            "role": self.role,
            "kinds": self.kinds,
            "missing": self.missing,
            "codecs": self.codecs,
            "started_at": utc_iso(self.started_at),
            "ended_at": utc_iso(self.ended_at) if self.ended_at else None,
            "duration_ms": self.duration_ms,
            "offset_ms": self.offset_ms,
            "size": self.size,
            "sha256": self.sha256,
            "status": self.status.value,
            "error": self.error,
            "error_code": code.value if (code := recording_failure(self.error)) else None,
            "legal_hold": self.legal_hold,
            "file": self.path.rsplit("/", 1)[-1],
            "session_id": self.session_id,
            "source": self.source,
            "has_file": self.has_file,
        }


@dataclass(slots=True)
class RecordingPolicy:
    """Whether a room records, and the consent it rests on (the case id as a plain string)."""

    room_id: str
    enabled: bool
    case_id: str | None = None
    consent: bool | None = None  # None: not asked; the policy may still record
    consent_by: str | None = None
    consent_at: datetime | None = None
    note: str = ""


def default_policy(room_id: str, kind: RoomKind, case_id: str | None) -> RecordingPolicy:
    """Every room records by default: consultations (routine and emergency) for the medical
    record, lectures for the replay library the units watch from."""
    return RecordingPolicy(room_id=room_id, enabled=True, case_id=case_id)


def ensure_may_record(policy: RecordingPolicy) -> None:
    if policy.consent is False:
        raise InvalidInput(
            "the patient refused consent to record this consultation",
            code="recording_consent_refused",
        )


# where files go ------------------------------------------------------------------------------
def safe_name(text: str) -> str:
    cleaned = _SAFE.sub("_", text).strip("._")
    return cleaned[:64] or "participant"


def room_directory(room_id: str, day: datetime) -> str:
    """{YYYY}/{MM}/{DD}/{room_id}: the day the room's first recording started."""
    return f"{day:%Y}/{day:%m}/{day:%d}/{safe_name(room_id)}"


def file_name(identity: str, recording_id: str, extension: str) -> str:
    return f"{safe_name(identity)}-{recording_id}.{extension}"


# retention -------------------------------------------------------------------------------------
def expired(
    recording: Recording, *, now: datetime, retention_days: int, held_cases: set[str]
) -> bool:
    """Whether retention deletes this file now: ``retention_days`` (> 0) after it ended, unless
    it or its case is on legal hold, or it is still being written."""
    if retention_days <= 0 or recording.legal_hold:
        return False
    if recording.case_id is not None and recording.case_id in held_cases:
        return False
    if recording.status in (RecordingStatus.RECORDING, RecordingStatus.DELETED):
        return False
    end = recording.ended_at or recording.started_at
    return now - end >= timedelta(days=retention_days)


# the manifest -------------------------------------------------------------------------------
def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_entry(recording: Recording, previous_hash: str, *, event: str) -> dict[str, Any]:
    """One link of a room's chain: ``event`` is "file" (a finished file) or "deleted" (its
    removal by retention); ``prev`` is the previous entry's hash."""
    body = {
        "event": event,
        "recording_id": recording.id,
        "file": recording.path,
        "identity": recording.identity,
        "role": recording.role,
        "sha256": recording.sha256,
        "size": recording.size,
        "duration_ms": recording.duration_ms,
        "offset_ms": recording.offset_ms,
        "status": recording.status.value,
        "started_at": recording.started_at.isoformat(),
        "ended_at": recording.ended_at.isoformat() if recording.ended_at else None,
        "prev": previous_hash,
    }
    body["hash"] = hashlib.sha256(_canonical(body)).hexdigest()
    return body


def sign_manifest(key: bytes, room_id: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    doc = {"version": 1, "room_id": room_id, "entries": entries}
    doc["signature"] = hmac.new(key, _canonical(doc), hashlib.sha256).hexdigest()
    return doc


def check_manifest(key: bytes, doc: dict[str, Any]) -> list[str]:
    """Problems with a manifest's own integrity (signature, chain); [] when sound. The files
    themselves are checked by the caller against each entry's sha256."""
    problems: list[str] = []
    signature = doc.get("signature", "")
    body = {k: v for k, v in doc.items() if k != "signature"}
    expected = hmac.new(key, _canonical(body), hashlib.sha256).hexdigest()
    if not isinstance(signature, str) or not hmac.compare_digest(signature, expected):
        problems.append("manifest signature does not match (edited, or another secret)")
    entries = doc.get("entries", [])
    if not isinstance(entries, list):
        return [*problems, "entries is not a list"]
    previous = GENESIS
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"entry {i}: not a JSON object")
            previous = ""
            continue
        fields = {k: v for k, v in entry.items() if k != "hash"}
        if entry.get("prev") != previous:
            problems.append(f"entry {i} ({entry.get('file')}): chain broken")
        if hashlib.sha256(_canonical(fields)).hexdigest() != entry.get("hash"):
            problems.append(f"entry {i} ({entry.get('file')}): entry hash does not match")
        previous = entry.get("hash", "")
    return problems


def last_hash(entries: list[dict[str, Any]]) -> str:
    return entries[-1]["hash"] if entries else GENESIS


# signed links -----------------------------------------------------------------------------------
def link_signature(key: bytes, recording_id: str, expires: int) -> str:
    message = f"recording-content:{recording_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def link_valid(
    key: bytes, recording_id: str, expires: int, signature: str, *, now: datetime
) -> bool:
    if now.timestamp() > expires:
        return False
    return hmac.compare_digest(link_signature(key, recording_id, expires), signature)
