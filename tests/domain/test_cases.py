from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import (
    TERMINAL,
    TRANSITIONS,
    Case,
    CaseStatus,
    Patient,
    Sex,
    Urgency,
    open_case,
)
from vidconsult.domain.outcomes import ConsultationReport, Referral, ReferralPriority
from vidconsult.errors import Conflict, InvalidInput, PermissionDenied

CST = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 9, 8, tzinfo=CST)
S = CaseStatus


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_case(urgency: Urgency = Urgency.ROUTINE, case_id: str = "c1") -> Case:
    return open_case(
        case_id=case_id,
        patient=Patient("Li Wei", Sex.MALE, age_years=35),
        referring_unit_id="village-7",
        referring_doctor="Dr Zhao",
        specialty="cardiology",
        urgency=urgency,
        clinical_summary="Chest pain for 2 hours, ST elevation.",
        requested_at=T0,
        requested_by="coord-1",
    )


def booking(case: Case, expert: str = "exp-1", breach: bool = False) -> Booking:
    return Booking("bk1", expert, t(60), t(90), case_id=case.id, sla_breach=breach)


def report(by: str = "exp-1", at: datetime | None = None) -> ConsultationReport:
    return ConsultationReport("STEMI", "PCI within 90 minutes", by, at or t(100))


def drive(case: Case, target: CaseStatus, n: int) -> None:
    """Perform the transition ``case.status -> target`` the way callers do."""
    if target is S.SCHEDULED:
        case.schedule([booking(case)], by="coord-1", at=t(n))
    elif target is S.IN_PROGRESS:
        case.start(by="coord-1", at=t(n), expert_ids=["exp-1"])
    elif target is S.COMPLETED:
        case.complete(report(at=t(n)), by="exp-1", at=t(n))
    elif target is S.CANCELLED:
        case.cancel(by="coord-1", at=t(n), reason="family withdrew")
    elif target is S.NO_SHOW:
        case.mark_no_show(by="coord-1", at=t(n), reason="patient absent")
    elif target is S.REQUESTED:
        case.release(by="coord-1", at=t(n), reason="expert fell ill")


# Paths from ``requested`` to each status, to put a case there before trying a transition.
PATH = {
    S.REQUESTED: [],
    S.SCHEDULED: [S.SCHEDULED],
    S.IN_PROGRESS: [S.SCHEDULED, S.IN_PROGRESS],
    S.COMPLETED: [S.SCHEDULED, S.IN_PROGRESS, S.COMPLETED],
    S.CANCELLED: [S.CANCELLED],
    S.NO_SHOW: [S.SCHEDULED, S.NO_SHOW],
}
LEGAL = [(src, dst) for src, dsts in TRANSITIONS.items() for dst in sorted(dsts)]
ILLEGAL = [(src, dst) for src in S for dst in S if dst not in TRANSITIONS[src]]


def test_transition_table_shape() -> None:
    assert TERMINAL == {S.COMPLETED, S.CANCELLED, S.NO_SHOW}
    assert len(LEGAL) == 9


@pytest.mark.parametrize(("src", "dst"), LEGAL)
def test_every_legal_transition_is_recorded(src: CaseStatus, dst: CaseStatus) -> None:
    case = new_case(Urgency.EMERGENCY)  # emergency also allows requested -> in_progress
    for n, step in enumerate(PATH[src], start=1):
        drive(case, step, n)
    assert case.status is src
    before = len(case.audit)
    drive(case, dst, 50)
    assert case.status is dst
    entry = case.audit[-1]
    assert len(case.audit) == before + 1
    assert (entry.from_status, entry.to_status, entry.at) == (src, dst, t(50))
    assert entry.actor in {"coord-1", "exp-1"}


@pytest.mark.parametrize(("src", "dst"), ILLEGAL)
def test_every_illegal_transition_raises_conflict(src: CaseStatus, dst: CaseStatus) -> None:
    case = new_case(Urgency.EMERGENCY)
    for n, step in enumerate(PATH[src], start=1):
        drive(case, step, n)
    before = list(case.audit)
    with pytest.raises(Conflict) as err:
        drive(case, dst, 50)
    assert err.value.code == "illegal_transition"
    assert case.status is src and case.audit == before


def test_routine_case_cannot_start_without_booking() -> None:
    case = new_case(Urgency.ROUTINE)
    with pytest.raises(Conflict) as err:
        case.start(by="coord-1", at=t(1), expert_ids=["exp-1"])
    assert err.value.code == "illegal_transition"
    assert case.status is S.REQUESTED


def test_full_routine_path_keeps_an_audit_trail() -> None:
    case = new_case()
    case.schedule([booking(case, breach=True)], by="coord-1", at=t(1))
    assert (case.expert_ids, case.scheduled_start, case.sla_breach) == (("exp-1",), t(60), True)
    case.start(by="coord-1", at=t(60))
    referral = Referral(
        "City Hospital", "Cardiology", ReferralPriority.EMERGENCY, green_channel=True
    )
    case.complete(report(), by="exp-1", at=t(101), referral=referral)
    assert case.report is not None and case.referral is referral
    assert [(e.action, e.to_status) for e in case.audit] == [
        ("created", S.REQUESTED),
        ("transition", S.SCHEDULED),
        ("transition", S.IN_PROGRESS),
        ("transition", S.COMPLETED),
    ]


def test_only_a_booked_expert_signs() -> None:
    case = new_case()
    case.schedule([booking(case)], by="coord-1", at=t(1))
    case.start(by="coord-1", at=t(60))
    with pytest.raises(PermissionDenied) as err:
        case.complete(report(by="someone-else"), by="coord-1", at=t(101))
    assert err.value.code == "not_booked_expert"
    assert case.status is S.IN_PROGRESS


def test_release_clears_the_booking() -> None:
    case = new_case()
    case.schedule([booking(case)], by="coord-1", at=t(1))
    case.release(by="coord-1", at=t(2), reason="expert ill")
    assert case.status is S.REQUESTED and case.booking_ids == () and case.expert_ids == ()


def test_audit_never_goes_back_in_time_and_needs_reasons() -> None:
    case = new_case()
    with pytest.raises(InvalidInput):
        case.cancel(by="coord-1", at=T0 - timedelta(minutes=1), reason="x")
    with pytest.raises(InvalidInput):
        case.cancel(by="coord-1", at=t(1), reason="   ")
    assert case.status is S.REQUESTED


def test_schedule_refuses_bookings_of_another_case() -> None:
    case = new_case()
    other = new_case(case_id="c2")
    with pytest.raises(InvalidInput):
        case.schedule([booking(other)], by="coord-1", at=t(1))


def test_patient_validation_and_age() -> None:
    with pytest.raises(InvalidInput):
        Patient("X", Sex.FEMALE)
    p = Patient(
        "Wang Fang", Sex.FEMALE, birth_date=date(1990, 6, 15), id_number=" 11010519900615002x "
    )
    assert p.age_on(date(2026, 6, 14)) == 35 and p.age_on(date(2026, 6, 15)) == 36
    assert p.id_number == "11010519900615002X"


def test_green_channel_needs_an_urgent_referral() -> None:
    with pytest.raises(InvalidInput):
        Referral("City Hospital", "Cardiology", ReferralPriority.ROUTINE, green_channel=True)
