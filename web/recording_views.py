"""Response models of recordings and composite exports: their OpenAPI schemas. A recording's
JSON stays ``Recording.to_dict`` (signaling and the events send it too) and an export job is
the document its store keeps; these models state exactly those shapes (``extra="forbid"``).
The policy is serialized here (``PolicyOut.of``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from vidconsult.domain.recording_failures import ExportFailure, RecordingFailure
from vidconsult.domain.recordings import RecordingPolicy, RecordingStatus
from web.room_views import Instant


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordingFile(_Out):
    """A participant's file (``Recording.to_dict``)."""

    id: str
    room_id: str
    case_id: str | None
    identity: str
    role: str
    kinds: list[str]
    missing: list[Literal["audio", "video"]] = Field(
        default_factory=list,
        description="kinds the participant was publishing for this file that never reached it "
        "(e.g. video: the camera's picture could not be recorded); [] when nothing is missing. "
        "The file is still completed with what it holds",
    )
    codecs: list[str]
    started_at: Instant
    ended_at: Instant | None
    duration_ms: int
    offset_ms: int = Field(description="from the room recording's start to this file's 0")
    size: int
    sha256: str
    status: RecordingStatus
    error: str | None = Field(description="the diagnostic, for operators (English)")
    error_code: RecordingFailure | None = Field(
        default=None, description="why it failed, for a person's sentence (docs/api.md)"
    )
    legal_hold: bool
    file: str = Field(description="the file's name")
    session_id: str = Field(description="the room recording (start..stop) it belongs to")
    source: Literal["camera", "screen"] = Field(
        default="camera",
        description="camera: the participant's camera and microphone; screen: the screen it "
        "shared, recorded as a file of its own",
    )
    has_file: bool = Field(
        default=True,
        description="a file to play or download: false when deleted, or failed / interrupted "
        "with no file or nothing in it (size or duration 0); a partial file is true",
    )


class RecordingEntry(RecordingFile):
    """An entry of the archive index."""

    case_hold: bool = Field(description="its case is on legal hold (retention keeps it)")


class ListedRecording(RecordingEntry):
    room_name: str | None = Field(description="null when the room is no longer known")


class RecordingList(_Out):
    recordings: list[ListedRecording]


class RecordingSession(_Out):
    room_id: str
    session_id: str
    by: str
    started_at: Instant


class PolicyOut(_Out):
    room_id: str
    enabled: bool
    case_id: str | None
    consent: bool | None = Field(description="null: not asked (the policy may still record)")
    consent_by: str | None
    consent_at: Instant | None
    note: str

    @classmethod
    def of(cls, policy: RecordingPolicy) -> PolicyOut:
        return cls(
            room_id=policy.room_id,
            enabled=policy.enabled,
            case_id=policy.case_id,
            consent=policy.consent,
            consent_by=policy.consent_by,
            consent_at=policy.consent_at,
            note=policy.note,
        )


class RoomRecording(_Out):
    """A room's recording: the active session (null when none) and its files."""

    room_id: str
    active: bool
    session: RecordingSession | None
    files: list[RecordingFile]
    error: str | None = Field(description="why the last recording stopped, if on an error")
    error_code: RecordingFailure | None = Field(
        default=None, description="the same as a code, for a person's sentence (docs/api.md)"
    )


class RecordingStatusOut(_Out):
    """A room's recording; session, files and policy only for coordinators and room admins
    (other participants learn whether it records, and its last error)."""

    room_id: str
    active: bool
    error: str | None
    error_code: RecordingFailure | None = None
    session: RecordingSession | None = None
    files: list[RecordingFile] | SkipJsonSchema[None] = None
    policy: PolicyOut | SkipJsonSchema[None] = None


class ActiveRecordings(_Out):
    rooms: list[RoomRecording]


class SignedLink(_Out):
    url: str = Field(description="no token needed until expires_at")
    expires_at: Instant


class CaseHold(_Out):
    case_id: str
    held: bool


class ExportJob(_Out):
    id: str
    room_id: str
    status: Literal["running", "done", "failed"]
    progress: float = Field(description="0..1")
    created_by: str
    created_at: Instant
    node_id: str = Field(
        default="",
        description='the node that runs it ("": a single server, or a job kept before jobs '
        "named their node); if that node stops, the job fails with export_interrupted",
    )
    files: list[str] = Field(description="the recordings composed")
    error: str | None = Field(description="the diagnostic, for operators (English)")
    error_code: ExportFailure | None = Field(
        default=None, description="why it failed, for a person's sentence (docs/api.md)"
    )
    duration_s: float | None = Field(description="of the MP4, once done")
    speed: float | None = Field(description="seconds of video per second of work, once done")
