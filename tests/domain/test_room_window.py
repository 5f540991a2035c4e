from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.bookings import Booking
from vidconsult.domain.roles import Role
from vidconsult.domain.room_window import (
    Attendance,
    JoinRefusal,
    Presence,
    decide_attendance,
    may_join,
    room_window,
)

CST = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 9, 10, tzinfo=CST)
BOOKING = Booking("b", "exp-1", START, START + timedelta(minutes=30), case_id="c")


def m(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_window_bounds() -> None:
    assert room_window(BOOKING) == (m(-10), m(45))
    assert room_window(BOOKING, lead=timedelta(0), grace=timedelta(0)) == (m(0), m(30))


@pytest.mark.parametrize(
    ("minute", "allowed", "reason"),
    [
        (-10.02, False, JoinRefusal.TOO_EARLY),
        (-10, True, None),
        (15, True, None),
        (44.98, True, None),
        (45, False, JoinRefusal.CLOSED),
    ],
)
def test_may_join(minute: float, allowed: bool, reason: JoinRefusal | None) -> None:
    decision = may_join(BOOKING, m(minute))
    assert (decision.allowed, decision.reason) == (allowed, reason)
    assert bool(decision) is allowed


def test_cancelled_booking_refuses_join() -> None:
    decision = may_join(BOOKING.cancelled(m(-60)), m(5))
    assert (decision.allowed, decision.reason) == (False, JoinRefusal.BOOKING_CANCELLED)


EXPERT = Presence("exp-1", Role.EXPERT)
PATIENT = Presence("pt", Role.PATIENT)
LOCAL_DOCTOR = Presence("doc", Role.DOCTOR)


@pytest.mark.parametrize(
    ("joined", "minute", "verdict"),
    [
        ([EXPERT, PATIENT], 1, Attendance.HELD),
        ([EXPERT, LOCAL_DOCTOR], 20, Attendance.HELD),
        ([EXPERT], 14, Attendance.PENDING),
        ([EXPERT], 15, Attendance.PATIENT_ABSENT),
        ([PATIENT], 15, Attendance.EXPERT_ABSENT),
        ([PATIENT, Presence("other-expert", Role.EXPERT)], 15, Attendance.EXPERT_ABSENT),
        ([Presence("coord", Role.COORDINATOR)], 15, Attendance.BOTH_ABSENT),
    ],
)
def test_no_show_rule(joined: list[Presence], minute: int, verdict: Attendance) -> None:
    got = decide_attendance(BOOKING, joined, m(minute))
    assert got is verdict
    assert got.is_no_show is (verdict not in (Attendance.HELD, Attendance.PENDING))
