"""Experts and the partner institutions they come from (domestic or international)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from vidconsult.domain.specialties import (
    Specialty,
    normalize_languages,
    parse_specialties,
)
from vidconsult.domain.timeutil import load_zone
from vidconsult.errors import InvalidInput


class InstitutionKind(StrEnum):
    DOMESTIC = "domestic"  # partner tertiary hospitals (Beijing, Shanghai) and the city hospital
    INTERNATIONAL = "international"  # the US partner group and other foreign partners


@dataclass(frozen=True, slots=True)
class Institution:
    id: str
    name: str
    kind: InstitutionKind
    country: str = "CN"

    def __post_init__(self) -> None:
        if not self.id or not self.name.strip():
            raise InvalidInput("institution id and name must not be empty")


@dataclass(frozen=True, slots=True)
class Expert:
    """A specialist who can be booked. ``time_zone`` is where they live: rosters are in it."""

    id: str
    name: str
    institution: Institution
    specialties: frozenset[Specialty]
    languages: frozenset[str]
    time_zone: str

    def __post_init__(self) -> None:
        if not self.id or not self.name.strip():
            raise InvalidInput("expert id and name must not be empty")
        object.__setattr__(self, "specialties", parse_specialties(self.specialties))
        langs = normalize_languages(self.languages)
        if not langs:
            raise InvalidInput(f"expert {self.id} must speak at least one language")
        object.__setattr__(self, "languages", langs)
        load_zone(self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        return load_zone(self.time_zone)

    @property
    def is_international(self) -> bool:
        return self.institution.kind is InstitutionKind.INTERNATIONAL

    def speaks(self, language: str) -> bool:
        return language in self.languages

    def fits(
        self,
        specialty: Specialty,
        language: str | None = None,
    ) -> bool:
        """Has the specialty and, when ``language`` is given, speaks it."""
        return specialty in self.specialties and (language is None or language in self.languages)


def index_experts(experts: Iterable[Expert]) -> dict[str, Expert]:
    """Experts by id; ``InvalidInput`` on a duplicate id."""
    result: dict[str, Expert] = {}
    for expert in experts:
        if expert.id in result:
            raise InvalidInput(f"duplicate expert id {expert.id}")
        result[expert.id] = expert
    return result
