"""REST handlers of remote education (lectures, their activity and the replay library) and of
the centre's statistics."""

from __future__ import annotations

from aiohttp import web

from vidconsult.domain.access import AccessKind
from vidconsult.domain.booked_rooms import RoomState
from vidconsult.domain.roles import Role
from vidconsult.domain.timeutil import utc_iso
from vidconsult.errors import NotFound, PermissionDenied
from vidconsult.store.codec import booked_room_doc, lecture_doc
from vidconsult.tokens import TokenClaims
from web.guards import limit
from web.http import claims, json_ok, parse_body, parse_query, require_coordinator
from web.keys import ACCESS_LOG, CLOCK, ROOMS
from web.openapi import describe
from web.queries import LectureQuery, StatsQuery
from web.recording_views import SignedLink
from web.recordings_api import RECORDINGS, signed_link
from web.workflow_keys import LECTURES, STATISTICS
from web.workflow_schemas import LectureBody
from web.workflow_views import (
    LectureActivity,
    LectureLinks,
    LectureList,
    LectureWithRoom,
    LibraryOut,
    StatsOut,
)

routes = web.RouteTableDef()


@routes.post("/api/v1/lectures")
@describe(
    "Book a lecture (presenter publishes, audience units watch)",
    status=201,
    body=LectureBody,
    response=LectureWithRoom,
    errors=(404, 409),
)
async def create_lecture(request: web.Request) -> web.Response:
    require_coordinator(request)
    body = await parse_body(request, LectureBody)
    lecture, room = await request.app[LECTURES].create(
        title=body.title,
        presenter_id=body.presenter_id,
        audience_unit_ids=body.audience_unit_ids,
        start=body.start,
        end=body.end,
    )
    return json_ok({**lecture_doc(lecture), "room": booked_room_doc(room)}, status=201)


@routes.get("/api/v1/lectures")
@describe("List lectures", query=LectureQuery, response=LectureList)
async def list_lectures(request: web.Request) -> web.Response:
    require_coordinator(request)
    found = await request.app[LECTURES].list_lectures(parse_query(request, LectureQuery).since)
    return json_ok({"lectures": [lecture_doc(lec) for lec in found]})


@routes.get("/api/v1/lectures/{lecture_id}")
@describe("A lecture", response=LectureWithRoom, errors=(404,))
async def get_lecture(request: web.Request) -> web.Response:
    require_coordinator(request)
    lecture, room = await request.app[LECTURES].get(request.match_info["lecture_id"])
    return json_ok({**lecture_doc(lecture), "room": booked_room_doc(room)})


@routes.get("/api/v1/lectures/{lecture_id}/links")
@describe(
    "Presenter and audience (observer) join links",
    response=LectureLinks,
    errors=(404, 409),
    limited=True,
)
async def lecture_links(request: web.Request) -> web.Response:
    """The presenter's link (publishes) and one per audience unit (observer: watch only)."""
    who = require_coordinator(request)
    limit(request, "token", who.identity)
    # the links name who asked for them: disabling that account revokes them
    links = await request.app[LECTURES].links(
        request.match_info["lecture_id"], minted_by=who.minter
    )
    return json_ok({"lecture_id": request.match_info["lecture_id"], "links": links})


@routes.get("/api/v1/lectures/{lecture_id}/activity")
@describe(
    "Attendance (audience units that came, who is watching now) and the audience's questions "
    "(the room's chat)",
    response=LectureActivity,
    errors=(404,),
)
async def lecture_activity(request: web.Request) -> web.Response:
    require_coordinator(request)
    service = request.app[LECTURES]
    lecture, room = await service.get(request.match_info["lecture_id"])
    watching = [p for p in request.app[ROOMS].participants(room.room_id) if p.role is Role.OBSERVER]
    return json_ok(
        {
            "lecture_id": lecture.id,
            "room_id": room.room_id,
            "room_state": room.state.value,
            **await service.attendance(room),
            "audience_now": len(watching),
            "questions": await service.questions(lecture.id),
        }
    )


def _library_reader(request: web.Request) -> TokenClaims:
    """Coordinators, and the signed-in staff of the units and partner hospitals (a room-less
    expert or doctor token): lectures are teaching, not patient records."""
    who = claims(request)
    if who.is_coordinator or (who.room is None and who.role in (Role.EXPERT, Role.DOCTOR)):
        return who
    raise PermissionDenied("the replay library is for signed-in staff", code="permission_denied")


@routes.get("/api/v1/library")
@describe(
    "The replay library: lectures that have begun (or whose room opened), newest first, with "
    "their recordings, "
    "attendance and number of questions",
    response=LibraryOut,
)
async def library(request: web.Request) -> web.Response:
    _library_reader(request)
    service = request.app[LECTURES]
    recordings = request.app.get(RECORDINGS)
    now = request.app[CLOCK].now()
    entries = []
    for lecture in reversed(await service.list_lectures()):
        _, room = await service.get(lecture.id)
        if lecture.start > now and room.state is RoomState.SCHEDULED:
            continue  # not begun: nothing to watch yet
        found = (
            await recordings.store.list_recordings(room_id=room.room_id, status="completed")
            if recordings is not None
            else []
        )
        entries.append(
            {
                **lecture_doc(lecture),
                "room_id": room.room_id,
                "attendance": await service.attendance(room),
                "questions": len(await service.questions(lecture.id)),
                "recordings": [
                    {
                        "id": r.id,
                        "identity": r.identity,
                        "role": r.role,
                        "kinds": list(r.kinds),
                        "started_at": utc_iso(r.started_at),
                        "duration_ms": r.duration_ms,
                    }
                    for r in found
                ],
            }
        )
    return json_ok({"lectures": entries})


@routes.get("/api/v1/library/recordings/{recording_id}/link")
@describe(
    "A short-lived signed link to play a lecture's recording (Range requests work); the room's "
    "access log records who asked",
    response=SignedLink,
    errors=(404,),
)
async def library_link(request: web.Request) -> web.Response:
    who = _library_reader(request)
    recordings = request.app.get(RECORDINGS)
    if recordings is None:
        raise NotFound("recordings are not available on this server")
    rec = await recordings.get(request.match_info["recording_id"])
    if rec.case_id is not None or await request.app[LECTURES].lecture_of_room(rec.room_id) is None:
        raise NotFound(f"recording {rec.id} is not in the replay library")
    await request.app[ACCESS_LOG].recording(who, rec, AccessKind.RECORDING_PLAY)
    return json_ok(signed_link(request, "recordings", rec.id))


@routes.get("/api/v1/stats")
@describe("Statistics per unit and period", query=StatsQuery, response=StatsOut)
async def stats(request: web.Request) -> web.Response:
    require_coordinator(request)
    q = parse_query(request, StatsQuery)
    summary = await request.app[STATISTICS].summary(
        period=q.period, unit_id=q.unit, since=q.since, until=q.until
    )
    return json_ok(summary)
