"""The on-duty rota per specialty: who answers an emergency at instant ``t``.

Each specialty has weekly duty slots ("every Tuesday 20:00-08:00 Asia/Shanghai, cardiology: Dr
Wang"), written in the rota's own zone (often the centre's; the China-US joint clinic keeps one in
China time), plus dated overrides (swaps, cover) that win over the weekly slots while they last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vidconsult.domain.rosters import WeeklyShift
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.timeutil import load_zone, require_aware
from vidconsult.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class DutySlot:
    specialty: Specialty
    expert_id: str
    shift: WeeklyShift
    time_zone: str

    def __post_init__(self) -> None:
        load_zone(self.time_zone)
        if not self.expert_id:
            raise InvalidInput("duty slot needs an expert")

    def covers(self, instant: datetime) -> bool:
        """True when ``instant`` falls in this weekly slot (DST-aware, overnight slots too)."""
        zone = load_zone(self.time_zone)
        local_day = require_aware(instant, "instant").astimezone(zone).date()
        # An overnight slot that started yesterday may still be running.
        for day in (local_day, local_day - timedelta(days=1)):
            if day.weekday() != self.shift.weekday:
                continue
            start, end = self.shift.bounds_on(day, zone)
            if start <= instant < end:
                return True
        return False


@dataclass(frozen=True, slots=True)
class DutyOverride:
    """``expert_id`` is on duty for ``specialty`` in ``[start, end)``, replacing weekly slots.
    ``id`` is the store's; ``created_at`` orders overlapping overrides (see ``on_duty``)."""

    specialty: Specialty
    expert_id: str
    start: datetime
    end: datetime
    id: str = ""
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.start, "override start")
        require_aware(self.end, "override end")
        if self.end <= self.start:
            raise InvalidInput("duty override must end after it starts")

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True)
class DutyRota:
    slots: tuple[DutySlot, ...] = field(default=())
    overrides: tuple[DutyOverride, ...] = field(default=())

    @classmethod
    def of(cls, slots: Iterable[DutySlot] = (), overrides: Iterable[DutyOverride] = ()) -> DutyRota:
        return cls(tuple(slots), tuple(overrides))

    def on_duty(self, specialty: Specialty, instant: datetime) -> tuple[str, ...]:
        """Expert ids on duty for ``specialty`` at ``instant``, in rota order, no duplicates.

        Overrides covering the instant replace the weekly slots entirely; with none, every weekly
        slot covering the instant counts (a team may have several members on duty). When
        overrides overlap, the most recently created one comes first (its expert is paged
        first: a later override is the coordinator's latest word), the older ones after it as
        backups; ties (and overrides kept before their creation time was) by id."""
        require_aware(instant, "instant")
        covering = sorted(
            (o for o in self.overrides if o.specialty == specialty and o.covers(instant)),
            key=_newest_first,
        )
        chosen = [o.expert_id for o in covering]
        if not chosen:
            chosen = [
                s.expert_id for s in self.slots if s.specialty == specialty and s.covers(instant)
            ]
        return tuple(dict.fromkeys(chosen))


def _newest_first(o: DutyOverride) -> tuple[int, float, str]:
    if o.created_at is None:
        return (1, 0.0, o.id)
    return (0, -o.created_at.timestamp(), o.id)
