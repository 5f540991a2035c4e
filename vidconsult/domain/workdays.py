"""The centre's working-day calendar and the "within 3 working days" booking deadline.

Working day: Monday-Friday, unless listed as a holiday; a weekend day listed as a make-up
working day (调休, e.g. the Sunday before Golden Week) is a working day. A date listed both as a
holiday and as a make-up day is refused, since the calendar would be ambiguous.

Deadline definition (the SLA "book within N working days of the request"): take the request's
calendar date in the centre's zone, D. Count N working days strictly after D (D itself never
counts, even when it is a working day, because part of it has already gone). The deadline is the
END of the N-th such day, i.e. local midnight starting the following calendar day. A booked slot
meets the SLA when it ends at or before the deadline.

Example (N=3, no holidays): request on Friday 16:00 -> Mon, Tue, Wed -> deadline Thursday 00:00.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vidconsult.domain.timeutil import load_zone, require_aware
from vidconsult.domain.units import DEFAULT_CENTRE_ZONE
from vidconsult.errors import InvalidInput

DEFAULT_SLA_WORKING_DAYS = 3
# A calendar with no working day in a whole year is a configuration error, not an endless loop.
_MAX_SCAN_DAYS = 366


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    time_zone: str = DEFAULT_CENTRE_ZONE
    holidays: frozenset[date] = field(default=frozenset())
    makeup_workdays: frozenset[date] = field(default=frozenset())

    def __post_init__(self) -> None:
        load_zone(self.time_zone)
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "makeup_workdays", frozenset(self.makeup_workdays))
        both = self.holidays & self.makeup_workdays
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise InvalidInput(f"dates both holiday and make-up working day: {days}")

    @classmethod
    def of(
        cls,
        time_zone: str = DEFAULT_CENTRE_ZONE,
        holidays: Iterable[date] = (),
        makeup_workdays: Iterable[date] = (),
    ) -> WorkCalendar:
        return cls(time_zone, frozenset(holidays), frozenset(makeup_workdays))

    @property
    def zone(self) -> ZoneInfo:
        return load_zone(self.time_zone)

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def local_date(self, instant: datetime) -> date:
        return require_aware(instant, "instant").astimezone(self.zone).date()

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day strictly after ``day`` (``n >= 1``)."""
        if n < 1:
            raise InvalidInput("working-day count must be at least 1")
        current = day
        remaining = n
        for _ in range(_MAX_SCAN_DAYS * n):
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
                if remaining == 0:
                    return current
        raise InvalidInput("calendar has no working days in range", code="invalid_calendar")

    def working_days_between(self, start: date, end: date) -> int:
        """Working days ``d`` with ``start < d <= end`` (0 when ``end <= start``)."""
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def end_of_day(self, day: date) -> datetime:
        """Local midnight that ends ``day`` (an aware datetime in the centre's zone)."""
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)

    def sla_deadline(
        self, requested_at: datetime, working_days: int = DEFAULT_SLA_WORKING_DAYS
    ) -> datetime:
        """End of the ``working_days``-th working day after the request's local date."""
        day = self.local_date(requested_at)
        return self.end_of_day(self.add_working_days(day, working_days))
