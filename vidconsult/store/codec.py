"""Domain objects <-> JSON-ready dicts: the documents every store keeps (SQLite's JSON column,
Redis values) and the REST views return. Pure functions; decoding re-runs the domain's
validation, so a document that no longer makes sense fails loudly instead of half-loading."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom, Party, RoomState
from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import AuditEntry, Case, CaseStatus, Patient, Sex, Urgency
from vidconsult.domain.experts import Expert, Institution, InstitutionKind
from vidconsult.domain.lectures import Lecture
from vidconsult.domain.outcomes import ConsultationReport, Referral, ReferralPriority
from vidconsult.domain.roles import Role
from vidconsult.domain.room_window import Attendance
from vidconsult.domain.rosters import Leave, Roster, WeeklyShift
from vidconsult.domain.rota import DutyOverride, DutySlot
from vidconsult.domain.specialties import parse_specialty
from vidconsult.domain.timeutil import utc_iso
from vidconsult.domain.units import Unit, UnitTier

Doc = dict[str, Any]


def _iso(value: datetime | date | None) -> str | None:
    """Instants in UTC (the API answers these documents as they are); dates as they are."""
    if isinstance(value, datetime):
        return utc_iso(value)
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# units and experts ---------------------------------------------------------------------------
def unit_doc(unit: Unit) -> Doc:
    return {
        "id": unit.id,
        "name": unit.name,
        "tier": unit.tier.value,
        "time_zone": unit.time_zone,
        "parent_id": unit.parent_id,
        "consult_rooms": list(unit.consult_rooms),
        "consult_hours": [shift_doc(w) for w in unit.consult_hours],
    }


def unit_from(doc: Doc) -> Unit:
    return Unit(
        id=doc["id"],
        name=doc["name"],
        tier=UnitTier(doc["tier"]),
        time_zone=doc["time_zone"],
        parent_id=doc.get("parent_id"),
        consult_rooms=tuple(doc.get("consult_rooms", ())),
        consult_hours=tuple(shift_from(w) for w in doc.get("consult_hours", ())),
    )


def expert_doc(expert: Expert) -> Doc:
    inst = expert.institution
    return {
        "id": expert.id,
        "name": expert.name,
        "institution": {
            "id": inst.id,
            "name": inst.name,
            "kind": inst.kind.value,
            "country": inst.country,
        },
        "specialties": sorted(s.value for s in expert.specialties),
        "languages": sorted(expert.languages),
        "time_zone": expert.time_zone,
        "international": expert.is_international,
    }


def expert_from(doc: Doc) -> Expert:
    inst = doc["institution"]
    return Expert(
        id=doc["id"],
        name=doc["name"],
        institution=Institution(
            inst["id"], inst["name"], InstitutionKind(inst["kind"]), inst.get("country", "CN")
        ),
        specialties=frozenset(doc["specialties"]),  # type: ignore[arg-type]
        languages=frozenset(doc["languages"]),
        time_zone=doc["time_zone"],
    )


def shift_doc(shift: WeeklyShift) -> Doc:
    return {
        "weekday": shift.weekday,
        "start": shift.start.strftime("%H:%M"),
        "end": shift.end.strftime("%H:%M"),
    }


def shift_from(doc: Doc) -> WeeklyShift:
    return WeeklyShift(
        int(doc["weekday"]), time.fromisoformat(doc["start"]), time.fromisoformat(doc["end"])
    )


def roster_doc(roster: Roster) -> Doc:
    return {
        "expert_id": roster.expert_id,
        "time_zone": roster.time_zone,
        "shifts": [shift_doc(s) for s in roster.shifts],
        "leave": [
            {"start": _iso(lv.start), "end": _iso(lv.end), "reason": lv.reason}
            for lv in roster.leave
        ],
        "holidays": sorted(d.isoformat() for d in roster.holidays),
    }


def roster_from(doc: Doc) -> Roster:
    return Roster(
        expert_id=doc["expert_id"],
        time_zone=doc["time_zone"],
        shifts=tuple(shift_from(s) for s in doc["shifts"]),
        leave=tuple(
            Leave(
                datetime.fromisoformat(lv["start"]),
                datetime.fromisoformat(lv["end"]),
                lv.get("reason", ""),
            )
            for lv in doc.get("leave", ())
        ),
        holidays=frozenset(date.fromisoformat(d) for d in doc.get("holidays", ())),
    )


# rota ----------------------------------------------------------------------------------------
def slot_doc(slot: DutySlot) -> Doc:
    return {
        "specialty": slot.specialty.value,
        "expert_id": slot.expert_id,
        "time_zone": slot.time_zone,
        **shift_doc(slot.shift),
    }


def slot_from(doc: Doc) -> DutySlot:
    return DutySlot(
        parse_specialty(doc["specialty"]), doc["expert_id"], shift_from(doc), doc["time_zone"]
    )


def override_doc(override: DutyOverride) -> Doc:
    return {
        "specialty": override.specialty.value,
        "expert_id": override.expert_id,
        "start": _iso(override.start),
        "end": _iso(override.end),
        "id": override.id,
        "created_at": _iso(override.created_at) if override.created_at else None,
    }


def override_from(doc: Doc, override_id: str | None = None) -> DutyOverride:
    """``override_id``: the row's (documents kept before the id was in them have none)."""
    created = doc.get("created_at")
    return DutyOverride(
        parse_specialty(doc["specialty"]),
        doc["expert_id"],
        datetime.fromisoformat(doc["start"]),
        datetime.fromisoformat(doc["end"]),
        id=override_id or doc.get("id") or "",
        created_at=datetime.fromisoformat(created) if created else None,
    )


