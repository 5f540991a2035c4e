from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.workdays import WorkCalendar
from vidconsult.errors import InvalidInput

CST = ZoneInfo("Asia/Shanghai")

# 2025 National Day: Oct 1-8 off; Sun Sep 28 and Sat Oct 11 are make-up working days (调休).
GOLDEN_WEEK = [date(2025, 10, d) for d in range(1, 9)]
MAKEUP = [date(2025, 9, 28), date(2025, 10, 11)]


def test_plain_week_friday_request_counts_mon_tue_wed() -> None:
    cal = WorkCalendar()
    deadline = cal.sla_deadline(datetime(2026, 3, 6, 16, 0, tzinfo=CST))  # Friday
    assert deadline == datetime(2026, 3, 12, 0, 0, tzinfo=CST)  # end of Wednesday


def test_request_day_itself_never_counts_even_early_on_a_working_day() -> None:
    cal = WorkCalendar()
    deadline = cal.sla_deadline(datetime(2026, 3, 9, 0, 5, tzinfo=CST))  # Monday 00:05
    assert deadline == datetime(2026, 3, 13, 0, 0, tzinfo=CST)  # Tue, Wed, Thu


def test_request_date_is_taken_in_the_centre_zone() -> None:
    cal = WorkCalendar()
    # Sunday 17:00 UTC is already Monday 01:00 in Shanghai.
    deadline = cal.sla_deadline(datetime(2026, 3, 8, 17, 0, tzinfo=ZoneInfo("UTC")))
    assert deadline == datetime(2026, 3, 13, 0, 0, tzinfo=CST)


def test_holidays_are_skipped() -> None:
    cal = WorkCalendar.of(holidays=GOLDEN_WEEK)
    assert not cal.is_working_day(date(2025, 10, 2))  # a Thursday, but a holiday
    # Tue Sep 30: Oct 1-8 off -> Thu 9, Fri 10, then Mon 13 (no make-up days listed)
    assert cal.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 13)


def test_makeup_working_days_count_on_weekends() -> None:
    cal = WorkCalendar.of(holidays=GOLDEN_WEEK, makeup_workdays=MAKEUP)
    assert cal.is_working_day(date(2025, 9, 28))  # Sunday, but 调休
    assert not cal.is_working_day(date(2025, 9, 27))  # ordinary Saturday
    # Fri Sep 26: Sun 28 (make-up), Mon 29, Tue 30 -> deadline end of Tue Sep 30
    assert cal.sla_deadline(datetime(2025, 9, 26, 15, tzinfo=CST)) == datetime(
        2025, 10, 1, tzinfo=CST
    )
    # Tue Sep 30: Thu Oct 9, Fri Oct 10, Sat Oct 11 (make-up) -> end of Sat Oct 11
    assert cal.sla_deadline(datetime(2025, 9, 30, 10, tzinfo=CST)) == datetime(
        2025, 10, 12, tzinfo=CST
    )


def test_working_days_between() -> None:
    cal = WorkCalendar.of(holidays=GOLDEN_WEEK, makeup_workdays=MAKEUP)
    assert (
        cal.working_days_between(date(2025, 9, 26), date(2025, 10, 11)) == 6
    )  # 28, 29, 30, 9, 10, 11


def test_calendar_rejects_a_date_both_holiday_and_makeup() -> None:
    with pytest.raises(InvalidInput):
        WorkCalendar.of(holidays=[date(2025, 9, 28)], makeup_workdays=[date(2025, 9, 28)])


def test_calendar_without_working_days_is_an_error_not_a_hang() -> None:
    every_day = [date(2026, 1, 1).fromordinal(date(2026, 1, 1).toordinal() + i) for i in range(800)]
    cal = WorkCalendar.of(holidays=every_day)
    with pytest.raises(InvalidInput):
        cal.add_working_days(date(2025, 12, 31), 1)
