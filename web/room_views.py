"""Response models of rooms and join tokens: the wire format at the edge (the domain's
``Room``, ``Participant`` and ``Track`` stay plain dataclasses), and their OpenAPI schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from vidconsult.domain.roles import Grants, Role
from vidconsult.domain.rooms import (
    Participant,
    Room,
    RoomKind,
    RoomStatus,
    Track,
    TrackKind,
    TrackSource,
    Waiting,
)
from vidconsult.domain.timeutil import utc_iso

# instants as the rest of the API writes them: in UTC, datetime.isoformat ("+00:00", not "Z")
Instant = Annotated[
    datetime,
    PlainSerializer(utc_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class TrackOut(BaseModel):
    sid: str
    kind: TrackKind
    muted: bool
    source: TrackSource

    @classmethod
    def of(cls, track: Track) -> TrackOut:
        return cls(
            sid=track.sid,
            kind=track.kind,
            muted=track.muted,
            source=track.source or TrackSource.of(track.kind),
        )


class GrantsOut(BaseModel):
    publish: bool
    subscribe: bool
    admin: bool
    hidden: bool

    @classmethod
    def of(cls, grants: Grants) -> GrantsOut:
        return cls(
            publish=grants.publish,
            subscribe=grants.subscribe,
            admin=grants.admin,
            hidden=grants.hidden,
        )


class ParticipantOut(BaseModel):
    identity: str
    name: str
    role: Role
    joined_at: Instant
    grants: GrantsOut
    tracks: list[TrackOut]
    hand_raised: bool
    # when the hand went up (None while it is down): the order a teacher answers hands in
    hand_raised_at: Instant | None = None
    # its connection dropped without a leave; the seat is held for a rejoin (a short grace)
    reconnecting: bool = False

    @classmethod
    def of(cls, p: Participant) -> ParticipantOut:
        return cls(
            identity=p.identity,
            name=p.name,
            role=p.role,
            joined_at=p.joined_at,
            grants=GrantsOut.of(p.grants),
            tracks=[TrackOut.of(t) for t in p.tracks.values()],
            hand_raised=p.hand_raised,
            hand_raised_at=p.hand_raised_at,
            reconnecting=p.reconnecting,
        )


class WaitingOut(BaseModel):
    identity: str
    name: str
    role: Role
    since: Instant

    @classmethod
    def of(cls, w: Waiting) -> WaitingOut:
        return cls(identity=w.identity, name=w.name, role=w.role, since=w.since)


class RoomOut(BaseModel):
    id: str
    name: str
    kind: RoomKind
    case_id: str | None
    status: RoomStatus
    created_at: Instant
    ended_at: Instant | None
    end_reason: str | None
    max_participants: int
    max_video_kbps: int
    lobby: bool = Field(description="Those without the admin grant wait to be admitted")
    # people in the waiting room (on reads, for those who may admit them)
    waiting: list[WaitingOut] | None = None
    # live participants: on reads and creation, not on the answer to ending a room
    participants: list[ParticipantOut] | None = None

    @classmethod
    def of(
        cls,
        room: Room,
        participants: list[Participant] | None = None,
        waiting: list[Waiting] | None = None,
    ) -> RoomOut:
        return cls(
            id=room.id,
            name=room.name,
            kind=room.kind,
            case_id=room.case_id,
            status=room.status,
            created_at=room.created_at,
            ended_at=room.ended_at,
            end_reason=room.end_reason,
            max_participants=room.max_participants,
            max_video_kbps=room.max_video_kbps,
            lobby=room.lobby,
            waiting=None if waiting is None else [WaitingOut.of(w) for w in waiting],
            participants=None
            if participants is None
            else [ParticipantOut.of(p) for p in participants],
        )

    def wire(self) -> dict[str, object]:
        return self.model_dump(
            mode="json",
            exclude={k for k in ("participants", "waiting") if getattr(self, k) is None} or None,
        )


class RoomList(BaseModel):
    rooms: list[RoomOut]


class JoinTokenOut(BaseModel):
    token: str
    join_url: str
    room_id: str
    identity: str
    role: Role
    expires_in: int
    expires_at: Instant


class BandwidthOut(BaseModel):
    room_id: str
    identity: str | None
    video_kbps: int
    room_max_video_kbps: int


class PersonActionOut(BaseModel):
    room_id: str
    identity: str
    done: str = Field(description="admitted, declined, removed or mute_requested")

    def wire(self) -> dict[str, object]:
        return self.model_dump(mode="json")
