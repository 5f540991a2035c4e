"""The centre's figures: cases by kind, outcome, SLA and origin of experts, per unit and period
(the pure aggregation is :func:`vidconsult.domain.statistics.summarize`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vidconsult.domain.statistics import Period, summarize
from vidconsult.store.base_workflow import CaseFilter, CaseStore, ExpertStore

MAX_CASES = 1_000_000


class StatisticsService:
    def __init__(self, *, cases: CaseStore, experts: ExpertStore, time_zone: str) -> None:
        self._cases = cases
        self._experts = experts
        self._zone = time_zone

    async def summary(
        self,
        *,
        period: Period = Period.MONTH,
        unit_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        cases = await self._cases.list_cases(
            CaseFilter(unit_id=unit_id, requested_from=since, requested_to=until, limit=MAX_CASES)
        )
        experts = {e.id: e for e in await self._experts.list_experts()}
        result = summarize(cases, experts, period=period, time_zone=self._zone).to_dict()
        result["period"] = period.value
        result["time_zone"] = self._zone
        return result
