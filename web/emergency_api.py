"""REST handlers of the emergency path: one request opens the room and summons the on-duty
expert (``POST /api/v1/emergencies``); a withdrawal closes it (``POST
/api/v1/emergencies/{case_id}/withdraw``)."""

from __future__ import annotations

from aiohttp import web

from vidconsult.store.codec import case_doc
from web.cases_api import patient_from_body
from web.http import json_ok, parse_body
from web.openapi import describe
from web.room_views import RoomOut
from web.scope import scope_of
from web.workflow_keys import CASES, EMERGENCY
from web.workflow_schemas import EmergencyBody, ReasonBody
from web.workflow_views import CaseOut, EmergencyOut

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


@routes.post("/api/v1/emergencies/{case_id}/withdraw")
@describe(
    "Withdraw an emergency (a coordinator, or a doctor of the unit that requested it): its case "
    "is cancelled, its pages stop and its room closes now; everyone in it, and anyone who "
    "opens a link to it later, is told it was withdrawn and by whom (the centre or the unit). "
    "409 expert_joined once an expert is in the room (end it with the report, or end the "
    "room), not_emergency for a routine case, illegal_transition when it has ended; 503 "
    "node_unavailable when the room's node cannot say who is in it, or does not answer the "
    "room's end once the case is cancelled: the retry then ends the room (200, the same "
    "outcome) as long as it is open",
    body=ReasonBody,
    response=CaseOut,
    errors=(403, 404, 409, 503),
)
async def withdraw_emergency(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    body = await parse_body(request, ReasonBody)
    case = await request.app[CASES].get(request.match_info["case_id"])
    scope.require_unit(case.referring_unit_id)
    withdrawn = await request.app[EMERGENCY].withdraw(
        case.id, by=scope.who.identity, by_unit=not scope.coordinator, reason=body.reason
    )
    return json_ok(case_doc(withdrawn))
