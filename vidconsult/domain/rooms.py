"""Rooms, participants and tracks: the live video session of a booking.

Plain state with the rules that govern it; the services layer drives it and persists it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from vidconsult.domain.roles import Grants, Role
from vidconsult.domain.timeutil import utc_iso
from vidconsult.errors import Conflict, InvalidInput, NotFound

MAX_NAME_LENGTH = 200
MAX_IDENTITY_LENGTH = 128
# what an identity may not hold: white space, control and invisible format characters (bidi
# overrides, zero widths, tags). One character class, so that the REST schema (a JSON Schema
# pattern) states exactly this rule
IDENTITY_PATTERN = (
    r"^[^\x00-\x20\x7f-\xa0\u00ad\u0600-\u0605\u061c\u06dd\u070f\u1680\u180e"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff9-\ufffb"
    r"\U000e0000-\U000e007f]+$"
)
_IDENTITY = re.compile(IDENTITY_PATTERN)


class RoomStatus(StrEnum):
    SCHEDULED = "scheduled"  # a booking's room before its window opens (nobody may join yet)
    OPEN = "open"
    ENDED = "ended"


class RoomKind(StrEnum):
    CONSULTATION = "consultation"
    EMERGENCY = "emergency"
    LECTURE = "lecture"


class TrackKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


class TrackSource(StrEnum):
    """What a published track shows: a participant's camera and microphone, or the screen
    (or a window) they share, which is shown and recorded apart from the camera."""

    CAMERA = "camera"
    MICROPHONE = "microphone"
    SCREEN = "screen"
    SCREEN_AUDIO = "screen_audio"

    @classmethod
    def of(cls, kind: TrackKind | str, declared: str | None = None) -> TrackSource:
        """The declared source when it fits the kind, else the kind's default
        (a video track is a camera, an audio track a microphone)."""
        video = str(kind) == TrackKind.VIDEO.value
        if declared in (cls.SCREEN.value, cls.CAMERA.value) and video:
            return cls(declared)
        if declared in (cls.SCREEN_AUDIO.value, cls.MICROPHONE.value) and not video:
            return cls(declared)
        return cls.CAMERA if video else cls.MICROPHONE

    @property
    def is_screen(self) -> bool:
        return self in (TrackSource.SCREEN, TrackSource.SCREEN_AUDIO)


@dataclass(slots=True)
class Room:
    id: str
    name: str
    created_at: datetime
    kind: RoomKind = RoomKind.CONSULTATION
    case_id: str | None = None
    status: RoomStatus = RoomStatus.OPEN
    ended_at: datetime | None = None
    end_reason: str | None = None
    max_participants: int = 16
    # publishers' video bitrate cap in kbit/s (0: none), for rooms with weak rural links
    max_video_kbps: int = 0
    # a waiting room: those without the admin grant wait until someone with it admits them
    lobby: bool = False

    def end(self, at: datetime, reason: str) -> None:
        if self.status is RoomStatus.ENDED:
            raise Conflict(f"room {self.id} has already ended", code="room_ended")
        self.status = RoomStatus.ENDED
        self.ended_at = at
        self.end_reason = reason

    def open(self) -> None:
        """A scheduled room's window has come: participants may join from now on."""
        if self.status is not RoomStatus.SCHEDULED:
            raise Conflict(
                f"room {self.id} is {self.status.value}, not scheduled", code="room_not_scheduled"
            )
        self.status = RoomStatus.OPEN

    def ensure_open(self) -> None:
        if self.status is RoomStatus.SCHEDULED:
            raise Conflict(f"room {self.id} is not open yet", code="room_not_open")
        if self.status is not RoomStatus.OPEN:
            raise Conflict(f"room {self.id} has ended", code="room_ended")

    def ensure_not_ended(self) -> None:
        if self.status is RoomStatus.ENDED:
            raise Conflict(f"room {self.id} has ended", code="room_ended")

    def watched_from_any_node(self, grants: Grants) -> bool:
        """Whether a participant of these grants may get the room's media from the node its
        socket is on, relayed there from the room's node (a lecture's audience: subscribe
        only, visible; docs/architecture.md, "A lecture spanning nodes"). Anyone who
        publishes, and hidden participants (a recorder records on the room's node), are
        served by the room's node."""
        return (
            self.kind is RoomKind.LECTURE
            and grants.subscribe
            and not grants.publish
            and not grants.hidden
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "case_id": self.case_id,
            "status": self.status.value,
            "created_at": self.created_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "end_reason": self.end_reason,
            "max_participants": self.max_participants,
            "max_video_kbps": self.max_video_kbps,
            "lobby": self.lobby,
        }


