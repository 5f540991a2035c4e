"""Paging an emergency: the chain (on-duty expert, backup, coordinators), escalation when a
page goes unanswered in time, decline, acceptance closing the other pages. Pure: no clock."""

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.emergency import EmergencyPick, PickSource
from vidconsult.domain.experts import Expert
from vidconsult.domain.paging import (
    CancelReason,
    PageStatus,
    PageTarget,
    Paging,
    PagingPolicy,
    PagingState,
    paging_chain,
)
from vidconsult.domain.rosters import Leave, Roster, WeeklyShift
from vidconsult.domain.rota import DutyRota, DutySlot
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import Conflict, InvalidInput, NotFound, PermissionDenied

CST = ZoneInfo("Asia/Shanghai")
CARDIO = Specialty.CARDIOLOGY
TUE = 1
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=CST)  # a Tuesday
MakeExpert = Callable[..., Expert]
MakeRoster = Callable[..., Roster]
ZHOU, WANG = PageTarget.expert("zhou"), PageTarget.expert("wang")
COORD = PageTarget.coordinators()


def slot(expert: str) -> DutySlot:
    return DutySlot(CARDIO, expert, WeeklyShift(TUE, time(8), time(20)), "Asia/Shanghai")


def pick(expert_id: str) -> EmergencyPick:
    return EmergencyPick(expert_id, PickSource.ROTA, False)


