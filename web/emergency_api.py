"""REST handler of the emergency path: one request opens the room and summons the on-duty
expert (``POST /api/v1/emergencies``)."""

from __future__ import annotations

from aiohttp import web

from vidconsult.store.codec import case_doc
from web.cases_api import patient_from_body
from web.http import json_ok, parse_body
from web.openapi import describe
from web.room_views import RoomOut
from web.scope import scope_of
from web.workflow_keys import EMERGENCY
from web.workflow_schemas import EmergencyBody
from web.workflow_views import EmergencyOut

routes = web.RouteTableDef()


@routes.post("/api/v1/emergencies")
@describe(
    "Emergency: open a room now, page the on-duty expert, return join links (a coordinator, "
    "or a unit doctor for their own unit)",
    status=201,
    body=EmergencyBody,
    response=EmergencyOut,
    errors=(404, 409),
)
async def request_emergency(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    who = scope.who
    body = await parse_body(request, EmergencyBody)
    scope.require_unit(body.referring_unit_id)
    opened = await request.app[EMERGENCY].request(
        patient=patient_from_body(body.patient),
        referring_unit_id=body.referring_unit_id,
        referring_doctor=body.referring_doctor,
        specialty=body.specialty,
        clinical_summary=body.clinical_summary,
        by=who.identity,
        requested_language=body.requested_language,
    )
    return json_ok(
        {
            "case": case_doc(opened.case, with_audit=False),
            "room": RoomOut.of(opened.room).wire(),
            "expert": {
                "id": opened.pick.expert_id,
                "source": opened.pick.source.value,
                "busy": opened.pick.busy,
            },
            # a unit doctor gets the unit's own link; the expert's goes to the expert's page
            "links": opened.links
            if scope.coordinator
            else [link for link in opened.links if link["kind"] == "unit"],
            "elapsed_ms": round(opened.elapsed_ms, 1),
        },
        status=201,
    )