# cases ---------------------------------------------------------------------------------------
def patient_doc(p: Patient) -> Doc:
    return {
        "name": p.name,
        "sex": p.sex.value,
        "birth_date": _iso(p.birth_date),
        "age_years": p.age_years,
        "id_number": p.id_number,
    }


def patient_from(doc: Doc) -> Patient:
    birth = doc.get("birth_date")
    return Patient(
        name=doc["name"],
        sex=Sex(doc["sex"]),
        birth_date=date.fromisoformat(birth) if birth else None,
        age_years=doc.get("age_years"),
        id_number=doc.get("id_number"),
    )


def report_doc(r: ConsultationReport) -> Doc:
    return {
        "diagnosis": r.diagnosis,
        "treatment_plan": r.treatment_plan,
        "signed_by": r.signed_by,
        "signed_at": _iso(r.signed_at),
        "notes": r.notes,
        "counselling": r.counselling,
    }


def report_from(doc: Doc) -> ConsultationReport:
    return ConsultationReport(
        doc["diagnosis"],
        doc["treatment_plan"],
        doc["signed_by"],
        datetime.fromisoformat(doc["signed_at"]),
        doc.get("notes", ""),
        bool(doc.get("counselling", False)),
    )


def referral_doc(r: Referral) -> Doc:
    return {
        "target_hospital": r.target_hospital,
        "department": r.department,
        "priority": r.priority.value,
        "green_channel": r.green_channel,
        "reason": r.reason,
    }


def referral_from(doc: Doc) -> Referral:
    return Referral(
        doc["target_hospital"],
        doc["department"],
        ReferralPriority(doc["priority"]),
        bool(doc.get("green_channel")),
        doc.get("reason", ""),
    )


def audit_doc(e: AuditEntry) -> Doc:
    return {
        "at": _iso(e.at),
        "actor": e.actor,
        "action": e.action,
        "from": e.from_status.value if e.from_status else None,
        "to": e.to_status.value if e.to_status else None,
        "note": e.note,
    }


def audit_from(doc: Doc) -> AuditEntry:
    return AuditEntry(
        datetime.fromisoformat(doc["at"]),
        doc["actor"],
        doc["action"],
        CaseStatus(doc["from"]) if doc.get("from") else None,
        CaseStatus(doc["to"]) if doc.get("to") else None,
        doc.get("note", ""),
    )


def case_doc(case: Case, *, with_audit: bool = True) -> Doc:
    doc: Doc = {
        "id": case.id,
        "patient": patient_doc(case.patient),
        "referring_unit_id": case.referring_unit_id,
        "referring_doctor": case.referring_doctor,
        "specialty": case.specialty.value,
        "urgency": case.urgency.value,
        "clinical_summary": case.clinical_summary,
        "requested_at": _iso(case.requested_at),
        "requested_expert_id": case.requested_expert_id,
        "requested_language": case.requested_language,
        "interpreter_needed": case.interpreter_needed,
        "status": case.status.value,
        "booking_ids": list(case.booking_ids),
        "expert_ids": list(case.expert_ids),
        "scheduled_start": _iso(case.scheduled_start),
        "sla_deadline": _iso(case.sla_deadline),
        "sla_breach": case.sla_breach,
        "report": report_doc(case.report) if case.report else None,
        "referral": referral_doc(case.referral) if case.referral else None,
    }
    if with_audit:
        doc["audit"] = [audit_doc(e) for e in case.audit]
    return doc