@dataclass(frozen=True, slots=True)
class Waiting:
    """Someone in a room's waiting room (lobby), until admitted or declined."""

    identity: str
    name: str
    role: Role
    since: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "name": self.name,
            "role": self.role.value,
            "since": utc_iso(self.since),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Waiting:
        """From :meth:`to_dict` (e.g. another node's answer)."""
        return cls(
            identity=str(data["identity"]),
            name=str(data["name"]),
            role=Role(str(data["role"])),
            since=datetime.fromisoformat(str(data["since"])),
        )


@dataclass(slots=True)
class Track:
    sid: str
    kind: TrackKind
    muted: bool = False
    source: TrackSource | None = None  # None: the kind's default (camera / microphone)

    def to_dict(self) -> dict[str, object]:
        source = self.source or TrackSource.of(self.kind)
        return {
            "sid": self.sid,
            "kind": self.kind.value,
            "muted": self.muted,
            "source": source.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Track:
        return cls(
            sid=str(data["sid"]),
            kind=TrackKind(str(data["kind"])),
            muted=bool(data.get("muted", False)),
            source=TrackSource(str(data["source"])) if data.get("source") else None,
        )


@dataclass(slots=True)
class Participant:
    identity: str
    name: str
    role: Role
    grants: Grants
    joined_at: datetime
    tracks: dict[str, Track] = field(default_factory=dict)
    hand_raised: bool = False  # asks for the floor (raise hand); cleared by lowering it
    # when the hand went up (None while it is down): the teacher answers hands in this order
    hand_raised_at: datetime | None = None
    # its connection dropped without a leave: the seat is held for a rejoin (a short grace)
    reconnecting: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "name": self.name,
            "role": self.role.value,
            "joined_at": self.joined_at.isoformat(),
            "grants": self.grants.to_dict(),
            "tracks": [t.to_dict() for t in self.tracks.values()],
            "hand_raised": self.hand_raised,
            "hand_raised_at": utc_iso(self.hand_raised_at) if self.hand_raised_at else None,
            "reconnecting": self.reconnecting,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Participant:
        """From :meth:`to_dict` (e.g. another node's answer)."""
        grants = data.get("grants")
        tracks = data.get("tracks")
        return cls(
            identity=str(data["identity"]),
            name=str(data["name"]),
            role=Role(str(data["role"])),
            grants=Grants.from_dict(grants if isinstance(grants, dict) else {}),
            joined_at=datetime.fromisoformat(str(data["joined_at"])),
            tracks={
                str(t["sid"]): Track.from_dict(t)
                for t in (tracks if isinstance(tracks, list) else [])
                if isinstance(t, dict)
            },
            hand_raised=bool(data.get("hand_raised", False)),
            hand_raised_at=(
                datetime.fromisoformat(str(data["hand_raised_at"]))
                if data.get("hand_raised_at")
                else None
            ),
        )

    def track(self, sid: str) -> Track:
        try:
            return self.tracks[sid]
        except KeyError:
            raise NotFound(f"participant {self.identity} has no track {sid}") from None


def validate_room_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("room name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"room name longer than {MAX_NAME_LENGTH} characters")
    return name


def validate_identity(identity: str) -> str:
    if not identity or len(identity) > MAX_IDENTITY_LENGTH:
        raise InvalidInput(f"identity must be 1..{MAX_IDENTITY_LENGTH} characters")
    if not _IDENTITY.fullmatch(identity):
        raise InvalidInput("identity must not contain whitespace or control characters")
    return identity


# what a room keeps of its chat for its participants (the last ones, shown on joining); a case's
# room also keeps every message with the case (the medical record: services/records.py)
CHAT_HISTORY = 200
MAX_CHAT_LENGTH = 4000


@dataclass(frozen=True, slots=True)
class ChatLine:
    """A message of a room's chat, as its participants see it (``chat.message``)."""

    id: str
    identity: str
    name: str | None
    text: str
    sent_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "identity": self.identity,
            "name": self.name,
            "text": self.text,
            "sent_at": utc_iso(self.sent_at),
        }
