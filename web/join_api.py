"""The link check of the room page (``GET /api/v1/join/check``): what a join token will meet,
asked before the camera starts (vidconsult/services/join_check.py). The answer is 200 for any
token, valid or not: "why not" is its content (``ok`` false and a ``code``), in the room page's
words for each code; only a request without a token is refused (401)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from vidconsult import workflow_app
from vidconsult.domain.rooms import Room, RoomKind
from vidconsult.errors import Unauthenticated
from vidconsult.services.join_check import JoinChecker
from web.http import bearer_token, json_ok
from web.keys import CLOCK, ROOMS, SETTINGS, SIGNER
from web.openapi import describe
from web.room_views import Instant

routes = web.RouteTableDef()


class PersonOut(BaseModel):
    name: str
    role: str


class JoinRoomOut(BaseModel):
    id: str
    name: str
    kind: RoomKind


class YouOut(BaseModel):
    identity: str
    name: str
    role: str
    admin: bool = Field(description="May admit, remove, mute and end (the grants table)")
    publish: bool


class CentreOut(BaseModel):
    time_zone: str = Field(description="The centre's IANA zone, shown beside the viewer's own")
    phone: str = Field(description="Whom to call when a link does not work (may be empty)")


class RecordingOut(BaseModel):
    records: bool = Field(description="The consultation is recorded (its policy)")
    ask_consent: bool = Field(description="The pre-join step asks this person for consent")
    on_refusal: str = Field(description="join_unrecorded or stay_out")


class JoinCheckOut(BaseModel):
    ok: bool = Field(description="The token may join now (or wait in the waiting room)")
    code: str | None = Field(
        description="Why not: token_missing, token_malformed, token_invalid, token_expired,"
        " token_revoked, token_not_yet_valid, too_early, room_ended, room_closed,"
        " booking_cancelled, not_found, room_required, room_not_scheduled, room_not_open,"
        " emergency_withdrawn_by_centre, emergency_withdrawn_by_unit (the emergency was"
        " withdrawn by a coordinator, or by the unit that requested it)"
    )
    now: Instant = Field(description="The server's clock (a countdown need not trust the PC's)")
    you: YouOut | None
    room: JoinRoomOut | None
    meet: list[PersonOut] = Field(description="Whom the person will meet (booked, then present)")
    starts_at: Instant | None = Field(description="The booked start (booked rooms)")
    ends_at: Instant | None
    opens_at: Instant | None = Field(description="When the link or the booked room opens")
    closes_at: Instant | None
    lobby: bool = Field(description="The person will wait to be admitted")
    recording: RecordingOut
    centre: CentreOut


def _checker(app: web.Application) -> JoinChecker:
    from web.recordings_api import RECORDINGS  # installed optionally (default_installers)

    recordings = app.get(RECORDINGS)

    async def records(room: Room) -> bool:
        assert recordings is not None
        policy = await recordings.policy(room.id)
        return policy.enabled and policy.consent is not False

    return JoinChecker(
        signer=app[SIGNER],
        rooms=app[ROOMS],
        clock=app[CLOCK],
        sessions=app.get(workflow_app.SESSIONS),
        records=records if recordings is not None else None,
    )


@routes.get("/api/v1/join/check")
@describe(
    "Check a join token before the camera starts: whom and when, or why not (200 either way)",
    response=JoinCheckOut,
    errors=(401,),
    auth="token",
)
async def join_check(request: web.Request) -> web.Response:
    token = bearer_token(request)
    if not token:
        raise Unauthenticated(
            "send the join token as 'Authorization: Bearer <token>'", code="token_missing"
        )
    result = await _checker(request.app).check(token)
    settings = request.app[SETTINGS]
    claims, room = result.claims, result.room
    out = JoinCheckOut(
        ok=result.ok,
        code=result.code,
        now=result.now,
        you=None
        if claims is None
        else YouOut(
            identity=claims.identity,
            name=claims.name,
            role=claims.role.value,
            admin=claims.grants.admin,
            publish=claims.grants.publish,
        ),
        room=None if room is None else JoinRoomOut(id=room.id, name=room.name, kind=room.kind),
        meet=[PersonOut(name=p.name, role=p.role) for p in result.meet],
        starts_at=result.starts_at,
        ends_at=result.ends_at,
        opens_at=result.opens_at,
        closes_at=result.closes_at,
        lobby=result.lobby,
        recording=RecordingOut(
            records=result.records,
            ask_consent=result.ask_consent,
            on_refusal=request.app[ROOMS].consent.on_refusal.value,
        ),
        centre=CentreOut(time_zone=settings.centre_time_zone, phone=settings.centre_phone),
    )
    return json_ok(out.model_dump(mode="json"), status=200)
