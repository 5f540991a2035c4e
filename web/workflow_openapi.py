"""The consultation workflow's part of the OpenAPI document (request bodies from the pydantic
models in :mod:`web.workflow_schemas`; responses described loosely as objects)."""

from __future__ import annotations

from typing import Any

from web.openapi import add_models, add_paths, body, errors, ok
from web.workflow_schemas import MODELS

OBJ: dict[str, Any] = {"type": "object"}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string"}} for n in names]


def _op(
    summary: str,
    status: int = 200,
    model: str | None = None,
    *errs: int,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {str(status): ok("ok", OBJ), **errors(401, 403, *errs)},
    }
    if model:
        op["requestBody"] = body(model)
        op["responses"].update(errors(400))
    if params:
        op["parameters"] = params
    return op


def add_workflow(doc: dict[str, Any]) -> None:
    add_models(doc, *MODELS)
    # booked rooms exist before their window opens
    room_status = doc["components"]["schemas"]["Room"]["properties"]["status"]
    room_status["enum"] = ["scheduled", "open", "ended"]
    case, booking, lecture = (
        _path_param("case_id"),
        _path_param("booking_id"),
        _path_param("lecture_id"),
    )
    add_paths(
        doc,
        {
            "/api/v1/units": {
                "get": _op("List member units", params=_query("tier")),
                "post": _op("Create or replace a unit", 201, "UnitBody"),
            },
            "/api/v1/units/{unit_id}": {
                "parameters": [_path_param("unit_id")],
                "get": _op("A unit", 200, None, 404),
            },
            "/api/v1/experts": {
                "get": _op("List experts", params=_query("specialty")),
                "post": _op("Create or replace an expert", 201, "ExpertBody"),
            },
            "/api/v1/experts/{expert_id}": {
                "parameters": [_path_param("expert_id")],
                "get": _op("An expert", 200, None, 404),
            },
            "/api/v1/experts/{expert_id}/roster": {
                "parameters": [_path_param("expert_id")],
                "get": _op(
                    "The expert's roster (shifts in the expert's zone, leave, holidays)",
                    200,
                    None,
                    404,
                ),
                "put": _op("Replace the expert's roster", 200, "RosterBody", 404),
            },
            "/api/v1/rota": {"get": _op("The on-duty rota: weekly slots and dated overrides")},
            "/api/v1/rota/on-duty": {
                "get": _op("Who is on duty", params=_query("specialty", "at"))
            },
            "/api/v1/rota/{specialty}": {
                "parameters": [_path_param("specialty")],
                "put": _op("Replace one specialty's weekly duty slots", 200, "DutySlotsBody"),
            },
            "/api/v1/rota/overrides": {
                "post": _op("Add a dated duty override", 201, "DutyOverrideBody")
            },
            "/api/v1/rota/overrides/{override_id}": {
                "parameters": [_path_param("override_id")],
                "delete": _op("Delete a duty override", 200, None, 404),
            },
            "/api/v1/cases": {
                "get": _op(
                    "List cases, newest first",
                    params=_query(
                        "status",
                        "unit",
                        "specialty",
                        "urgency",
                        "expert",
                        "since",
                        "until",
                        "limit",
                    ),
                ),
                "post": _op("Open a routine case (requested)", 201, "CaseBody"),
            },
            "/api/v1/cases/{case_id}": {
                "parameters": [case],
                "get": _op(
                    "A case with its audit trail (coordinator or the case's expert)", 200, None, 404
                ),
            },
            "/api/v1/cases/{case_id}/cancel": {
                "parameters": [case],
                "post": _op(
                    "Cancel a case (frees its booking, ends its room)", 200, "ReasonBody", 404, 409
                ),
            },
            "/api/v1/cases/{case_id}/transitions": {
                "parameters": [case],
                "post": _op(
                    "Move a case by hand (in_progress, no_show, cancelled, requested)",
                    200,
                    "TransitionBody",
                    404,
                    409,
                ),
            },
            "/api/v1/cases/{case_id}/booking": {
                "parameters": [case],
                "post": _op(
                    "Book: the earliest slot within the SLA (empty body; flagged "
                    "sla_breach when none meets it) or an explicit expert and time",
                    201,
                    "BookingBody",
                    404,
                    409,
                ),
                "delete": _op(
                    "Release the booking; the case goes back to requested",
                    200,
                    "ReasonBody",
                    404,
                    409,
                ),
            },
            "/api/v1/cases/{case_id}/report": {
                "parameters": [case],
                "post": _op(
                    "The report (+ referral), signed by the case's expert token; "
                    "completes the case",
                    200,
                    "ReportBody",
                    404,
                    409,
                ),
            },
            "/api/v1/referrals": {
                "get": _op("Referrals of completed cases", params=_query("green_channel"))
            },
            "/api/v1/bookings": {
                "get": _op("List bookings", params=_query("expert", "since", "until", "limit"))
            },
            "/api/v1/bookings/{booking_id}": {
                "parameters": [booking],
                "get": _op("A booking and its room", 200, None, 404),
            },
            "/api/v1/bookings/{booking_id}/links": {
                "parameters": [booking],
                "get": _op(
                    "Join links of the booked parties (valid only in the room's window)",
                    200,
                    None,
                    404,
                    409,
                    429,
                ),
            },
            "/api/v1/emergencies": {
                "post": _op(
                    "Emergency: open a room now, summon the on-duty expert, return join links",
                    201,
                    "EmergencyBody",
                    404,
                )
            },
            "/api/v1/lectures": {
                "get": _op("List lectures", params=_query("since")),
                "post": _op(
                    "Book a lecture (presenter publishes, audience units watch)",
                    201,
                    "LectureBody",
                    409,
                ),
            },
            "/api/v1/lectures/{lecture_id}": {
                "parameters": [lecture],
                "get": _op("A lecture", 200, None, 404),
            },
            "/api/v1/lectures/{lecture_id}/links": {
                "parameters": [lecture],
                "get": _op(
                    "Presenter and audience (observer) join links", 200, None, 404, 409, 429
                ),
            },
            "/api/v1/stats": {
                "get": _op(
                    "Statistics per unit and period",
                    params=_query("period", "unit", "since", "until"),
                )
            },
        },
    )
