"""Pure aggregation over cases: what the centre reports (kinds, outcomes, SLA, origin of experts).

Definitions:
- a case belongs to the period of its ``requested_at`` in the centre's zone;
- SLA: over cases that were booked (``sla_breach`` not ``None``), met % = met / (met + breached);
- a completed case is a domestic consultation when all its experts are from domestic
  institutions, international when any is from an international one (the joint clinic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from vidconsult.domain.cases import Case, CaseStatus
from vidconsult.domain.experts import Expert
from vidconsult.domain.timeutil import load_zone
from vidconsult.domain.units import DEFAULT_CENTRE_ZONE


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


def period_key(instant: datetime, period: Period, time_zone: str = DEFAULT_CENTRE_ZONE) -> str:
    """``"2026-03-09"``, ``"2026-W11"``, ``"2026-03"``, ``"2026-Q1"`` or ``"2026"``."""
    local = instant.astimezone(load_zone(time_zone))
    if period is Period.DAY:
        return local.date().isoformat()
    if period is Period.WEEK:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period is Period.MONTH:
        return f"{local.year}-{local.month:02d}"
    if period is Period.QUARTER:
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    return str(local.year)


@dataclass(slots=True)
class Tally:
    total: int = 0
    by_urgency: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    sla_met: int = 0
    sla_breached: int = 0
    domestic: int = 0
    international: int = 0
    referrals: int = 0
    green_channel: int = 0

    @property
    def sla_met_pct(self) -> float | None:
        judged = self.sla_met + self.sla_breached
        return round(100.0 * self.sla_met / judged, 1) if judged else None

    def add(self, case: Case, experts: Mapping[str, Expert]) -> None:
        self.total += 1
        self.by_urgency[case.urgency.value] += 1
        self.by_status[case.status.value] += 1
        if case.sla_breach is True:
            self.sla_breached += 1
        elif case.sla_breach is False:
            self.sla_met += 1
        if case.status is CaseStatus.COMPLETED:
            known = [experts[e] for e in case.expert_ids if e in experts]
            if any(e.is_international for e in known):
                self.international += 1
            elif known:
                self.domestic += 1
        if case.referral is not None:
            self.referrals += 1
            self.green_channel += case.referral.green_channel

    def to_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_urgency": dict(self.by_urgency),
            "by_status": dict(self.by_status),
            "sla_met": self.sla_met,
            "sla_breached": self.sla_breached,
            "sla_met_pct": self.sla_met_pct,
            "domestic": self.domestic,
            "international": self.international,
            "referrals": self.referrals,
            "green_channel": self.green_channel,
        }


@dataclass(slots=True)
class Summary:
    overall: Tally
    by_unit: dict[str, Tally]
    by_period: dict[str, Tally]

    def to_dict(self) -> dict[str, object]:
        return {
            "overall": self.overall.to_dict(),
            "by_unit": {k: v.to_dict() for k, v in sorted(self.by_unit.items())},
            "by_period": {k: v.to_dict() for k, v in sorted(self.by_period.items())},
        }


def summarize(
    cases: Iterable[Case],
    experts: Mapping[str, Expert],
    *,
    period: Period = Period.MONTH,
    time_zone: str = DEFAULT_CENTRE_ZONE,
) -> Summary:
    summary = Summary(Tally(), {}, {})
    for case in cases:
        summary.overall.add(case, experts)
        summary.by_unit.setdefault(case.referring_unit_id, Tally()).add(case, experts)
        key = period_key(case.requested_at, period, time_zone)
        summary.by_period.setdefault(key, Tally()).add(case, experts)
    return summary
