"""REST request bodies of the consultation workflow (pydantic, validated on the way in; they
also feed the OpenAPI document). Shapes only: the domain re-checks the rules."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from vidconsult.domain.cases import CaseStatus, Sex, Urgency
from vidconsult.domain.experts import InstitutionKind
from vidconsult.domain.outcomes import ReferralPriority
from vidconsult.domain.units import DEFAULT_CENTRE_ZONE, UnitTier
from web.queries import SpecialtyField

ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TEXT = 20_000
# a text the domain requires: at least one character that is not white space (it strips, and
# Python's white space includes the separators \x1c-\x1f, which ECMA's \s does not)
NOT_BLANK = r"[^\s\x1c-\x1f]"
# the document says what the domain checks after these models: IANA zone names this server
# knows, BCP 47 tags (vidconsult.domain.specialties), wall-clock times without an offset
TimeZone = Annotated[
    str, WithJsonSchema({"type": "string", "enum": sorted(available_timezones() | {"UTC"})})
]
LANGUAGE = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$"
Language = Annotated[str, Field(pattern=LANGUAGE)]
WallTime = Annotated[
    time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
        }
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# directory -----------------------------------------------------------------------------------
class ShiftBody(_Body):
    weekday: int = Field(ge=0, le=6, description="Monday=0 .. Sunday=6")
    start: WallTime
    end: WallTime = Field(description="<= start: the shift ends the next day")


class UnitBody(_Body):
    id: str = Field(pattern=ID)
    name: str = Field(min_length=1, max_length=200)
    tier: UnitTier
    time_zone: TimeZone = DEFAULT_CENTRE_ZONE
    parent_id: str | None = Field(default=None, pattern=ID)
    consult_rooms: list[str] = Field(
        default_factory=list, max_length=50, json_schema_extra={"uniqueItems": True}
    )
    consult_hours: list[ShiftBody] = Field(
        default_factory=list,
        max_length=50,
        description="Weekly windows in the unit's zone when its consult room takes"
        " consultations (end after start, same day); empty: any time. Bookings must fit one.",
    )


class InstitutionBody(_Body):
    id: str = Field(pattern=ID)
    name: str = Field(min_length=1, max_length=200)
    kind: InstitutionKind
    country: str = Field(default="CN", min_length=2, max_length=2)


class ExpertBody(_Body):
    id: str = Field(pattern=ID, description="Also the expert's identity in tokens and rooms")
    name: str = Field(min_length=1, max_length=200)
    institution: InstitutionBody
    specialties: list[SpecialtyField] = Field(min_length=1)
    languages: list[Language] = Field(min_length=1, description='BCP 47 tags: "zh", "en"')
    time_zone: TimeZone = Field(description="Where the expert lives; roster shifts are in it")


class LeaveBody(_Body):
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(default="", max_length=500)


class RosterBody(_Body):
    shifts: list[ShiftBody] = Field(max_length=200)
    leave: list[LeaveBody] = Field(default_factory=list, max_length=500)
    holidays: list[date] = Field(
        default_factory=list,
        max_length=500,
        description="The expert's own local dates without shifts",
    )


class DutySlotBody(ShiftBody):
    expert_id: str = Field(pattern=ID)
    time_zone: TimeZone = DEFAULT_CENTRE_ZONE


class DutySlotsBody(_Body):
    slots: list[DutySlotBody] = Field(max_length=500)


class DutyOverrideBody(_Body):
    specialty: SpecialtyField
    expert_id: str = Field(pattern=ID)
    start: AwareDatetime
    end: AwareDatetime


# cases ---------------------------------------------------------------------------------------
def _age_or_birth_date(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"required": ["birth_date"], "properties": {"birth_date": {"type": "string"}}},
        {"required": ["age_years"], "properties": {"age_years": {"type": "integer"}}},
    ]


class PatientBody(_Body):
    """A birth date or an age is required."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_age_or_birth_date)
    name: str = Field(min_length=1, max_length=200)
    sex: Sex
    birth_date: date | None = None
    age_years: int | None = Field(default=None, ge=0, le=130)
    id_number: str | None = Field(default=None, max_length=32)


