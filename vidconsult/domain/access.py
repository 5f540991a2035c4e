"""Access to medical data, recorded: who played, downloaded or exported a recording, who
viewed or downloaded an attachment. Pure records; the store keeps them, the case view shows
them on the case's audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vidconsult.domain.timeutil import require_aware


class AccessKind(StrEnum):
    RECORDING_PLAY = "recording.play"  # a playback link was handed out
    RECORDING_DOWNLOAD = "recording.download"  # a download link was handed out
    RECORDING_EXPORT = "recording.export"  # a composite export of the room was started
    EXPORT_DOWNLOAD = "export.download"  # a link to the finished export was handed out
    ATTACHMENT_VIEW = "attachment.view"  # one attachment's record (and link) was opened
    ATTACHMENT_DOWNLOAD = "attachment.download"  # its bytes were sent
    CASE_VIEW = "case.view"  # the case summary was opened in its consultation room
    # the consult room (subject: the participant's identity)
    LOBBY_ADMIT = "lobby.admit"  # let in from the waiting room
    LOBBY_DECLINE = "lobby.decline"  # turned away from the waiting room
    PARTICIPANT_REMOVE = "participant.remove"  # removed, its link revoked
    CONSENT_GIVEN = "recording.consent"  # agreed to the recording before joining
    CONSENT_REFUSED = "recording.consent_refused"  # refused it


@dataclass(frozen=True, slots=True)
class AccessEntry:
    at: datetime
    actor: str  # the identity of the token (a user name, an expert id, "api-token:…")
    role: str  # the token's role
    action: AccessKind
    subject: str  # what was accessed: a recording, export job or attachment id
    case_id: str | None = None  # None: a recording of a room without a case
    room_id: str | None = None
    note: str = ""  # e.g. the file name

    def __post_init__(self) -> None:
        require_aware(self.at, "access time")
        if not self.actor or not self.subject:
            raise ValueError("an access entry needs an actor and a subject")
        if self.case_id is None and self.room_id is None:
            raise ValueError("an access entry belongs to a case or a room")
