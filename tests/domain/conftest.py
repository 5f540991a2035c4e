"""Factories for the pure-domain tests (fixtures, so no test package is needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.experts import Expert, Institution, InstitutionKind
from vidconsult.domain.rosters import Leave, Roster, WeeklyShift

CST = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")

DOMESTIC = Institution("pumch", "Peking Union Medical College Hospital", InstitutionKind.DOMESTIC)
INTERNATIONAL = Institution("us-group", "US Partner Group", InstitutionKind.INTERNATIONAL, "US")

MakeExpert = Callable[..., Expert]
MakeRoster = Callable[..., Roster]


@pytest.fixture
def make_expert() -> MakeExpert:
    def make(
        expert_id: str,
        specialties: Iterable[str] = ("cardiology",),
        languages: Iterable[str] = ("zh",),
        time_zone: str = "Asia/Shanghai",
        international: bool = False,
    ) -> Expert:
        return Expert(
            id=expert_id,
            name=f"Dr {expert_id}",
            institution=INTERNATIONAL if international else DOMESTIC,
            specialties=frozenset(specialties),  # type: ignore[arg-type]
            languages=frozenset(languages),
            time_zone=time_zone,
        )

    return make


@pytest.fixture
def make_roster() -> MakeRoster:
    def make(
        expert: Expert,
        weekdays: Iterable[int],
        start: str,
        end: str,
        leave: Iterable[tuple[datetime, datetime]] = (),
    ) -> Roster:
        s, e = time.fromisoformat(start), time.fromisoformat(end)
        return Roster(
            expert_id=expert.id,
            time_zone=expert.time_zone,
            shifts=tuple(WeeklyShift(d, s, e) for d in weekdays),
            leave=tuple(Leave(a, b) for a, b in leave),
        )

    return make
