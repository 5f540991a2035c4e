"""REST handlers of cases: create, read, list, cancel and move them; book them (earliest slot
or an explicit one); the report (+ referral) that completes them; bookings and their links.

Experts authenticate with a token whose role is ``expert`` and identity is their expert id:
room-less (``vidconsult token --role expert --identity <expert id>``) or the join token of the
case's room. Everything else needs a coordinator token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vidconsult.domain.booked_rooms import BookedRoom
from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import Case, Patient, Urgency
from vidconsult.domain.experts import Expert
from vidconsult.domain.outcomes import Referral
from vidconsult.domain.roles import Role
from vidconsult.domain.timeutil import utc_iso
from vidconsult.errors import Conflict, InvalidInput, PermissionDenied
from vidconsult.services.booking import ExplicitSlot
from vidconsult.store.base_workflow import CaseFilter
from vidconsult.store.codec import booked_room_doc, booking_doc, case_doc, referral_doc, unit_doc
from web.access_api import merged_audit
from web.guards import limit
from web.http import claims, json_ok, parse_body, parse_query, require_coordinator
from web.keys import ACCESS_LOG
from web.openapi import describe
from web.queries import BookingQuery, CaseQuery, ReferralQuery, SlotPickerQuery
from web.scope import scope_of
from web.workflow_keys import BOOKING, CASES, OUTCOMES
from web.workflow_schemas import (
    BookingBody,
    CaseBody,
    PatientBody,
    ReasonBody,
    ReferralBody,
    ReportBody,
    RescheduleBody,
    TransitionBody,
)
from web.workflow_views import (
    BookingLinks,
    BookingList,
    BookingWithRoom,
    CaseBooked,
    CaseList,
    CaseOut,
    CaseSummary,
    ReferralList,
    SlotChoiceOut,
)

routes = web.RouteTableDef()


def patient_from_body(body: PatientBody) -> Patient:
    return Patient(body.name, body.sex, body.birth_date, body.age_years, body.id_number)


def referral_from_body(body: ReferralBody | None) -> Referral | None:
    if body is None:
        return None
    return Referral(
        body.target_hospital, body.department, body.priority, body.green_channel, body.reason
    )


def booking_view(booking: Booking, room: BookedRoom) -> dict[str, Any]:
    return {**booking_doc(booking), "room": booked_room_doc(room)}


@routes.post("/api/v1/cases")
@describe(
    "Open a routine case (requested): a coordinator, or a unit doctor for their own unit",
    status=201,
    body=CaseBody,
    response=CaseOut,
)
async def create_case(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    who = scope.who
    body = await parse_body(request, CaseBody)
    scope.require_unit(body.referring_unit_id)
    if body.urgency is Urgency.EMERGENCY:
        raise InvalidInput(
            "emergency requests go to POST /api/v1/emergencies", code="use_emergency_endpoint"
        )
    service = request.app[CASES]
    case = await service.new_case(
        patient=patient_from_body(body.patient),
        referring_unit_id=body.referring_unit_id,
        referring_doctor=body.referring_doctor,
        specialty=body.specialty,
        urgency=body.urgency,
        clinical_summary=body.clinical_summary,
        by=who.identity,
        requested_expert_id=body.requested_expert_id,
        requested_language=body.requested_language,
        interpreter_needed=body.interpreter_needed,
    )
    return json_ok(case_doc(await service.add(case)), status=201)


@routes.get("/api/v1/cases")
@describe(
    "List cases, newest first (a unit doctor: their unit's only; an expert: their own only)",
    query=CaseQuery,
    response=CaseList,
)
async def list_cases(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    q = parse_query(request, CaseQuery)
    unit, expert = q.unit, q.expert
    if not scope.coordinator:
        if scope.unit_id is not None:
            scope.require_unit(unit or scope.unit_id)
            unit = scope.unit_id
        elif scope.expert_id is not None:
            if expert not in (None, scope.expert_id):
                raise PermissionDenied("an expert lists their own cases", code="not_your_case")
            expert = scope.expert_id
        else:
            require_coordinator(request)
    query = CaseFilter(
        status=q.status,
        unit_id=unit,
        specialty=q.specialty,
        urgency=q.urgency,
        expert_id=expert,
        requested_from=q.since,
        requested_to=q.until,
        limit=q.limit,
    )
    cases = await request.app[CASES].list_cases(query)
    return json_ok({"cases": [case_doc(c, with_audit=False) for c in cases]})


@routes.get("/api/v1/cases/{case_id}")
@describe(
    "A case with its audit trail (coordinator, the case's expert, or its unit's doctor)",
    response=CaseOut,
    errors=(404,),
)
async def get_case(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    who = scope.who
    case = await request.app[CASES].get(request.match_info["case_id"])
    if not _is_case_expert(who, case) and not (who.room is None and scope.may_read(case)):
        raise PermissionDenied(
            "only a coordinator, the case's expert or its unit's doctor may read it",
            code="not_your_case",
        )
    doc = case_doc(case)
    if who.is_coordinator and ACCESS_LOG in request.app:
        # who read its recordings and attachments: for coordinators only
        doc["audit"] = merged_audit(doc["audit"], await request.app[ACCESS_LOG].of_case(case.id))
    return json_ok(doc)


@routes.get("/api/v1/cases/{case_id}/summary")
@describe(
    "The case as its consultation room shows it: the summary without the audit trail or the "
    "patient's ID number. A coordinator, or a room token bound to this case (claim `case`); "
    "every read is on the case's access log (`case.view`)",
    response=CaseSummary,
    errors=(404,),
)
async def case_summary(request: web.Request) -> web.Response:
    who = claims(request)
    case_id = request.match_info["case_id"]
    if not who.is_coordinator and who.case != case_id:
        raise PermissionDenied("this token is not valid for this case", code="wrong_case")
    case = await request.app[CASES].get(case_id)
    doc = case_doc(case, with_audit=False)
    doc["patient"] = {**doc["patient"], "id_number": None}  # not needed in the room
    if ACCESS_LOG in request.app:
        await request.app[ACCESS_LOG].case(who, case.id)
    return json_ok(doc)


def _is_case_expert(who: Any, case: Case) -> bool:
    return (
        who.role is Role.EXPERT
        and who.identity in case.expert_ids
        and (who.room is None or who.case == case.id)
    )


@routes.post("/api/v1/cases/{case_id}/cancel")
@describe(
    "Cancel a case (frees its booking, ends its room)",
    body=ReasonBody,
    response=CaseOut,
    errors=(404, 409),
)
async def cancel_case(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, ReasonBody)
    case = await request.app[BOOKING].cancel_case(
        request.match_info["case_id"], by=who.identity, reason=body.reason
    )
    return json_ok(case_doc(case))


@routes.post("/api/v1/cases/{case_id}/transitions")
@describe(
    "Move a case by hand (in_progress, no_show, cancelled, requested)",
    body=TransitionBody,
    response=CaseOut,
    errors=(404, 409),
)
async def transition(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, TransitionBody)
    case = await request.app[BOOKING].transition(
        request.match_info["case_id"], body.to, by=who.identity, reason=body.reason
    )
    return json_ok(case_doc(case))


@routes.post("/api/v1/cases/{case_id}/booking")
@describe(
    "Book: the earliest slot within the SLA (empty body; flagged sla_breach when none meets "
    "it) or an explicit expert and time, optionally a panel of more experts and an interpreter "
    "in the same slot and room (all or none)",
    status=201,
    body=BookingBody,
    response=CaseBooked,
    errors=(404, 409),
)
async def book_case(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, BookingBody)
    slot = None
    if body.expert_id is not None and body.start is not None:
        slot = ExplicitSlot(
            body.expert_id,
            body.start,
            body.end,
            body.allow_off_roster,
            tuple(body.panel),
            body.interpreter_id,
        )
    booked = await request.app[BOOKING].book(
        request.match_info["case_id"], by=who.identity, slot=slot
    )
    return json_ok(
        {
            "case": case_doc(booked.case, with_audit=False),
            "booking": booking_view(booked.booking, booked.room),
        },
        status=201,
    )


@routes.get("/api/v1/cases/{case_id}/slots")
@describe(
    "The slot picker: experts who fit the case, bookable interpreters and free slots in the "
    "next working days inside the unit's consult hours (each expert's own, or a panel's)",
    query=SlotPickerQuery,
    response=SlotChoiceOut,
    errors=(404,),
)
async def case_slots(request: web.Request) -> web.Response:
    require_coordinator(request)
    query = parse_query(request, SlotPickerQuery)
    expert_ids = tuple(e.strip() for e in (query.experts or "").split(",") if e.strip())
    choice = await request.app[BOOKING].slot_choice(
        request.match_info["case_id"],
        expert_ids=expert_ids,
        interpreter_id=query.interpreter,
        working_days=query.days,
        limit=query.limit,
    )

    def person(e: Expert) -> dict[str, Any]:
        return {
            "id": e.id,
            "name": e.name,
            "time_zone": e.time_zone,
            "institution": e.institution.name,
            "international": e.is_international,
            "languages": sorted(e.languages),
        }

    unit = unit_doc(choice.unit)
    answer = {
        "case_id": choice.case.id,
        "specialty": choice.case.specialty.value,
        "centre_time_zone": request.app[BOOKING].policy.calendar.time_zone,
        "unit": {k: unit[k] for k in ("id", "name", "time_zone", "consult_hours")},
        "experts": [person(e) for e in choice.experts],
        "interpreters": [person(e) for e in choice.interpreters],
        "slot_minutes": int(choice.length.total_seconds() // 60),
        "until": utc_iso(choice.until),
        "sla_deadline": utc_iso(choice.sla_deadline),
        "slots": [
            {
                "start": utc_iso(s.start),
                "end": utc_iso(s.end),
                "expert_ids": list(s.expert_ids),
                "interpreter_id": s.interpreter_id,
                "sla_breach": s.end > choice.sla_deadline,
            }
            for s in choice.slots
        ],
    }
    return json_ok(answer)


@routes.post("/api/v1/cases/{case_id}/reschedule")
@describe(
    "Move a scheduled case to another slot (same or other experts); the old booking is "
    "cancelled and booking.rescheduled tells the parties; a refused slot leaves it as it was",
    body=RescheduleBody,
    response=CaseBooked,
    errors=(404, 409),
)
async def reschedule_case(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, RescheduleBody)
    slot = ExplicitSlot(
        body.expert_id,
        body.start,
        body.end,
        body.allow_off_roster,
        tuple(body.panel),
        body.interpreter_id,
    )
    booked = await request.app[BOOKING].reschedule(
        request.match_info["case_id"], slot, by=who.identity, reason=body.reason
    )
    return json_ok(
        {
            "case": case_doc(booked.case, with_audit=False),
            "booking": booking_view(booked.booking, booked.room),
        }
    )


@routes.delete("/api/v1/cases/{case_id}/booking")
@describe(
    "Release the booking; the case goes back to requested",
    body=ReasonBody,
    response=CaseOut,
    errors=(404, 409),
)
async def release_booking(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, ReasonBody)
    case = await request.app[BOOKING].release(
        request.match_info["case_id"], by=who.identity, reason=body.reason
    )
    return json_ok(case_doc(case))


@routes.post("/api/v1/cases/{case_id}/report")
@describe(
    "The report (+ referral), signed by the case's expert token; completes the case",
    body=ReportBody,
    response=CaseOut,
    errors=(404, 409),
)
async def submit_report(request: web.Request) -> web.Response:
    who = claims(request)
    body = await parse_body(request, ReportBody)
    case = await request.app[OUTCOMES].submit(
        request.match_info["case_id"],
        who,
        diagnosis=body.diagnosis,
        treatment_plan=body.treatment_plan,
        notes=body.notes,
        counselling=body.counselling,
        referral=referral_from_body(body.referral),
    )
    return json_ok(case_doc(case))


@routes.get("/api/v1/referrals")
@describe("Referrals of completed cases", query=ReferralQuery, response=ReferralList)
async def list_referrals(request: web.Request) -> web.Response:
    require_coordinator(request)
    raw = parse_query(request, ReferralQuery).green_channel
    found = await request.app[OUTCOMES].referrals(
        green_channel=None if raw is None else raw == "true"
    )
    return json_ok({"referrals": [{"case_id": cid, **referral_doc(r)} for cid, r in found]})


@routes.get("/api/v1/bookings")
@describe("List bookings", query=BookingQuery, response=BookingList)
async def list_bookings(request: web.Request) -> web.Response:
    require_coordinator(request)
    q = parse_query(request, BookingQuery)
    found = await request.app[BOOKING].bookings(
        expert_id=q.expert, start_from=q.since, start_to=q.until, limit=q.limit
    )
    return json_ok({"bookings": [booking_doc(b) for b in found]})


@routes.get("/api/v1/bookings/{booking_id}")
@describe("A booking and its room", response=BookingWithRoom, errors=(404,))
async def get_booking(request: web.Request) -> web.Response:
    require_coordinator(request)
    booking, room = await request.app[BOOKING].booked_room(request.match_info["booking_id"])
    return json_ok(booking_view(booking, room))


@routes.get("/api/v1/bookings/{booking_id}/links")
@describe(
    "Join links of the booked parties (valid only in the room's window)",
    response=BookingLinks,
    errors=(404, 409),
    limited=True,
)
async def booking_links(request: web.Request) -> web.Response:
    """Join links of the booked parties, valid only in the room's window (nbf/exp)."""
    who = require_coordinator(request)
    limit(request, "token", who.identity)
    service = request.app[BOOKING]
    booking, room = await service.booked_room(request.match_info["booking_id"])
    if not booking.active:
        raise Conflict(f"booking {booking.id} was cancelled", code="booking_cancelled")
    # the links name who asked for them: disabling that account revokes them
    links = await service.links(room, minted_by=who.minter)
    return json_ok(
        {
            "booking_id": booking.id,
            "room_id": room.room_id,
            "opens_at": utc_iso(room.opens_at),
            "closes_at": utc_iso(room.closes_at),
            "links": links,
        }
    )
