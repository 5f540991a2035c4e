"""REST handlers of the directory: units, experts, rosters and the on-duty rota."""

from __future__ import annotations

from aiohttp import web

from vidconsult.domain.experts import Expert, Institution
from vidconsult.domain.rosters import Leave, WeeklyShift
from vidconsult.domain.rota import DutyOverride, DutySlot
from vidconsult.domain.specialties import SLUG_PATTERN, parse_specialty
from vidconsult.domain.units import Unit
from vidconsult.store.codec import expert_doc, override_doc, roster_doc, slot_doc, unit_doc
from web.account_views import Ok
from web.http import json_ok, parse_body, parse_query, require_coordinator
from web.keys import CLOCK
from web.openapi import describe
from web.queries import ExpertQuery, OnDutyQuery, UnitQuery
from web.workflow_keys import DIRECTORY
from web.workflow_schemas import (
    DutyOverrideBody,
    DutySlotsBody,
    ExpertBody,
    RosterBody,
    UnitBody,
)
from web.workflow_views import (
    DutySlotsOut,
    ExpertList,
    ExpertOut,
    NewDutyOverride,
    OnDutyOut,
    RosterOut,
    RotaOut,
    UnitList,
    UnitOut,
)

routes = web.RouteTableDef()
# a specialty in a path: a slug's shape, never "overrides", so that /rota/on-duty and
# /rota/overrides are never taken for one (PUT there is 405, not "unknown specialty")
SPECIALTY = r"(?!(?i:overrides)$)[A-Za-z][A-Za-z0-9_]+"


def unit_from_body(body: UnitBody) -> Unit:
    return Unit(
        body.id,
        body.name,
        body.tier,
        body.time_zone,
        body.parent_id,
        tuple(body.consult_rooms),
        tuple(WeeklyShift(w.weekday, w.start, w.end) for w in body.consult_hours),
    )


def expert_from_body(body: ExpertBody) -> Expert:
    inst = body.institution
    return Expert(
        body.id,
        body.name,
        Institution(inst.id, inst.name, inst.kind, inst.country),
        frozenset(body.specialties),
        frozenset(body.languages),
        body.time_zone,
    )


# units ---------------------------------------------------------------------------------------
@routes.post("/api/v1/units")
@describe("Create or replace a unit", status=201, body=UnitBody, response=UnitOut)
async def put_unit(request: web.Request) -> web.Response:
    require_coordinator(request)
    unit = unit_from_body(await parse_body(request, UnitBody))
    await request.app[DIRECTORY].put_units([unit])
    return json_ok(unit_doc(unit), status=201)


@routes.get("/api/v1/units")
@describe("List member units", query=UnitQuery, response=UnitList)
async def list_units(request: web.Request) -> web.Response:
    require_coordinator(request)
    units = await request.app[DIRECTORY].units(parse_query(request, UnitQuery).tier)
    return json_ok({"units": [unit_doc(u) for u in units]})


@routes.get("/api/v1/units/{unit_id}")
@describe("A unit", response=UnitOut, errors=(404,))
async def get_unit(request: web.Request) -> web.Response:
    require_coordinator(request)
    return json_ok(unit_doc(await request.app[DIRECTORY].unit(request.match_info["unit_id"])))


@routes.delete("/api/v1/units/{unit_id}")
@describe(
    "Delete a unit nothing refers to (409 in_use: a unit with cases on record, or the parent "
    "of another, stays for the record)",
    response=Ok,
    errors=(404, 409),
)
async def delete_unit(request: web.Request) -> web.Response:
    require_coordinator(request)
    await request.app[DIRECTORY].delete_unit(request.match_info["unit_id"])
    return json_ok(Ok().model_dump(mode="json"))


# experts and rosters -------------------------------------------------------------------------
@routes.post("/api/v1/experts")
@describe("Create or replace an expert", status=201, body=ExpertBody, response=ExpertOut)
async def put_expert(request: web.Request) -> web.Response:
    require_coordinator(request)
    expert = expert_from_body(await parse_body(request, ExpertBody))
    await request.app[DIRECTORY].put_experts([expert])
    return json_ok(expert_doc(expert), status=201)


@routes.get("/api/v1/experts")
@describe("List experts", query=ExpertQuery, response=ExpertList)
async def list_experts(request: web.Request) -> web.Response:
    require_coordinator(request)
    experts = await request.app[DIRECTORY].experts(parse_query(request, ExpertQuery).specialty)
    return json_ok({"experts": [expert_doc(e) for e in experts]})


