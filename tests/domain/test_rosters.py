from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.experts import Expert
from vidconsult.domain.rosters import Roster, WeeklyShift, shift_covering, shift_instances
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.slots import BookingPolicy, SlotQuery, find_earliest_slot
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import InvalidInput

CST = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
TUESDAY = 1
MakeExpert = Callable[..., Expert]
MakeRoster = Callable[..., Roster]


def test_new_york_tuesday_shift_in_china_time_across_us_dst_start(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    us = make_expert("us1", languages=["en"], time_zone="America/New_York", international=True)
    roster = make_roster(us, [TUESDAY], "09:00", "10:00")
    got = shift_instances(
        roster, datetime(2026, 3, 2, tzinfo=CST), datetime(2026, 3, 12, tzinfo=CST)
    )
    starts_cst = [s.astimezone(CST) for s, _ in got]
    # Before 2026-03-08 (EST, UTC-5): 09:00 NY = 22:00 CST Tuesday; after (EDT): 21:00 CST.
    assert starts_cst == [
        datetime(2026, 3, 3, 22, 0, tzinfo=CST),
        datetime(2026, 3, 10, 21, 0, tzinfo=CST),
    ]
    assert all(s.astimezone(NY).time() == time(9, 0) for s, _ in got)


def test_booking_search_offers_the_dst_shifted_china_time(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    us = make_expert("us1", languages=["en"], time_zone="America/New_York", international=True)
    index = ScheduleIndex(
        [us],
        [make_roster(us, [TUESDAY], "09:00", "09:30")],
        origin=datetime(2026, 3, 1, tzinfo=CST),
    )
    query = SlotQuery(Specialty.CARDIOLOGY, language="en")
    before = find_earliest_slot(
        index, query, requested_at=datetime(2026, 3, 2, 9, tzinfo=CST), policy=BookingPolicy()
    )
    after = find_earliest_slot(
        index, query, requested_at=datetime(2026, 3, 9, 9, tzinfo=CST), policy=BookingPolicy()
    )
    assert before.start == datetime(2026, 3, 3, 22, 0, tzinfo=CST)
    assert after.start == datetime(2026, 3, 10, 21, 0, tzinfo=CST)


def test_overnight_shift_runs_into_the_next_day(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    e = make_expert("night")
    roster = make_roster(e, [0], "22:00", "02:00")  # Monday night
    assert shift_covering(roster, datetime(2026, 3, 10, 1, 30, tzinfo=CST)) is not None  # Tue
    assert shift_covering(roster, datetime(2026, 3, 10, 2, 0, tzinfo=CST)) is None


def test_leave_cuts_a_shift_and_holidays_drop_it(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    e = make_expert("e")
    leave = (datetime(2026, 3, 9, 10, tzinfo=CST), datetime(2026, 3, 9, 11, tzinfo=CST))
    roster = make_roster(e, [0, 1], "09:00", "12:00", leave=[leave])
    monday = shift_instances(
        roster, datetime(2026, 3, 9, tzinfo=CST), datetime(2026, 3, 10, tzinfo=CST)
    )
    assert [(s.hour, t.hour) for s, t in monday] == [(9, 10), (11, 12)]
    with_holiday = Roster(e.id, e.time_zone, roster.shifts, holidays=frozenset({date(2026, 3, 10)}))
    tuesday = shift_instances(
        with_holiday, datetime(2026, 3, 10, tzinfo=CST), datetime(2026, 3, 11, tzinfo=CST)
    )
    assert tuesday == []


def test_overlapping_shifts_are_refused() -> None:
    with pytest.raises(InvalidInput):
        Roster(
            "x",
            "Asia/Shanghai",
            (WeeklyShift(0, time(9), time(12)), WeeklyShift(0, time(11), time(13))),
        )
    with pytest.raises(InvalidInput):  # Sunday overnight spills into Monday morning
        Roster(
            "x",
            "Asia/Shanghai",
            (WeeklyShift(6, time(22), time(8)), WeeklyShift(0, time(7), time(9))),
        )


def test_shift_bounds_need_local_times() -> None:
    with pytest.raises(InvalidInput):
        WeeklyShift(7, time(9), time(10))
    with pytest.raises(InvalidInput):
        WeeklyShift(0, time(9), time(9))
    start, end = WeeklyShift(0, time(9), time(10)).bounds_on(date(2026, 3, 9), CST)
    assert end - start == timedelta(hours=1)
