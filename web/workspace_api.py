"""REST handlers of the workspaces (``/workspace``): an expert's and a unit doctor's own
cases, join links for their own seat, an expert's roster and leave requests, and the
coordinators' list of leave requests to approve or decline."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vidconsult.domain.leave_requests import LeaveRequest, LeaveStatus
from vidconsult.errors import PermissionDenied
from vidconsult.store.codec import (
    booked_room_doc,
    booking_doc,
    case_doc,
    expert_doc,
    roster_doc,
    unit_doc,
)
from web.guards import limit
from web.http import json_ok, parse_body, parse_query, require_coordinator
from web.keys import SETTINGS
from web.openapi import describe
from web.queries import SpecialtyField
from web.room_views import Instant
from web.scope import Scope, scope_of
from web.workflow_keys import DIRECTORY, LEAVE, WORKSPACE
from web.workflow_views import (
    BookedRoomOut,
    BookingOut,
    CaseSummary,
    ExpertOut,
    JoinLink,
    RosterOut,
    UnitOut,
)

routes = web.RouteTableDef()
CASE_PATH = {"case_id": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,64}$"}}
LEAVE_PATH = {"request_id": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,64}$"}}


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceMe(_Out):
    identity: str
    name: str
    kind: Literal["expert", "unit"]
    centre_time_zone: str
    expert: ExpertOut | None = Field(description="the signed-in expert (kind expert)")
    unit: UnitOut | None = Field(description="the unit doctor's unit (kind unit)")


class BookedExpertOut(_Out):
    id: str
    name: str = Field(description="the expert's display name")
    specialties: list[SpecialtyField]


class WorkspaceCase(_Out):
    case: CaseSummary = Field(description="with the report and referral once filed")
    unit: UnitOut
    booking: BookingOut | None
    experts: list[BookedExpertOut] = Field(
        description="the booked experts, whom the patient will see (a panel's all, not its "
        "interpreter); empty without a booking"
    )
    room: BookedRoomOut | None = Field(description="the booked room and its window")
    emergency_room_id: str | None = Field(description="the emergency's room while it is open")
    interpreting: bool = Field(
        description="the caller is booked as this case's interpreter, not one of its experts"
    )


class WorkspaceCases(_Out):
    cases: list[WorkspaceCase]


class MyLinks(_Out):
    case_id: str
    links: list[JoinLink]


class LeaveRequestOut(_Out):
    id: str
    expert_id: str
    start: Instant
    end: Instant
    reason: str
    requested_at: Instant
    status: LeaveStatus
    decided_by: str | None
    decided_at: Instant | None
    note: str


class LeaveRequestList(_Out):
    leave_requests: list[LeaveRequestOut]


class MyRoster(_Out):
    roster: RosterOut
    leave_requests: list[LeaveRequestOut]


class LeaveRequestBody(_Body):
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(default="", max_length=500)


class DecisionBody(_Body):
    note: str = Field(default="", max_length=500)


class LeaveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: LeaveStatus | None = None


def _leave_doc(r: LeaveRequest) -> dict[str, Any]:
    return LeaveRequestOut(
        id=r.id,
        expert_id=r.expert_id,
        start=r.start,
        end=r.end,
        reason=r.reason,
        requested_at=r.requested_at,
        status=r.status,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        note=r.note,
    ).model_dump(mode="json")


async def _person(request: web.Request) -> Scope:
    """An expert (room-less token) or a unit doctor signed in."""
    scope = await scope_of(request)
    if scope.expert_id is None and scope.unit_id is None:
        raise PermissionDenied(
            "the workspace is for experts and unit doctors signed in", code="not_workspace"
        )
    return scope


async def _expert(request: web.Request) -> str:
    scope = await _person(request)
    if scope.expert_id is None:
        raise PermissionDenied("this is for experts", code="not_expert")
    return scope.expert_id


@routes.get("/api/v1/workspace")
@describe("Who the workspace is for: the expert, or the unit doctor's unit", response=WorkspaceMe)
async def me(request: web.Request) -> web.Response:
    scope = await _person(request)
    directory = request.app[DIRECTORY]
    expert = await directory.expert(scope.expert_id) if scope.expert_id else None
    unit = await directory.unit(scope.unit_id) if scope.unit_id else None
    return json_ok(
        {
            "identity": scope.who.identity,
            "name": scope.who.name,
            "kind": "expert" if expert is not None else "unit",
            "centre_time_zone": request.app[SETTINGS].centre_time_zone,
            "expert": expert_doc(expert) if expert else None,
            "unit": unit_doc(unit) if unit else None,
        }
    )


@routes.get("/api/v1/workspace/cases")
@describe(
    "The caller's cases (an expert's, or the unit's; an interpreter's: those they are booked "
    "to interpret), upcoming first, with the unit, the booking and its room window, and the "
    "open emergency room",
    response=WorkspaceCases,
)
async def my_cases(request: web.Request) -> web.Response:
    scope = await _person(request)
    items = await request.app[WORKSPACE].cases(expert_id=scope.expert_id, unit_id=scope.unit_id)
    return json_ok(
        {
            "cases": [
                {
                    "case": case_doc(i.case, with_audit=False),
                    "unit": unit_doc(i.unit),
                    "booking": booking_doc(i.booking) if i.booking else None,
                    "experts": [
                        {
                            "id": e.id,
                            "name": e.name,
                            "specialties": sorted(s.value for s in e.specialties),
                        }
                        for e in i.experts
                    ],
                    "room": booked_room_doc(i.booked_room) if i.booked_room else None,
                    "emergency_room_id": i.emergency_room.id if i.emergency_room else None,
                    "interpreting": i.interpreting,
                }
                for i in items
            ]
        }
    )


@routes.post("/api/v1/workspace/cases/{case_id}/join")
@describe(
    "Join links of the caller's own seat in the case's room (the expert's; the unit's patient "
    "and referring doctor, or its screen in an emergency room)",
    response=MyLinks,
    errors=(404, 409),
    limited=True,
    path=CASE_PATH,
)
async def join(request: web.Request) -> web.Response:
    scope = await _person(request)
    limit(request, "token", scope.who.identity)
    case_id = request.match_info["case_id"]
    links = await request.app[WORKSPACE].links(
        case_id,
        expert_id=scope.expert_id,
        unit_id=scope.unit_id,
        name=scope.who.name,
        minted_by=scope.who.minter,
    )
    return json_ok({"case_id": case_id, "links": links})


@routes.get("/api/v1/workspace/roster")
@describe("The expert's roster (in their zone) and leave requests", response=MyRoster)
async def my_roster(request: web.Request) -> web.Response:
    expert_id = await _expert(request)
    roster = await request.app[DIRECTORY].roster(expert_id)
    found = await request.app[LEAVE].list(expert_id=expert_id)
    return json_ok({"roster": roster_doc(roster), "leave_requests": [_leave_doc(r) for r in found]})


@routes.post("/api/v1/workspace/leave-requests")
@describe(
    "Ask for leave (a coordinator approves it)",
    status=201,
    body=LeaveRequestBody,
    response=LeaveRequestOut,
)
async def request_leave(request: web.Request) -> web.Response:
    expert_id = await _expert(request)
    body = await parse_body(request, LeaveRequestBody)
    created = await request.app[LEAVE].request(expert_id, body.start, body.end, body.reason)
    return json_ok(_leave_doc(created), status=201)


@routes.get("/api/v1/leave-requests")
@describe("Experts' leave requests, newest first", query=LeaveQuery, response=LeaveRequestList)
async def list_leave(request: web.Request) -> web.Response:
    require_coordinator(request)
    status = parse_query(request, LeaveQuery).status
    found = await request.app[LEAVE].list(status=status)
    return json_ok({"leave_requests": [_leave_doc(r) for r in found]})


async def _decide(request: web.Request, approve: bool) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, DecisionBody)
    decided = await request.app[LEAVE].decide(
        request.match_info["request_id"], approve, by=who.identity, note=body.note
    )
    return json_ok(_leave_doc(decided))


@routes.post("/api/v1/leave-requests/{request_id}/approve")
@describe(
    "Approve a leave request: the leave goes on the expert's roster",
    body=DecisionBody,
    response=LeaveRequestOut,
    errors=(404, 409),
    path=LEAVE_PATH,
)
async def approve_leave(request: web.Request) -> web.Response:
    return await _decide(request, True)


@routes.post("/api/v1/leave-requests/{request_id}/decline")
@describe(
    "Decline a leave request",
    body=DecisionBody,
    response=LeaveRequestOut,
    errors=(404, 409),
    path=LEAVE_PATH,
)
async def decline_leave(request: web.Request) -> web.Response:
    return await _decide(request, False)
