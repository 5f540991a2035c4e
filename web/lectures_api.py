"""REST handlers of remote education (lectures) and of the centre's statistics."""

from __future__ import annotations

from aiohttp import web

from vidconsult.store.codec import booked_room_doc, lecture_doc
from web.guards import limit
from web.http import json_ok, parse_body, parse_query, require_coordinator
from web.openapi import describe
from web.queries import LectureQuery, StatsQuery
from web.workflow_keys import LECTURES, STATISTICS
from web.workflow_schemas import LectureBody
from web.workflow_views import LectureLinks, LectureList, LectureWithRoom, StatsOut

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


@routes.get("/api/v1/stats")
@describe("Statistics per unit and period", query=StatsQuery, response=StatsOut)
async def stats(request: web.Request) -> web.Response:
    require_coordinator(request)
    q = parse_query(request, StatsQuery)
    summary = await request.app[STATISTICS].summary(
        period=q.period, unit_id=q.unit, since=q.since, until=q.until
    )
    return json_ok(summary)
