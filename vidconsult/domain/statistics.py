"""Pure aggregation over cases: what the centre reports (kinds, outcomes, SLA, origin of experts).

Definitions:
- a case belongs to the period of its ``requested_at`` in the centre's zone;
- SLA: over cases that were booked (``sla_breach`` not ``None``), met % = met / (met + breached);
- every case is a domestic or an international consultation (so the two add up to the total,
  whatever the case's status): international when any of its experts (booked or summoned; before
  that, the requested expert) is from an international institution (the joint clinic), domestic
  otherwise;
- emergency time to first expert: from the request to the case's first ``expert.arrived`` audit
  entry (the paging service writes it when an expert enters the emergency room); median and 90th
  percentile in seconds over the emergencies that have one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from vidconsult.domain.cases import Case, Urgency
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
    to_first_expert: list[float] = field(default_factory=list)  # seconds, emergencies

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
        named = case.expert_ids or ((case.requested_expert_id,) if case.requested_expert_id else ())
        if any(experts[e].is_international for e in named if e in experts):
            self.international += 1
        else:
            self.domestic += 1
        if case.urgency is Urgency.EMERGENCY:
            arrived = next((a.at for a in case.audit if a.action == "expert.arrived"), None)
            if arrived is not None:
                self.to_first_expert.append((arrived - case.requested_at).total_seconds())
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
            "emergency_to_expert_count": len(self.to_first_expert),
            "emergency_to_expert_median_s": _quantile(self.to_first_expert, 0.5),
            "emergency_to_expert_p90_s": _quantile(self.to_first_expert, 0.9),
        }


def _quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile, rounded to 0.1 s; ``None`` without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[rank - 1], 1)


@dataclass(slots=True)
class Summary:
    overall: Tally
    by_unit: dict[str, Tally]
    by_period: dict[str, Tally]
    by_specialty: dict[str, Tally] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "overall": self.overall.to_dict(),
            "by_unit": {k: v.to_dict() for k, v in sorted(self.by_unit.items())},
            "by_specialty": {k: v.to_dict() for k, v in sorted(self.by_specialty.items())},
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
        summary.by_specialty.setdefault(case.specialty.value, Tally()).add(case, experts)
        key = period_key(case.requested_at, period, time_zone)
        summary.by_period.setdefault(key, Tally()).add(case, experts)
    return summary