class _CaseFields(_Body):
    patient: PatientBody
    referring_unit_id: str = Field(pattern=ID)
    referring_doctor: str = Field(min_length=1, max_length=200)
    specialty: SpecialtyField
    clinical_summary: str = Field(min_length=1, max_length=TEXT)
    requested_language: str | None = Field(default=None, max_length=20, pattern=LANGUAGE)


class CaseBody(_CaseFields):
    urgency: Urgency = Field(
        default=Urgency.ROUTINE, description="emergency cases go through /api/v1/emergencies"
    )
    requested_expert_id: str | None = Field(default=None, pattern=ID)
    interpreter_needed: bool = False


class EmergencyBody(_CaseFields):
    pass


def _earliest_or_explicit(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {
            "properties": {
                "expert_id": {"type": "null"},
                "start": {"type": "null"},
                "end": {"type": "null"},
                "allow_off_roster": {"const": False},
                "panel": {"maxItems": 0},
                "interpreter_id": {"type": "null"},
            }
        },
        {
            "required": ["expert_id", "start"],
            "properties": {"expert_id": {"type": "string"}, "start": {"type": "string"}},
        },
    ]


class BookingBody(_Body):
    """Empty: the earliest fitting slot. With ``expert_id`` and ``start``: that slot."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_earliest_or_explicit)

    expert_id: str | None = Field(default=None, pattern=ID)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = Field(default=None, description="default: start + the slot length")
    allow_off_roster: bool = False
    panel: list[Annotated[str, Field(pattern=ID)]] = Field(
        default_factory=list,
        max_length=5,
        description="More experts in the same slot and room (a panel); expert_id leads",
    )
    interpreter_id: str | None = Field(
        default=None, pattern=ID, description="A bookable interpreter (specialty interpretation)"
    )

    @model_validator(mode="after")
    def _explicit_needs_both(self) -> BookingBody:
        if (self.expert_id is None) != (self.start is None):
            raise ValueError("an explicit booking needs both expert_id and start")
        if self.expert_id is None and (
            self.end is not None
            or self.allow_off_roster
            or self.panel
            or self.interpreter_id is not None
        ):
            raise ValueError(
                "end, allow_off_roster, panel and interpreter_id only go with an explicit booking"
            )
        return self


class RescheduleBody(_Body):
    """Move a scheduled case: the new lead expert and start (and panel, interpreter)."""

    expert_id: str = Field(pattern=ID)
    start: AwareDatetime
    end: AwareDatetime | None = Field(default=None, description="default: start + the slot length")
    allow_off_roster: bool = False
    panel: list[Annotated[str, Field(pattern=ID)]] = Field(default_factory=list, max_length=5)
    interpreter_id: str | None = Field(default=None, pattern=ID)
    reason: str = Field(min_length=1, max_length=2000)


class ReasonBody(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class TransitionBody(_Body):
    # a case is scheduled by booking it and completed by its report, never by hand
    to: Literal[
        CaseStatus.IN_PROGRESS, CaseStatus.NO_SHOW, CaseStatus.CANCELLED, CaseStatus.REQUESTED
    ]
    reason: str = Field(default="", max_length=2000)


class ReferralBody(_Body):
    target_hospital: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)
    department: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)
    priority: ReferralPriority
    green_channel: bool = False
    reason: str = Field(default="", max_length=TEXT)


class ReportBody(_Body):
    diagnosis: str = Field(min_length=1, max_length=TEXT, pattern=NOT_BLANK)
    treatment_plan: str = Field(min_length=1, max_length=TEXT, pattern=NOT_BLANK)
    notes: str = Field(default="", max_length=TEXT)
    counselling: bool = False
    referral: ReferralBody | None = None


class LectureBody(_Body):
    title: str = Field(min_length=1, max_length=200)
    presenter_id: str = Field(pattern=ID)
    audience_unit_ids: list[str] = Field(min_length=1, max_length=1000)
    start: AwareDatetime
    end: AwareDatetime