@routes.get("/api/v1/experts/{expert_id}")
@describe("An expert", response=ExpertOut, errors=(404,))
async def get_expert(request: web.Request) -> web.Response:
    require_coordinator(request)
    expert = await request.app[DIRECTORY].expert(request.match_info["expert_id"])
    return json_ok(expert_doc(expert))


@routes.delete("/api/v1/experts/{expert_id}")
@describe(
    "Delete an expert (and their roster) nothing refers to (409 in_use: one with bookings or "
    "cases on record stays for the record; one on the rota is taken off it first)",
    response=Ok,
    errors=(404, 409),
)
async def delete_expert(request: web.Request) -> web.Response:
    require_coordinator(request)
    await request.app[DIRECTORY].delete_expert(request.match_info["expert_id"])
    return json_ok(Ok().model_dump(mode="json"))


@routes.put("/api/v1/experts/{expert_id}/roster")
@describe("Replace the expert's roster", body=RosterBody, response=RosterOut, errors=(404,))
async def put_roster(request: web.Request) -> web.Response:
    require_coordinator(request)
    body = await parse_body(request, RosterBody)
    roster = await request.app[DIRECTORY].set_roster(
        request.match_info["expert_id"],
        [WeeklyShift(s.weekday, s.start, s.end) for s in body.shifts],
        [Leave(lv.start, lv.end, lv.reason) for lv in body.leave],
        body.holidays,
    )
    return json_ok(roster_doc(roster))


@routes.get("/api/v1/experts/{expert_id}/roster")
@describe(
    "The expert's roster (shifts in the expert's zone, leave, holidays)",
    response=RosterOut,
    errors=(404,),
)
async def get_roster(request: web.Request) -> web.Response:
    require_coordinator(request)
    return json_ok(roster_doc(await request.app[DIRECTORY].roster(request.match_info["expert_id"])))


# rota ----------------------------------------------------------------------------------------
@routes.get("/api/v1/rota")
@describe("The on-duty rota: weekly slots and dated overrides", response=RotaOut)
async def get_rota(request: web.Request) -> web.Response:
    require_coordinator(request)
    rota = await request.app[DIRECTORY].rota()
    return json_ok(
        {
            "slots": [slot_doc(s) for s in rota.slots],
            "overrides": [override_doc(o) for o in rota.overrides],
        }
    )


@routes.put(f"/api/v1/rota/{{specialty:{SPECIALTY}}}")
@describe(
    "Replace one specialty's weekly duty slots",
    body=DutySlotsBody,
    response=DutySlotsOut,
    path={"specialty": {"type": "string", "pattern": SLUG_PATTERN}},
    errors=(404,),
)
async def put_duty_slots(request: web.Request) -> web.Response:
    require_coordinator(request)
    specialty = parse_specialty(request.match_info["specialty"])
    body = await parse_body(request, DutySlotsBody)
    slots = [
        DutySlot(specialty, s.expert_id, WeeklyShift(s.weekday, s.start, s.end), s.time_zone)
        for s in body.slots
    ]
    await request.app[DIRECTORY].set_duty_slots(specialty, slots)
    return json_ok({"specialty": specialty.value, "slots": [slot_doc(s) for s in slots]})


@routes.post("/api/v1/rota/overrides")
@describe(
    "Add a dated duty override. Where overrides overlap, the most recently created one is "
    "paged first, older ones after it",
    status=201,
    body=DutyOverrideBody,
    response=NewDutyOverride,
)
async def add_override(request: web.Request) -> web.Response:
    require_coordinator(request)
    body = await parse_body(request, DutyOverrideBody)
    override = DutyOverride(body.specialty, body.expert_id, body.start, body.end)
    added = await request.app[DIRECTORY].add_override(override)
    return json_ok(override_doc(added), status=201)


@routes.delete("/api/v1/rota/overrides/{override_id}")
@describe("Delete a duty override", response=Ok, errors=(404,))
async def delete_override(request: web.Request) -> web.Response:
    require_coordinator(request)
    await request.app[DIRECTORY].delete_override(request.match_info["override_id"])
    return json_ok(Ok().model_dump(mode="json"))


@routes.get("/api/v1/rota/on-duty")
@describe("Who is on duty", query=OnDutyQuery, response=OnDutyOut)
async def on_duty(request: web.Request) -> web.Response:
    require_coordinator(request)
    query = parse_query(request, OnDutyQuery)
    specialty = query.specialty
    at = query.at or request.app[CLOCK].now()
    experts = await request.app[DIRECTORY].on_duty(specialty, at)
    answer = OnDutyOut(specialty=specialty, at=at, expert_ids=list(experts))
    return json_ok(answer.model_dump(mode="json"))