def paging(answer_within: float = 60) -> Paging:
    return Paging(
        case_id="case_1",
        room_id="room_1",
        unit_id="vil-1",
        specialty=CARDIO,
        opened_at=T0,
        chain=(ZHOU, WANG, COORD),
        policy=PagingPolicy(timedelta(seconds=answer_within)),
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- the chain --------------------------------------------------------------------------------
def test_chain_is_the_pick_then_the_next_on_the_rota_then_coordinators(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    experts = [make_expert(e) for e in ("zhou", "wang", "li")]
    index = ScheduleIndex(experts, [make_roster(experts[2], [TUE], "08:00", "12:00")], origin=T0)
    rota = DutyRota.of([slot("zhou"), slot("wang")])
    assert paging_chain(pick("zhou"), CARDIO, T0, rota=rota, index=index) == (ZHOU, WANG, COORD)
    # the pick was the second on the rota (the first was busy): the first is the backup
    assert paging_chain(pick("wang"), CARDIO, T0, rota=rota, index=index) == (WANG, ZHOU, COORD)


def test_backup_skips_leave_and_falls_back_to_an_expert_on_shift(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    zhou, wang, li = (make_expert(e) for e in ("zhou", "wang", "li"))
    away = make_roster(wang, [TUE], "08:00", "20:00")
    away = Roster(away.expert_id, away.time_zone, away.shifts, (Leave(at(-3600), at(3600)),))
    index = ScheduleIndex(
        [zhou, wang, li], [away, make_roster(li, [TUE], "08:00", "12:00")], origin=T0
    )
    rota = DutyRota.of([slot("zhou"), slot("wang")])
    chain = paging_chain(pick("zhou"), CARDIO, T0, rota=rota, index=index)
    assert chain == (ZHOU, PageTarget.expert("li"), COORD)
    # nobody else at all: the coordinators come second
    alone = ScheduleIndex([zhou], [], origin=T0)
    assert paging_chain(
        pick("zhou"), CARDIO, T0, rota=DutyRota.of([slot("zhou")]), index=alone
    ) == (ZHOU, COORD)


# -- escalation -------------------------------------------------------------------------------
def test_first_step_rings_at_once_and_escalates_only_when_its_time_is_up() -> None:
    p = paging(answer_within=60)
    change = p.start(T0)
    assert [pg.target for pg in change.sent] == [ZHOU]
    assert p.deadline == at(60)
    assert p.tick(at(59.9)).sent == ()
    change = p.tick(at(60))
    assert [pg.target for pg in change.sent] == [WANG]
    assert [pg.id for pg in change.unanswered] == ["case_1.p0"]
    assert p.pages[0].status is PageStatus.UNANSWERED and p.pages[0].open
    assert p.deadline == at(120)
    change = p.tick(at(125))
    assert [pg.target for pg in change.sent] == [COORD]
    # the coordinators ring until someone answers: nothing more to escalate to
    assert p.deadline is None and p.tick(at(10_000)).sent == ()
    assert [pg.id for pg in p.open_pages()] == ["case_1.p0", "case_1.p1", "case_1.p2"]
    with pytest.raises(Conflict):
        p.start(at(1))


def test_decline_pages_the_next_person_at_once() -> None:
    p = paging()
    p.start(T0)
    change = p.decline("case_1.p0", "zhou", at(5), coordinator=False)
    assert [pg.target for pg in change.sent] == [WANG]
    assert change.closed[0].status is PageStatus.DECLINED
    assert p.deadline == at(65)  # the backup's own minute starts now
    with pytest.raises(Conflict):  # a declined page cannot be accepted after all
        p.accept("case_1.p0", "zhou", at(6), coordinator=False)


def test_accept_answers_and_cancels_every_other_open_page() -> None:
    p = paging()
    p.start(T0)
    p.tick(at(60))
    # the first expert may still take the page they missed, while nobody has answered
    change = p.accept("case_1.p0", "zhou", at(70), coordinator=False)
    assert p.state is PagingState.ANSWERED and p.answered_by == "zhou"
    assert {(pg.id, pg.status, pg.reason) for pg in change.closed} == {
        ("case_1.p0", PageStatus.ACCEPTED, None),
        ("case_1.p1", PageStatus.CANCELLED, CancelReason.ANSWERED_ELSEWHERE),
    }
    assert p.pages[1].closed_at == at(70)
    assert p.deadline is None and p.tick(at(500)).sent == ()
    with pytest.raises(Conflict) as err:
        p.accept("case_1.p1", "wang", at(71), coordinator=False)
    assert err.value.code == "page_answered"


def test_only_the_paged_person_answers_and_any_coordinator_answers_theirs() -> None:
    p = paging(answer_within=1)
    p.start(T0)
    with pytest.raises(PermissionDenied):
        p.accept("case_1.p0", "wang", at(0.5), coordinator=False)
    with pytest.raises(PermissionDenied):  # a coordinator does not take an expert's page
        p.accept("case_1.p0", "li.coord", at(0.5), coordinator=True)
    with pytest.raises(NotFound):
        p.accept("case_1.p9", "zhou", at(0.5), coordinator=False)
    p.tick(at(1))
    p.tick(at(2))
    p.accept("case_1.p2", "li.coord", at(3), coordinator=True)
    assert p.answered_by == "li.coord" and p.pages[2].answered_by == "li.coord"


def test_closing_cancels_open_pages_and_refuses_answers() -> None:
    p = paging()
    p.start(T0)
    change = p.close(at(30))
    assert [(pg.status, pg.reason) for pg in change.closed] == [
        (PageStatus.CANCELLED, CancelReason.ROOM_CLOSED)
    ]
    assert p.state is PagingState.CLOSED
    with pytest.raises(Conflict):
        p.accept("case_1.p0", "zhou", at(31), coordinator=False)
    # withdrawn: every open page (the unanswered one and the ringing one) says so
    w = paging()
    w.start(T0)
    w.tick(at(60))
    change = w.close(at(61), CancelReason.EMERGENCY_WITHDRAWN)
    assert [(pg.id, pg.reason) for pg in change.closed] == [
        ("case_1.p0", CancelReason.EMERGENCY_WITHDRAWN),
        ("case_1.p1", CancelReason.EMERGENCY_WITHDRAWN),
    ]


def test_first_expert_arrival_is_recorded_once_and_bad_input_is_refused() -> None:
    p = paging()
    assert p.expert_arrived(at(20)) and not p.expert_arrived(at(30))
    assert p.first_expert_at == at(20)
    with pytest.raises(InvalidInput):
        PagingPolicy(timedelta(0))
    with pytest.raises(InvalidInput):
        Paging("c", "r", "u", CARDIO, T0, chain=())
