"""Response models of the consultation workflow: their OpenAPI schemas. The handlers answer
the store's documents (vidconsult.store.codec: the same dicts every store keeps), and these
models state exactly those shapes: same keys, types and nullability (``extra="forbid"``: the
document says no other key comes, so a key the codec adds must be declared here too)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from vidconsult.domain.booked_rooms import RoomState
from vidconsult.domain.cases import CaseStatus, Sex, Urgency
from vidconsult.domain.emergency import PickSource
from vidconsult.domain.experts import InstitutionKind
from vidconsult.domain.outcomes import ReferralPriority
from vidconsult.domain.roles import Role
from vidconsult.domain.room_window import Attendance
from vidconsult.domain.statistics import Period
from vidconsult.domain.units import UnitTier
from web.queries import SpecialtyField
from web.room_views import Instant, RoomOut


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# cases ---------------------------------------------------------------------------------------
class PatientOut(_Out):
    name: str
    sex: Sex
    birth_date: date | None
    age_years: int | None
    id_number: str | None


class ReportOut(_Out):
    diagnosis: str
    treatment_plan: str
    signed_by: str
    signed_at: Instant
    notes: str
    counselling: bool


class ReferralOut(_Out):
    target_hospital: str
    department: str
    priority: ReferralPriority
    green_channel: bool
    reason: str


class AuditRow(_Out):
    """A row of the case's trail: a transition or note of the case, or (for coordinators) an
    access to its recordings and attachments, which also says role, subject, case_id and
    room_id (its ``from``/``to`` are null)."""

    at: Instant
    actor: str
    action: str
    from_: CaseStatus | None = Field(alias="from")
    to: CaseStatus | None
    note: str
    role: str | None = None
    subject: str | None = None
    case_id: str | None = None
    room_id: str | None = None


class CaseSummary(_Out):
    """A case without its audit trail (lists, bookings)."""

    id: str
    patient: PatientOut
    referring_unit_id: str
    referring_doctor: str
    specialty: SpecialtyField
    urgency: Urgency
    clinical_summary: str
    requested_at: Instant
    requested_expert_id: str | None
    requested_language: str | None
    interpreter_needed: bool
    status: CaseStatus
    booking_ids: list[str]
    expert_ids: list[str]
    scheduled_start: Instant | None
    sla_deadline: Instant | None
    sla_breach: bool | None
    report: ReportOut | None
    referral: ReferralOut | None


class CaseOut(CaseSummary):
    """A case with its audit trail."""

    audit: list[AuditRow]


class CaseList(_Out):
    cases: list[CaseSummary]


class CaseReferral(ReferralOut):
    case_id: str


class ReferralList(_Out):
    referrals: list[CaseReferral]


# bookings ------------------------------------------------------------------------------------
class BookingOut(_Out):
    id: str
    expert_id: str
    start: Instant
    end: Instant
    case_id: str | None
    lecture_id: str | None
    off_roster: bool
    sla_deadline: Instant | None
    sla_breach: bool
    cancelled_at: Instant | None
    panel_id: str | None = Field(
        description="A panel's lead booking (whose room every member shares); null: no panel"
    )
    interpreter: bool = Field(description="The booked person is the panel's interpreter")


class BookingList(_Out):
    bookings: list[BookingOut]


class PartyOut(_Out):
    kind: str = Field(description="patient, referrer, expert, interpreter, presenter, audience")
    identity: str
    role: Role
    name: str


class BookedRoomOut(_Out):
    booking_id: str
    room_id: str
    opens_at: Instant
    closes_at: Instant
    parties: list[PartyOut]
    case_id: str | None
    lecture_id: str | None
    state: RoomState
    attendance: Attendance
    opened_at: Instant | None
    closed_at: Instant | None
    close_reason: str | None


class BookingWithRoom(BookingOut):
    room: BookedRoomOut


class CaseBooked(_Out):
    case: CaseSummary
    booking: BookingWithRoom


class JoinLink(_Out):
    kind: str = Field(description="the party: patient, referrer, expert, interpreter, ...")
    identity: str
    role: Role
    name: str
    token: str
    join_url: str
    valid_from: Instant
    expires_at: Instant


class BookingLinks(_Out):
    booking_id: str
    room_id: str
    opens_at: Instant
    closes_at: Instant
    links: list[JoinLink]


# directory: units, experts, rosters, rota ----------------------------------------------------


HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class ShiftOut(_Out):
    weekday: int = Field(description="0 = Monday")
    start: str = Field(pattern=HH_MM, description="wall-clock time in the zone")
    end: str = Field(pattern=HH_MM)


class UnitOut(_Out):
    id: str
    name: str
    tier: UnitTier
    time_zone: str
    parent_id: str | None
    consult_rooms: list[str]
    consult_hours: list[ShiftOut] = Field(
        description="Weekly windows (the unit's zone) its consult room takes consultations in;"
        " empty: any time"
    )


class UnitList(_Out):
    units: list[UnitOut]


class InstitutionOut(_Out):
    id: str
    name: str
    kind: InstitutionKind
    country: str


class ExpertOut(_Out):
    id: str
    name: str
    institution: InstitutionOut
    specialties: list[SpecialtyField]
    languages: list[str]
    time_zone: str
    international: bool


class ExpertList(_Out):
    experts: list[ExpertOut]


class LeaveOut(_Out):
    start: Instant
    end: Instant
    reason: str


class RosterOut(_Out):
    expert_id: str
    time_zone: str
    shifts: list[ShiftOut]
    leave: list[LeaveOut]
    holidays: list[date]


class DutySlotOut(ShiftOut):
    specialty: SpecialtyField
    expert_id: str
    time_zone: str


class DutyOverrideOut(_Out):
    specialty: SpecialtyField
    expert_id: str
    start: Instant
    end: Instant
    id: str
    created_at: Instant | None = Field(
        description="orders overlapping overrides: the newest is paged first"
    )


class NewDutyOverride(DutyOverrideOut):
    pass


class RotaOut(_Out):
    slots: list[DutySlotOut]
    overrides: list[DutyOverrideOut]


class DutySlotsOut(_Out):
    specialty: SpecialtyField
    slots: list[DutySlotOut]


class OnDutyOut(_Out):
    specialty: SpecialtyField
    at: Instant
    expert_ids: list[str]


# lectures ------------------------------------------------------------------------------------
class LectureOut(_Out):
    id: str
    title: str
    presenter_id: str
    audience_unit_ids: list[str]
    start: Instant
    end: Instant


class LectureWithRoom(LectureOut):
    room: BookedRoomOut


class LectureList(_Out):
    lectures: list[LectureOut]


class LectureAttendance(_Out):
    audience_invited: int = Field(description="audience units invited")
    audience_joined: int = Field(description="audience units that came (at any time)")
    audience_identities: list[str] = Field(description='"unit-{unit id}" of those that came')
    presenter_joined: bool


class Question(_Out):
    id: str
    identity: str
    name: str
    role: str
    text: str
    sent_at: Instant


class LectureActivity(LectureAttendance):
    lecture_id: str
    room_id: str
    room_state: RoomState
    audience_now: int = Field(description="audience screens in the room now (this node)")
    questions: list[Question]


class LibraryRecording(_Out):
    id: str
    identity: str
    role: str
    kinds: list[str]
    started_at: Instant
    duration_ms: int


class LibraryEntry(LectureOut):
    room_id: str
    attendance: LectureAttendance
    questions: int
    recordings: list[LibraryRecording] = Field(description="completed files, one per publisher")


class LibraryOut(_Out):
    lectures: list[LibraryEntry]


class LectureLinks(_Out):
    lecture_id: str
    links: list[JoinLink]


# emergencies ---------------------------------------------------------------------------------
class SummonedExpert(_Out):
    id: str
    source: PickSource = Field(description="the rota, or anyone of the specialty on shift")
    busy: bool = Field(description="summoned although in another consultation")


class EmergencyOut(_Out):
    case: CaseSummary
    room: RoomOut = Field(description="the room opened now (without its participants)")
    expert: SummonedExpert
    links: list[JoinLink]
    elapsed_ms: float


# statistics ----------------------------------------------------------------------------------
class TallyOut(_Out):
    total: int
    by_urgency: dict[Urgency, int]
    by_status: dict[CaseStatus, int]
    sla_met: int
    sla_breached: int
    sla_met_pct: float | None = Field(description="null when no case was booked yet")
    domestic: int = Field(
        description="cases (any status) with no international expert (booked, summoned or"
        " requested)"
    )
    international: int = Field(
        description="cases (any status) with an international expert (booked, summoned or"
        " requested); domestic + international = total"
    )
    referrals: int
    green_channel: int
    emergency_to_expert_count: int = Field(
        description="emergencies whose first expert has entered the room (audit expert.arrived)"
    )
    emergency_to_expert_median_s: float | None = Field(
        description="median seconds from the emergency request to the first expert in the room"
    )
    emergency_to_expert_p90_s: float | None = Field(description="90th percentile, seconds")


class StatsOut(_Out):
    overall: TallyOut
    by_unit: dict[str, TallyOut] = Field(description="by referring unit id")
    by_specialty: dict[SpecialtyField, TallyOut] = Field(description="by the case's specialty")
    by_period: dict[str, TallyOut] = Field(
        description='by period of the request: "2026-03-09", "2026-W11", "2026-03", "2026-Q1", '
        '"2026"'
    )
    period: Period
    time_zone: str = Field(description="the centre's, in which periods are counted")


# the slot picker ---------------------------------------------------------------------------
class PickerPerson(_Out):
    id: str
    name: str
    time_zone: str
    institution: str
    international: bool
    languages: list[str]


class PickerUnit(_Out):
    id: str
    name: str
    time_zone: str
    consult_hours: list[ShiftOut]


class PickedSlotOut(_Out):
    start: Instant
    end: Instant
    expert_ids: list[str]
    interpreter_id: str | None
    sla_breach: bool = Field(description="The slot ends after the case's SLA deadline")


class SlotChoiceOut(_Out):
    """Free slots for a case; every instant in UTC, with the zones to show them in."""

    case_id: str
    specialty: SpecialtyField
    centre_time_zone: str
    unit: PickerUnit
    experts: list[PickerPerson] = Field(description="Who fits the case")
    interpreters: list[PickerPerson] = Field(description="Bookable interpreters")
    slot_minutes: int
    until: Instant
    sla_deadline: Instant
    slots: list[PickedSlotOut]
