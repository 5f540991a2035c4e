"""Expert rosters: recurring weekly shifts in the expert's OWN zone, leave and holidays.

A shift is "every <weekday> from <start> to <end>" in local wall-clock time; ``end <= start``
means the shift runs past midnight into the next day. Converting a week's shifts to instants is
done per date with ``zoneinfo``, so a 09:00 New York shift is 14:00 UTC in winter and 13:00 UTC in
summer. Wall-clock times that do not exist (the spring-forward gap) resolve as Python does for
``fold=0``: 02:30 on the US spring-forward day becomes 03:30 EDT.

Exceptions: ``leave`` is a list of aware instant ranges (a shift overlapping leave is cut, possibly
into two pieces); ``holidays`` are the expert's own local dates with no shift starting on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vidconsult.domain.timeutil import load_zone, require_aware, to_epoch
from vidconsult.errors import InvalidInput

_DAY_MIN = 24 * 60
_WEEK_MIN = 7 * _DAY_MIN


@dataclass(frozen=True, slots=True)
class WeeklyShift:
    weekday: int  # Monday=0 .. Sunday=6, as date.weekday()
    start: time
    end: time  # end <= start: the shift ends the next day

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise InvalidInput(f"weekday must be 0..6, got {self.weekday}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise InvalidInput("shift times are local wall-clock times without tzinfo")
        if self.start == self.end:
            raise InvalidInput("a shift must not be empty or 24 hours long")

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def week_minutes(self) -> tuple[int, int]:
        """[start, end) in minutes from Monday 00:00; ``end`` may exceed one week."""
        start = self.weekday * _DAY_MIN + self.start.hour * 60 + self.start.minute
        end = self.weekday * _DAY_MIN + self.end.hour * 60 + self.end.minute
        if self.overnight:
            end += _DAY_MIN
        return start, end

    def bounds_on(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The aware start and end of this shift when it starts on local ``day``."""
        end_day = day + timedelta(days=1) if self.overnight else day
        return (
            datetime.combine(day, self.start, tzinfo=zone),
            datetime.combine(end_day, self.end, tzinfo=zone),
        )


@dataclass(frozen=True, slots=True)
class Leave:
    start: datetime
    end: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        require_aware(self.start, "leave start")
        require_aware(self.end, "leave end")
        if self.end <= self.start:
            raise InvalidInput("leave must end after it starts")

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True)
class Roster:
    expert_id: str
    time_zone: str
    shifts: tuple[WeeklyShift, ...]
    leave: tuple[Leave, ...] = field(default=())
    holidays: frozenset[date] = field(default=frozenset())

    def __post_init__(self) -> None:
        load_zone(self.time_zone)
        object.__setattr__(self, "shifts", tuple(sorted(self.shifts, key=_shift_key)))
        object.__setattr__(self, "leave", tuple(sorted(self.leave, key=lambda lv: lv.start)))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        _check_no_overlap(self.shifts)

    @property
    def zone(self) -> ZoneInfo:
        return load_zone(self.time_zone)

    def on_leave(self, instant: datetime) -> bool:
        return any(lv.covers(instant) for lv in self.leave)

    def leave_epochs(self) -> list[tuple[int, int]]:
        return [(to_epoch(lv.start), to_epoch(lv.end)) for lv in self.leave]


def _shift_key(shift: WeeklyShift) -> tuple[int, time]:
    return shift.weekday, shift.start


def _check_no_overlap(shifts: tuple[WeeklyShift, ...]) -> None:
    spans = sorted(s.week_minutes() for s in shifts)
    for (_, prev_end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < prev_end:
            raise InvalidInput("roster shifts overlap", code="overlapping_shifts")
    if spans and spans[-1][1] > _WEEK_MIN and spans[-1][1] - _WEEK_MIN > spans[0][0]:
        raise InvalidInput("roster shifts overlap across the week end", code="overlapping_shifts")


def iter_shift_epochs(roster: Roster, first_day: date, last_day: date) -> Iterator[tuple[int, int]]:
    """Shift instances ``(start, end)`` in epoch seconds whose local start date lies in
    ``[first_day, last_day)``, in time order, skipping the expert's holidays. Leave not applied."""
    zone = roster.zone
    by_weekday: dict[int, list[WeeklyShift]] = {}
    for shift in roster.shifts:
        by_weekday.setdefault(shift.weekday, []).append(shift)
    day = first_day
    while day < last_day:
        if day not in roster.holidays:
            for shift in by_weekday.get(day.weekday(), ()):
                start, end = shift.bounds_on(day, zone)
                s, e = int(start.timestamp()), int(end.timestamp())
                if e > s:  # a shift swallowed entirely by a DST gap yields nothing
                    yield s, e
        day += timedelta(days=1)


def subtract_leave(start: int, end: int, leave: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pieces of ``[start, end)`` not covered by the (sorted) leave ranges."""
    pieces: list[tuple[int, int]] = []
    cursor = start
    for ls, le in leave:
        if le <= cursor:
            continue
        if ls >= end:
            break
        if ls > cursor:
            pieces.append((cursor, ls))
        cursor = max(cursor, le)
        if cursor >= end:
            break
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def shift_instances(
    roster: Roster, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Available intervals (shifts minus leave) overlapping ``[start, end)``, as aware datetimes
    in the expert's zone. A convenience for display and tests; the booking index uses epochs."""
    zone = roster.zone
    lo, hi = to_epoch(start), to_epoch(end)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    leave = roster.leave_epochs()
    result: list[tuple[datetime, datetime]] = []
    for s, e in iter_shift_epochs(roster, first, last):
        for ps, pe in subtract_leave(s, e, leave):
            if pe > lo and ps < hi:
                result.append((datetime.fromtimestamp(ps, zone), datetime.fromtimestamp(pe, zone)))
    return result


def shift_covering(roster: Roster, instant: datetime) -> tuple[datetime, datetime] | None:
    """The available shift interval containing ``instant`` (leave excluded), if any."""
    for s, e in shift_instances(roster, instant, instant + timedelta(seconds=1)):
        if s <= instant < e:
            return s, e
    return None
