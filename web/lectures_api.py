"""REST handlers of remote education (lectures) and of the centre's statistics."""

from __future__ import annotations

from aiohttp import web

from vidconsult.domain.statistics import Period
from vidconsult.store.codec import booked_room_doc, lecture_doc
from web.guards import limit
from web.http import json_ok, parse_body, require_coordinator
from web.query import query_enum, query_instant
from web.workflow_keys import LECTURES, STATISTICS
from web.workflow_schemas import LectureBody

routes = web.RouteTableDef()


@routes.post("/api/v1/lectures")
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
async def list_lectures(request: web.Request) -> web.Response:
    require_coordinator(request)
    found = await request.app[LECTURES].list_lectures(query_instant(request, "since"))
    return json_ok({"lectures": [lecture_doc(lec) for lec in found]})


@routes.get("/api/v1/lectures/{lecture_id}")
async def get_lecture(request: web.Request) -> web.Response:
    require_coordinator(request)
    lecture, room = await request.app[LECTURES].get(request.match_info["lecture_id"])
    return json_ok({**lecture_doc(lecture), "room": booked_room_doc(room)})


@routes.get("/api/v1/lectures/{lecture_id}/links")
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
async def stats(request: web.Request) -> web.Response:
    require_coordinator(request)
    period = query_enum(request, Period, "period") or Period.MONTH
    summary = await request.app[STATISTICS].summary(
        period=period,
        unit_id=request.query.get("unit") or None,
        since=query_instant(request, "since"),
        until=query_instant(request, "until"),
    )
    return json_ok(summary)
