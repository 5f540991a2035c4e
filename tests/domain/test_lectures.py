from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.experts import Expert
from vidconsult.domain.lectures import Lecture, book_lecture
from vidconsult.domain.rosters import Roster
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.slots import BookingPolicy, SlotQuery, find_earliest_slot
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import Conflict, InvalidInput

CST = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 9, 9, tzinfo=CST)  # Monday


def lecture(start: datetime = START, units: frozenset[str] = frozenset({"u1", "u2"})) -> Lecture:
    return Lecture("L1", "Chest pain triage", "e", units, start, start + timedelta(hours=1))


def test_lecture_validation() -> None:
    with pytest.raises(InvalidInput) as err:
        lecture(units=frozenset())
    assert err.value.code == "no_audience"
    with pytest.raises(InvalidInput):
        Lecture("L", "t", "e", frozenset({"u"}), START, START)
    assert lecture().is_audience("u2") and not lecture().is_audience("u3")


def test_lecture_blocks_the_presenter_and_has_no_case(
    make_expert: Callable[..., Expert], make_roster: Callable[..., Roster]
) -> None:
    e = make_expert("e")
    index = ScheduleIndex([e], [make_roster(e, [0], "09:00", "12:00")], origin=START)
    booking = book_lecture(
        index, lecture(), "bk-L1", now=START - timedelta(days=1), policy=BookingPolicy()
    )
    assert booking.case_id is None and booking.lecture_id == "L1" and not booking.off_roster
    offer = find_earliest_slot(
        index, SlotQuery(Specialty.CARDIOLOGY), requested_at=START, policy=BookingPolicy()
    )
    assert offer.start == START + timedelta(hours=1)  # the lecture hour is taken
    with pytest.raises(Conflict) as err:
        book_lecture(
            index,
            lecture(START + timedelta(minutes=30)),
            "bk-L2",
            now=START,
            policy=BookingPolicy(),
        )
    assert err.value.code == "double_booking"
    evening = book_lecture(
        index, lecture(START + timedelta(hours=10)), "bk-L3", now=START, policy=BookingPolicy()
    )
    assert evening.off_roster is True
