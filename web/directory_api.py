"""REST handlers of the directory: units, experts, rosters and the on-duty rota."""

from __future__ import annotations

from aiohttp import web

from vidconsult.domain.experts import Expert, Institution
from vidconsult.domain.rosters import Leave, WeeklyShift
from vidconsult.domain.rota import DutyOverride, DutySlot
from vidconsult.domain.specialties import Specialty, parse_specialty
from vidconsult.domain.units import Unit, parse_tier
from vidconsult.errors import InvalidInput
from vidconsult.store.codec import expert_doc, override_doc, roster_doc, slot_doc, unit_doc
from web.http import json_ok, parse_body, require_coordinator
from web.keys import CLOCK
from web.query import query_instant
from web.workflow_keys import DIRECTORY
from web.workflow_schemas import (
    DutyOverrideBody,
    DutySlotsBody,
    ExpertBody,
    RosterBody,
    UnitBody,
)

routes = web.RouteTableDef()


def unit_from_body(body: UnitBody) -> Unit:
    return Unit(
        body.id, body.name, body.tier, body.time_zone, body.parent_id, tuple(body.consult_rooms)
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


def query_specialty(request: web.Request) -> Specialty | None:
    raw = request.query.get("specialty")
    return parse_specialty(raw) if raw else None


# units ---------------------------------------------------------------------------------------
@routes.post("/api/v1/units")
async def put_unit(request: web.Request) -> web.Response:
    require_coordinator(request)
    unit = unit_from_body(await parse_body(request, UnitBody))
    await request.app[DIRECTORY].put_units([unit])
    return json_ok(unit_doc(unit), status=201)


@routes.get("/api/v1/units")
async def list_units(request: web.Request) -> web.Response:
    require_coordinator(request)
    tier = request.query.get("tier")
    units = await request.app[DIRECTORY].units(parse_tier(tier) if tier else None)
    return json_ok({"units": [unit_doc(u) for u in units]})


@routes.get("/api/v1/units/{unit_id}")
async def get_unit(request: web.Request) -> web.Response:
    require_coordinator(request)
    return json_ok(unit_doc(await request.app[DIRECTORY].unit(request.match_info["unit_id"])))


# experts and rosters -------------------------------------------------------------------------
@routes.post("/api/v1/experts")
async def put_expert(request: web.Request) -> web.Response:
    require_coordinator(request)
    expert = expert_from_body(await parse_body(request, ExpertBody))
    await request.app[DIRECTORY].put_experts([expert])
    return json_ok(expert_doc(expert), status=201)


@routes.get("/api/v1/experts")
async def list_experts(request: web.Request) -> web.Response:
    require_coordinator(request)
    experts = await request.app[DIRECTORY].experts(query_specialty(request))
    return json_ok({"experts": [expert_doc(e) for e in experts]})


@routes.get("/api/v1/experts/{expert_id}")
async def get_expert(request: web.Request) -> web.Response:
    require_coordinator(request)
    expert = await request.app[DIRECTORY].expert(request.match_info["expert_id"])
    return json_ok(expert_doc(expert))


@routes.put("/api/v1/experts/{expert_id}/roster")
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
async def get_roster(request: web.Request) -> web.Response:
    require_coordinator(request)
    return json_ok(roster_doc(await request.app[DIRECTORY].roster(request.match_info["expert_id"])))


# rota ----------------------------------------------------------------------------------------
@routes.get("/api/v1/rota")
async def get_rota(request: web.Request) -> web.Response:
    require_coordinator(request)
    rota = await request.app[DIRECTORY].rota()
    return json_ok(
        {
            "slots": [slot_doc(s) for s in rota.slots],
            "overrides": [override_doc(o) for o in rota.overrides],
        }
    )


@routes.put("/api/v1/rota/{specialty}")
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
async def add_override(request: web.Request) -> web.Response:
    require_coordinator(request)
    body = await parse_body(request, DutyOverrideBody)
    override = DutyOverride(body.specialty, body.expert_id, body.start, body.end)
    override_id = await request.app[DIRECTORY].add_override(override)
    return json_ok({"id": override_id, **override_doc(override)}, status=201)


@routes.delete("/api/v1/rota/overrides/{override_id}")
async def delete_override(request: web.Request) -> web.Response:
    require_coordinator(request)
    await request.app[DIRECTORY].delete_override(request.match_info["override_id"])
    return json_ok({"ok": True})


@routes.get("/api/v1/rota/on-duty")
async def on_duty(request: web.Request) -> web.Response:
    require_coordinator(request)
    specialty = query_specialty(request)
    if specialty is None:
        raise InvalidInput("specialty is required")
    at = query_instant(request, "at") or request.app[CLOCK].now()
    experts = await request.app[DIRECTORY].on_duty(specialty, at)
    return json_ok(
        {"specialty": specialty.value, "at": at.isoformat(), "expert_ids": list(experts)}
    )
