"""Member units: the hospitals and clinics below the centre, each with its tier and zone, and the
hours its consult room takes consultations (weekly windows in the unit's own zone; none = any
time). A booking must lie wholly inside one window: a New York expert's morning is 21:00 in a
village in Guizhou, after its clinic has closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from vidconsult.domain.rosters import WeeklyShift
from vidconsult.domain.timeutil import load_zone, require_aware
from vidconsult.errors import InvalidInput

DEFAULT_CENTRE_ZONE = "Asia/Shanghai"


class UnitTier(StrEnum):
    """The city–county–township–village tiered model."""

    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    name: str
    tier: UnitTier
    time_zone: str = DEFAULT_CENTRE_ZONE
    parent_id: str | None = None
    consult_rooms: tuple[str, ...] = field(default=())
    consult_hours: tuple[WeeklyShift, ...] = field(default=())  # in time_zone; () = any time

    def __post_init__(self) -> None:
        if not self.id or not self.name.strip():
            raise InvalidInput("unit id and name must not be empty")
        if not isinstance(self.tier, UnitTier):
            object.__setattr__(self, "tier", parse_tier(self.tier))
        load_zone(self.time_zone)
        if len(set(self.consult_rooms)) != len(self.consult_rooms):
            raise InvalidInput(f"unit {self.id} lists a consult room twice")
        if any(w.overnight for w in self.consult_hours):
            raise InvalidInput(
                f"unit {self.id}: consult hours end after they start, on the same day",
                code="invalid_consult_hours",
            )

    def within_consult_hours(self, start: datetime, end: datetime) -> bool:
        """``[start, end)`` lies inside one of the unit's weekly windows (its own wall clock)."""
        if not self.consult_hours:
            return True
        zone = self.zone
        s = require_aware(start, "start").astimezone(zone)
        e = require_aware(end, "end").astimezone(zone)
        if e <= s or e.date() != s.date():
            return False
        return any(
            w.weekday == s.weekday() and w.start <= s.time() and e.time() <= w.end
            for w in self.consult_hours
        )

    @property
    def zone(self) -> ZoneInfo:
        return load_zone(self.time_zone)

    @property
    def hosts_rooms(self) -> bool:
        return bool(self.consult_rooms)


def parse_tier(value: str) -> UnitTier:
    try:
        return UnitTier(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown unit tier {value!r}", code="invalid_tier") from None
