"""Builders shared by the workflow store contract tests."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from vidconsult.domain.experts import Expert, Institution, InstitutionKind
from vidconsult.domain.rosters import WeeklyShift

CST = ZoneInfo("Asia/Shanghai")


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


def expert(expert_id: str, *specialties: str, international: bool = False) -> Expert:
    inst = (
        Institution("us", "US Partner Group", InstitutionKind.INTERNATIONAL, "US")
        if international
        else Institution("pumch", "PUMCH", InstitutionKind.DOMESTIC)
    )
    return Expert(
        expert_id,
        f"Dr {expert_id}",
        inst,
        frozenset(specialties or ("cardiology",)),  # type: ignore[arg-type]
        frozenset({"zh"}),
        "America/New_York" if international else "Asia/Shanghai",
    )


def shift(weekday: int, start: str, end: str) -> WeeklyShift:
    return WeeklyShift(weekday, time.fromisoformat(start), time.fromisoformat(end))
