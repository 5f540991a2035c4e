"""REST handlers for rooms and join tokens (``/api/v1/rooms``)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from vidconsult.domain.roles import Grants
from vidconsult.domain.rooms import Room, RoomStatus
from vidconsult.domain.timeutil import utc_iso
from vidconsult.services.rooms import RoomService
from vidconsult.tokens import link_ttl
from web.guards import limit
from web.http import (
    claims,
    json_ok,
    parse_body,
    parse_query,
    require_coordinator,
    require_room_admin,
)
from web.keys import BASE_URL, CLOCK, ROOM_ROUTER, ROOMS, SETTINGS
from web.openapi import describe
from web.room_views import BandwidthOut, JoinTokenOut, PersonActionOut, RoomList, RoomOut
from web.schemas import Bandwidth, CreateRoom, CreateToken, RoomQuery

routes = web.RouteTableDef()


def room_view(rooms: RoomService, room: Room, *, include_hidden: bool) -> RoomOut:
    return RoomOut.of(
        room,
        rooms.participants(room.id, include_hidden=include_hidden),
        # who waits, for those who may admit (coordinators and room admins)
        waiting=rooms.waiting(room.id) if include_hidden else None,
    )


async def live_views(
    request: web.Request, found: list[Room], *, include_hidden: bool
) -> list[RoomOut]:
    """The rooms with their live side, asked of each room's node (several nodes)."""
    live = await request.app[ROOM_ROUTER].live([r.id for r in found], include_hidden=include_hidden)
    return [
        RoomOut.of(
            room,
            live[room.id].participants,
            waiting=live[room.id].waiting if include_hidden else None,
        )
        for room in found
    ]


@routes.post("/api/v1/rooms")
@describe("Create a room", status=201, body=CreateRoom, response=RoomOut)
async def create_room(request: web.Request) -> web.Response:
    require_coordinator(request)
    body = await parse_body(request, CreateRoom)
    room = await request.app[ROOMS].create_room(
        body.name,
        case_id=body.case_id,
        kind=body.kind,
        max_participants=body.max_participants,
        max_video_kbps=body.max_video_kbps,
        lobby=body.lobby,
    )
    return json_ok(room_view(request.app[ROOMS], room, include_hidden=True).wire(), status=201)


@routes.get("/api/v1/rooms")
@describe("List rooms (open by default)", query=RoomQuery, response=RoomList)
async def list_rooms(request: web.Request) -> web.Response:
    require_coordinator(request)
    query = parse_query(request, RoomQuery)
    status = None if query.status == "all" else RoomStatus(query.status)
    rooms = request.app[ROOMS]
    found = await rooms.list_rooms(status)
    if query.case_id:
        found = [r for r in found if r.case_id == query.case_id]
    views = await live_views(request, found, include_hidden=True)
    return json_ok({"rooms": [view.wire() for view in views]})


@routes.get("/api/v1/rooms/{room_id}")
@describe(
    "A room with its live participants and their tracks (coordinator, or a token of the room)",
    response=RoomOut,
    errors=(404,),
)
async def get_room(request: web.Request) -> web.Response:
    who = claims(request)
    room_id = request.match_info["room_id"]
    if not who.is_coordinator:
        who.require_room(room_id)
    rooms = request.app[ROOMS]
    room = await rooms.get_room(room_id)
    admin = who.is_coordinator or who.grants.admin
    (view,) = await live_views(request, [room], include_hidden=admin)
    return json_ok(view.wire())


