from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.bookings import Booking
from vidconsult.domain.emergency import (
    EmergencyClosing,
    PickSource,
    emergency_close_reason,
    ensure_withdrawable,
    pick_emergency_expert,
)
from vidconsult.domain.experts import Expert
from vidconsult.domain.rosters import Leave, Roster, WeeklyShift
from vidconsult.domain.rota import DutyOverride, DutyRota, DutySlot
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import Conflict, NotFound

CST = ZoneInfo("Asia/Shanghai")
CARDIO = Specialty.CARDIOLOGY
MakeExpert = Callable[..., Expert]
MakeRoster = Callable[..., Roster]
TUE = 1


def cst(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CST)


def slot(expert: str, weekday: int, start: str, end: str, zone: str = "Asia/Shanghai") -> DutySlot:
    return DutySlot(
        CARDIO,
        expert,
        WeeklyShift(weekday, time.fromisoformat(start), time.fromisoformat(end)),
        zone,
    )


@pytest.fixture
def index(make_expert: MakeExpert, make_roster: MakeRoster) -> ScheduleIndex:
    day = make_expert("day")
    night = make_expert("night")
    backup = make_expert("backup")
    us = make_expert("us", languages=["en"], time_zone="America/New_York", international=True)
    return ScheduleIndex(
        [day, night, backup, us],
        [make_roster(backup, [TUE], "13:00", "15:00")],
        origin=cst(2026, 3, 1),
    )


ROTA = DutyRota.of(
    [
        slot("day", TUE, "08:00", "20:00"),
        slot("night", TUE, "20:00", "08:00"),  # overnight into Wednesday
        slot("us", 0, "09:00", "17:00", zone="America/New_York"),  # Mon NY = Mon night CST
    ]
)


def test_rota_picks_who_is_on_duty(index: ScheduleIndex) -> None:
    assert (
        pick_emergency_expert(CARDIO, cst(2026, 3, 10, 9), rota=ROTA, index=index).expert_id
        == "day"
    )
    assert ROTA.on_duty(CARDIO, cst(2026, 3, 10, 19, 59)) == ("day",)
    assert ROTA.on_duty(CARDIO, cst(2026, 3, 10, 20, 0)) == ("night",)
    pick = pick_emergency_expert(CARDIO, cst(2026, 3, 11, 3), rota=ROTA, index=index)
    assert (pick.expert_id, pick.source) == ("night", PickSource.ROTA)
    assert ROTA.on_duty(CARDIO, cst(2026, 3, 11, 8)) == ()


def test_rota_slot_in_us_time_tracks_dst() -> None:
    # Monday 09:00 New York: 22:00 CST before 2026-03-08, 21:00 CST after.
    assert ROTA.on_duty(CARDIO, cst(2026, 3, 2, 21, 30)) == ()
    assert ROTA.on_duty(CARDIO, cst(2026, 3, 2, 22, 0)) == ("us",)
    assert ROTA.on_duty(CARDIO, cst(2026, 3, 9, 21, 0)) == ("us",)


def test_override_replaces_weekly_slots() -> None:
    rota = DutyRota.of(
        ROTA.slots, [DutyOverride(CARDIO, "backup", cst(2026, 3, 10, 8), cst(2026, 3, 10, 12))]
    )
    assert rota.on_duty(CARDIO, cst(2026, 3, 10, 9)) == ("backup",)
    assert rota.on_duty(CARDIO, cst(2026, 3, 10, 12)) == ("day",)
    assert rota.on_duty(Specialty.NEUROLOGY, cst(2026, 3, 10, 9)) == ()


def test_busy_on_duty_expert_is_still_summoned_but_flagged(index: ScheduleIndex) -> None:
    index.add_booking(Booking("b", "day", cst(2026, 3, 10, 9), cst(2026, 3, 10, 9, 30)))
    pick = pick_emergency_expert(CARDIO, cst(2026, 3, 10, 9, 10), rota=ROTA, index=index)
    assert (pick.expert_id, pick.busy) == ("day", True)


def test_fallback_to_an_expert_on_shift_then_no_one(index: ScheduleIndex) -> None:
    empty = DutyRota()
    pick = pick_emergency_expert(CARDIO, cst(2026, 3, 10, 14), rota=empty, index=index)
    assert (pick.expert_id, pick.source) == ("backup", PickSource.ROSTER_FALLBACK)
    with pytest.raises(NotFound) as err:
        pick_emergency_expert(CARDIO, cst(2026, 3, 10, 16), rota=empty, index=index)
    assert err.value.code == "no_one_on_duty"


def test_on_duty_expert_on_leave_is_skipped(make_expert: MakeExpert) -> None:
    day = make_expert("day")
    roster = Roster("day", "Asia/Shanghai", (), (Leave(cst(2026, 3, 10), cst(2026, 3, 11)),))
    index = ScheduleIndex([day], [roster], origin=cst(2026, 3, 1))
    with pytest.raises(NotFound):
        pick_emergency_expert(CARDIO, cst(2026, 3, 10, 9), rota=ROTA, index=index)
    next_week = cst(2026, 3, 17, 9)
    assert pick_emergency_expert(CARDIO, next_week, rota=ROTA, index=index).expert_id == "day"


# closing emergency rooms ------------------------------------------------------------------------
OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
CLOSING = EmergencyClosing(idle=timedelta(minutes=30), unanswered=timedelta(minutes=60))


def _reason(
    minutes: float,
    *,
    occupied: bool = False,
    emptied_after: float | None = None,
    policy: EmergencyClosing = CLOSING,
) -> str | None:
    emptied = None if emptied_after is None else OPENED + timedelta(minutes=emptied_after)
    return emergency_close_reason(
        OPENED,
        OPENED + timedelta(minutes=minutes),
        occupied=occupied,
        emptied_at=emptied,
        policy=policy,
    )


def test_an_emergency_room_in_use_is_never_closed() -> None:
    assert _reason(24 * 60, occupied=True) is None
    assert _reason(24 * 60, occupied=True, emptied_after=5) is None  # they came back


def test_an_emptied_emergency_room_closes_after_the_idle_time() -> None:
    assert _reason(5 + 29, emptied_after=5) is None
    assert _reason(5 + 30, emptied_after=5) == "emergency_idle"
    # idle counts from the last leave, not from the opening
    assert _reason(90, emptied_after=70) is None


def test_an_unanswered_emergency_room_closes_after_the_unanswered_time() -> None:
    assert _reason(59) is None
    assert _reason(60) == "emergency_unanswered"


def test_zero_durations_never_close() -> None:
    never = EmergencyClosing(idle=timedelta(0), unanswered=timedelta(0))
    assert _reason(10_000, policy=never) is None
    assert _reason(10_000, emptied_after=1, policy=never) is None


def test_an_emergency_may_be_withdrawn_until_an_expert_is_in_its_room() -> None:
    ensure_withdrawable("case_1", [])  # nobody, or only the clinic and a coordinator
    with pytest.raises(Conflict) as refused:
        ensure_withdrawable("case_1", ["zhou", "wang", "zhou"])
    assert refused.value.code == "expert_joined"
    assert "wang, zhou joined" in refused.value.message
