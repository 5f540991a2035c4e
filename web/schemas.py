"""REST request bodies, validated on the way in (pydantic); also feed the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vidconsult.domain.roles import Role
from vidconsult.domain.rooms import IDENTITY_PATTERN, RoomKind


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRoom(_Body):
    # at least one character that is not white space (the name is stripped)
    name: str = Field(
        min_length=1, max_length=200, pattern=r"[^\s\x1c-\x1f]", description="Shown to participants"
    )
    # absent for a room of no case; a blank one is refused, not a room of case ""
    case_id: str | None = Field(default=None, min_length=1, max_length=64)
    kind: RoomKind = RoomKind.CONSULTATION
    max_participants: int | None = Field(
        default=None,
        ge=2,
        le=200,
        description="Default: the server's max_participants; 100 for a lecture",
    )
    max_video_kbps: int = Field(
        default=0,
        ge=0,
        le=20000,
        description="Cap on publishers' video bitrate in kbit/s (0: none), for weak links",
    )
    lobby: bool = Field(
        default=False,
        description="A waiting room: patients and others without the admin grant wait until"
        " a participant with it (doctor, expert, coordinator) admits them",
    )


class Bandwidth(_Body):
    video_kbps: int = Field(ge=0, le=20000, description="0 removes the cap")
    identity: str | None = Field(
        default=None,
        max_length=128,
        description="One participant's cap; omitted: the room's cap for every publisher",
    )


class GrantsBody(_Body):
    publish: bool = True
    subscribe: bool = True
    admin: bool = True


class CreateToken(_Body):
    # no white space nor control characters (the domain's own rule)
    identity: str = Field(min_length=1, max_length=128, pattern=IDENTITY_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    role: Role
    ttl: int | None = Field(
        default=None,
        ge=60,
        le=30 * 24 * 3600,
        description="Lifetime in seconds (default: the server's token_ttl). Asked with a "
        "dashboard login, it ends with that login unless long_link is true",
    )
    long_link: bool = Field(
        default=False,
        description="Let the link outlive the dashboard login that asks for it (its ttl, or "
        "the server's token_ttl, counts in full); without it the link ends with the login",
    )
    grants: GrantsBody | None = Field(
        default=None, description="Lower the role's default grants (never raises them)"
    )


class RoomQuery(BaseModel):
    status: Literal["open", "ended", "scheduled", "all"] = "open"
    case_id: str | None = Field(default=None, description="Only this case's rooms")
