from datetime import UTC, datetime, timedelta

import pytest

from vidconsult.domain.booked_rooms import BookedRoom, RoomState, case_parties, lecture_parties
from vidconsult.domain.cases import Patient, Sex, Urgency, open_case
from vidconsult.domain.lectures import Lecture
from vidconsult.domain.roles import Role
from vidconsult.domain.units import Unit, UnitTier
from vidconsult.errors import Conflict

T0 = datetime(2026, 3, 9, 1, tzinfo=UTC)
UNIT = Unit("vil-1", "Village Clinic", UnitTier.VILLAGE, consult_rooms=("first-consult room",))


def test_case_parties_name_the_consult_room_and_add_an_interpreter(make_expert) -> None:
    case = open_case(
        case_id="c1",
        patient=Patient("Zhang", Sex.MALE, age_years=40),
        referring_unit_id="vil-1",
        referring_doctor="Dr Zhao",
        specialty="cardiology",
        urgency=Urgency.ROUTINE,
        clinical_summary="x",
        requested_at=T0,
        requested_by="coord",
        interpreter_needed=True,
    )
    parties = {p.kind: p for p in case_parties(case, UNIT, [make_expert("wang")])}
    assert [(p.identity, p.role) for p in parties.values()] == [
        ("patient-c1", Role.PATIENT),
        ("doctor-c1", Role.DOCTOR),
        ("wang", Role.EXPERT),
        ("interpreter-c1", Role.INTERPRETER),
    ]
    assert "first-consult room" in parties["patient"].name


def test_lecture_audience_only_watches(make_expert) -> None:
    lec = Lecture("l1", "ECG", "wang", frozenset({"vil-1"}), T0, T0 + timedelta(hours=1))
    presenter, viewer = lecture_parties(lec, make_expert("wang"), [UNIT])
    assert (presenter.role, viewer.role, viewer.identity) == (
        Role.EXPERT,
        Role.OBSERVER,
        "unit-vil-1",
    )


def test_state_moves_forward_only() -> None:
    room = BookedRoom("b1", "rm1", T0, T0 + timedelta(hours=1), ())
    room.mark_open(T0)
    with pytest.raises(Conflict):
        room.mark_open(T0)
    room.mark_closed(T0 + timedelta(hours=1), "window_closed")
    assert room.state is RoomState.CLOSED
    with pytest.raises(Conflict):
        room.mark_closed(T0 + timedelta(hours=2), "again")