def case_from(doc: Doc, audit: list[AuditEntry] | None = None) -> Case:
    entries = audit if audit is not None else [audit_from(e) for e in doc.get("audit", ())]
    return Case(
        id=doc["id"],
        patient=patient_from(doc["patient"]),
        referring_unit_id=doc["referring_unit_id"],
        referring_doctor=doc["referring_doctor"],
        specialty=parse_specialty(doc["specialty"]),
        urgency=Urgency(doc["urgency"]),
        clinical_summary=doc["clinical_summary"],
        requested_at=datetime.fromisoformat(doc["requested_at"]),
        requested_expert_id=doc.get("requested_expert_id"),
        requested_language=doc.get("requested_language"),
        interpreter_needed=bool(doc.get("interpreter_needed")),
        status=CaseStatus(doc["status"]),
        booking_ids=tuple(doc.get("booking_ids", ())),
        expert_ids=tuple(doc.get("expert_ids", ())),
        scheduled_start=_dt(doc.get("scheduled_start")),
        sla_deadline=_dt(doc.get("sla_deadline")),
        sla_breach=doc.get("sla_breach"),
        report=report_from(doc["report"]) if doc.get("report") else None,
        referral=referral_from(doc["referral"]) if doc.get("referral") else None,
        audit=list(entries),
    )


# bookings, rooms, lectures -------------------------------------------------------------------
def booking_doc(b: Booking) -> Doc:
    return {
        "id": b.id,
        "expert_id": b.expert_id,
        "start": _iso(b.start),
        "end": _iso(b.end),
        "case_id": b.case_id,
        "lecture_id": b.lecture_id,
        "off_roster": b.off_roster,
        "sla_deadline": _iso(b.sla_deadline),
        "sla_breach": b.sla_breach,
        "cancelled_at": _iso(b.cancelled_at),
        "panel_id": b.panel_id,
        "interpreter": b.interpreter,
    }


def booking_from(doc: Doc) -> Booking:
    return Booking(
        id=doc["id"],
        expert_id=doc["expert_id"],
        start=datetime.fromisoformat(doc["start"]),
        end=datetime.fromisoformat(doc["end"]),
        case_id=doc.get("case_id"),
        lecture_id=doc.get("lecture_id"),
        off_roster=bool(doc.get("off_roster")),
        sla_deadline=_dt(doc.get("sla_deadline")),
        sla_breach=bool(doc.get("sla_breach")),
        cancelled_at=_dt(doc.get("cancelled_at")),
        panel_id=doc.get("panel_id"),
        interpreter=bool(doc.get("interpreter")),
    )


def party_doc(p: Party) -> Doc:
    return {"kind": p.kind, "identity": p.identity, "role": p.role.value, "name": p.name}


def booked_room_doc(r: BookedRoom) -> Doc:
    return {
        "booking_id": r.booking_id,
        "room_id": r.room_id,
        "opens_at": _iso(r.opens_at),
        "closes_at": _iso(r.closes_at),
        "parties": [party_doc(p) for p in r.parties],
        "case_id": r.case_id,
        "lecture_id": r.lecture_id,
        "state": r.state.value,
        "attendance": r.attendance.value,
        "opened_at": _iso(r.opened_at),
        "closed_at": _iso(r.closed_at),
        "close_reason": r.close_reason,
    }


def booked_room_from(doc: Doc) -> BookedRoom:
    return BookedRoom(
        booking_id=doc["booking_id"],
        room_id=doc["room_id"],
        opens_at=datetime.fromisoformat(doc["opens_at"]),
        closes_at=datetime.fromisoformat(doc["closes_at"]),
        parties=tuple(
            Party(p["kind"], p["identity"], Role(p["role"]), p["name"]) for p in doc["parties"]
        ),
        case_id=doc.get("case_id"),
        lecture_id=doc.get("lecture_id"),
        state=RoomState(doc["state"]),
        attendance=Attendance(doc["attendance"]),
        opened_at=_dt(doc.get("opened_at")),
        closed_at=_dt(doc.get("closed_at")),
        close_reason=doc.get("close_reason"),
    )


def lecture_doc(lec: Lecture) -> Doc:
    return {
        "id": lec.id,
        "title": lec.title,
        "presenter_id": lec.presenter_id,
        "audience_unit_ids": sorted(lec.audience_unit_ids),
        "start": _iso(lec.start),
        "end": _iso(lec.end),
    }


def lecture_from(doc: Doc) -> Lecture:
    return Lecture(
        doc["id"],
        doc["title"],
        doc["presenter_id"],
        frozenset(doc["audience_unit_ids"]),
        datetime.fromisoformat(doc["start"]),
        datetime.fromisoformat(doc["end"]),
    )
