"""Query strings of the REST API as pydantic models: one model both parses a handler's query
(:func:`web.http.parse_query`) and describes its parameters in the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainValidator,
    WithJsonSchema,
)

from vidconsult.domain.cases import CaseStatus, Urgency
from vidconsult.domain.specialties import SLUG_PATTERN, Specialty, parse_specialty
from vidconsult.domain.statistics import Period
from vidconsult.domain.units import UnitTier
from vidconsult.errors import InvalidInput


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


def _instant(value: Any) -> Any:
    """ISO 8601 with an offset; an unencoded "+08:00" arrives as " 08:00"; blank: absent."""
    if not isinstance(value, str):
        return value
    if not value:
        return None
    raw = value.replace(" ", "+") if "T" in value.upper() else value
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time") from None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a UTC offset")
    return value


def _slug(value: Any) -> Any:
    return None if value == "" else value.strip().lower() if isinstance(value, str) else value


Instant = Annotated[
    datetime | None,
    BeforeValidator(_instant),
    AfterValidator(_aware),
    # blank is the same as absent
    WithJsonSchema({"type": "string", "anyOf": [{"format": "date-time"}, {"maxLength": 0}]}),
]


def _specialty(value: Any) -> Specialty:
    if not isinstance(value, str):
        raise ValueError("must be a specialty's slug")  # noqa: TRY004 (pydantic wants ValueError)
    try:
        return parse_specialty(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _maybe_specialty(value: Any) -> Specialty | None:
    return None if value is None or value == "" else _specialty(value)


# a specialty's slug (the catalogue, GET /api/v1/specialties, says which exist)
SpecialtyField = Annotated[
    Specialty,
    PlainValidator(_specialty),
    WithJsonSchema({"type": "string", "pattern": SLUG_PATTERN}),
]
# in a query: blank is the same as absent
SpecialtySlug = Annotated[
    Specialty | None,
    PlainValidator(_maybe_specialty),
    WithJsonSchema({"type": "string", "pattern": "^(" + SLUG_PATTERN[1:-1] + ")?$"}),
]
Text = Annotated[str | None, BeforeValidator(_blank_is_none)]
Limit = Annotated[int, Field(ge=1, le=1000)]


class UnitQuery(BaseModel):
    tier: Annotated[UnitTier | None, BeforeValidator(_slug)] = None


class ExpertQuery(BaseModel):
    specialty: SpecialtySlug = None


class OnDutyQuery(BaseModel):
    specialty: SpecialtyField
    at: Instant = Field(default=None, description="Default: now")


class CaseQuery(BaseModel):
    status: Annotated[CaseStatus | None, BeforeValidator(_blank_is_none)] = None
    unit: Text = None
    specialty: SpecialtySlug = None
    urgency: Annotated[Urgency | None, BeforeValidator(_blank_is_none)] = None
    expert: Text = None
    since: Instant = None
    until: Instant = None
    limit: Limit = 100


class ReferralQuery(BaseModel):
    green_channel: Literal["true", "false"] | None = None


class BookingQuery(BaseModel):
    expert: Text = None
    since: Instant = None
    until: Instant = None
    limit: Limit = 100


class SlotPickerQuery(BaseModel):
    experts: Text = Field(
        default=None,
        description="Comma-separated expert ids: the slots this panel can take together"
        " (first = lead). Absent: each fitting expert's own free slots",
    )
    interpreter: Text = Field(default=None, description="An interpreter to book with the panel")
    days: int = Field(default=5, ge=1, le=20, description="Working days ahead (centre calendar)")
    limit: Annotated[int, Field(ge=1, le=200)] = 40


class LectureQuery(BaseModel):
    since: Instant = None


class StatsQuery(BaseModel):
    period: Annotated[Period, BeforeValidator(lambda v: v or Period.MONTH)] = Period.MONTH
    unit: Text = None
    since: Instant = None
    until: Instant = None
