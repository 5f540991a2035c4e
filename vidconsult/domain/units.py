"""Member units: the hospitals and clinics below the centre, each with its tier and zone."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from vidconsult.domain.timeutil import load_zone
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

    def __post_init__(self) -> None:
        if not self.id or not self.name.strip():
            raise InvalidInput("unit id and name must not be empty")
        if not isinstance(self.tier, UnitTier):
            object.__setattr__(self, "tier", parse_tier(self.tier))
        load_zone(self.time_zone)
        if len(set(self.consult_rooms)) != len(self.consult_rooms):
            raise InvalidInput(f"unit {self.id} lists a consult room twice")

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