@routes.delete("/api/v1/rooms/{room_id}")
@describe(
    "End a room: every participant is told and disconnected (coordinator or room admin)",
    response=RoomOut,
    errors=(404, 409),
)
async def end_room(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    who = require_room_admin(request, room_id)
    room = await request.app[ROOM_ROUTER].end_room(room_id, reason=f"ended by {who.identity}")
    return json_ok(RoomOut.of(room).wire())


@routes.put("/api/v1/rooms/{room_id}/bandwidth")
@describe(
    "Cap publishers' video bitrate: the room's, or one participant's (0 removes it)",
    body=Bandwidth,
    response=BandwidthOut,
    errors=(404, 409),
)
async def set_bandwidth(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    require_room_admin(request, room_id)
    body = await parse_body(request, Bandwidth)
    # applied where the publishers are: on the room's node
    room_kbps = await request.app[ROOM_ROUTER].set_bandwidth(
        room_id, body.video_kbps, body.identity
    )
    applied = BandwidthOut(
        room_id=room_id,
        identity=body.identity,
        video_kbps=body.video_kbps,
        room_max_video_kbps=room_kbps,
    )
    return json_ok(applied.model_dump(mode="json"))


@routes.post("/api/v1/rooms/{room_id}/tokens")
@describe(
    "Mint a join token and link for a participant",
    status=201,
    body=CreateToken,
    response=JoinTokenOut,
    errors=(404, 409),
    limited=True,
)
async def create_token(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    limit(request, "token", who.identity)
    body = await parse_body(request, CreateToken)
    rooms = request.app[ROOMS]
    room = await rooms.get_room(request.match_info["room_id"])
    now = request.app[CLOCK].now()
    ttl = link_ttl(
        timedelta(seconds=body.ttl or request.app[SETTINGS].token_ttl),
        session_left=who.expires_at - now if who.session is not None else None,
        long_link=body.long_link,
    )
    grants = Grants(**body.grants.model_dump(), hidden=True) if body.grants else None
    token = rooms.issue_token(
        room,
        identity=body.identity,
        role=body.role,
        name=body.name,
        ttl=ttl,
        grants=grants,
        minted_by=who.minter,
    )
    base = request.app[BASE_URL][0]
    return json_ok(
        {
            "token": token,
            "join_url": f"{base}/room/{room.id}#token={token}",
            "room_id": room.id,
            "identity": body.identity,
            "role": body.role.value,
            "expires_in": int(ttl.total_seconds()),
            "expires_at": utc_iso(now + ttl),
        },
        status=201,
    )


# the live room's controls for the dashboard: the same as a room admin's in the room ----------
_PERSON = "/api/v1/rooms/{room_id}/participants/{identity}"


@routes.post("/api/v1/rooms/{room_id}/lobby/{identity}/admit")
@describe(
    "Admit someone from the room's waiting room (coordinator or room admin); on the case's"
    " audit trail",
    response=PersonActionOut,
    errors=(404,),
)
async def admit(request: web.Request) -> web.Response:
    room_id, identity = request.match_info["room_id"], request.match_info["identity"]
    who = require_room_admin(request, room_id)
    await request.app[ROOM_ROUTER].act(
        room_id, "admit", identity, by=who.identity, role=who.role.value
    )
    return json_ok(PersonActionOut(room_id=room_id, identity=identity, done="admitted").wire())


@routes.post("/api/v1/rooms/{room_id}/lobby/{identity}/decline")
@describe(
    "Turn someone away from the room's waiting room (coordinator or room admin)",
    response=PersonActionOut,
    errors=(404,),
)
async def decline(request: web.Request) -> web.Response:
    room_id, identity = request.match_info["room_id"], request.match_info["identity"]
    who = require_room_admin(request, room_id)
    await request.app[ROOM_ROUTER].act(
        room_id, "decline", identity, by=who.identity, role=who.role.value
    )
    return json_ok(PersonActionOut(room_id=room_id, identity=identity, done="declined").wire())


@routes.delete(_PERSON)
@describe(
    "Remove a participant for good: its link is revoked, a reload does not bring it back"
    " (coordinator or room admin)",
    response=PersonActionOut,
    errors=(404,),
)
async def remove(request: web.Request) -> web.Response:
    room_id, identity = request.match_info["room_id"], request.match_info["identity"]
    who = require_room_admin(request, room_id)
    await request.app[ROOM_ROUTER].act(
        room_id, "remove", identity, by=who.identity, role=who.role.value
    )
    return json_ok(PersonActionOut(room_id=room_id, identity=identity, done="removed").wire())


@routes.post(_PERSON + "/mute")
@describe(
    "Ask a participant to mute its microphone: its page mutes it and says who asked",
    response=PersonActionOut,
    errors=(404, 409),
)
async def request_mute(request: web.Request) -> web.Response:
    room_id, identity = request.match_info["room_id"], request.match_info["identity"]
    who = require_room_admin(request, room_id)
    await request.app[ROOM_ROUTER].act(room_id, "mute", identity, by=who.identity, by_name=who.name)
    return json_ok(
        PersonActionOut(room_id=room_id, identity=identity, done="mute_requested").wire()
    )
