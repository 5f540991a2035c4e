"""The room of a booking: who is invited (the parties), its window, its state and attendance.

A booking (case or lecture) gets its room when it is made, in the ``scheduled`` state. The
scheduler opens it at ``opens_at`` (start - lead), closes it at ``closes_at`` (end + grace) unless
someone is still in it, and records the attendance verdict (:func:`room_window.decide_attendance`).

Parties and their identities (stable, so a join token minted twice names the same participant):

| party        | identity               | role        | who                                   |
|--------------|------------------------|-------------|---------------------------------------|
| patient      | ``patient-{case}``     | patient     | the patient at the unit's consult room |
| referrer     | ``doctor-{case}``      | doctor      | the referring (local) doctor          |
| expert       | the expert id          | expert      | each booked expert                    |
| interpreter  | ``interpreter-{case}`` | interpreter | when the case asks for one            |
| presenter    | the expert id          | expert      | a lecture's presenter                 |
| audience     | ``unit-{unit}``        | observer    | each audience unit of a lecture       |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vidconsult.domain.cases import Case
from vidconsult.domain.experts import Expert
from vidconsult.domain.lectures import Lecture
from vidconsult.domain.roles import Role
from vidconsult.domain.room_window import Attendance
from vidconsult.domain.units import Unit
from vidconsult.errors import Conflict


class RoomState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Party:
    kind: str  # patient, referrer, expert, interpreter, presenter, audience
    identity: str
    role: Role
    name: str


@dataclass(slots=True)
class BookedRoom:
    booking_id: str
    room_id: str
    opens_at: datetime
    closes_at: datetime
    parties: tuple[Party, ...]
    case_id: str | None = None
    lecture_id: str | None = None
    state: RoomState = RoomState.SCHEDULED
    attendance: Attendance = Attendance.PENDING
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None

    def mark_open(self, at: datetime) -> None:
        if self.state is not RoomState.SCHEDULED:
            raise Conflict(f"room {self.room_id} is {self.state.value}", code="room_not_scheduled")
        self.state = RoomState.OPEN
        self.opened_at = at

    def mark_closed(self, at: datetime, reason: str) -> None:
        if self.state is RoomState.CLOSED:
            raise Conflict(f"room {self.room_id} is already closed", code="room_ended")
        self.state = RoomState.CLOSED
        self.closed_at = at
        self.close_reason = reason

    def party(self, identity: str) -> Party | None:
        return next((p for p in self.parties if p.identity == identity), None)


def case_parties(
    case: Case, unit: Unit, experts: Iterable[Expert], *, interpreter: Expert | None = None
) -> tuple[Party, ...]:
    """Who is invited to a case's booked room: a booked ``interpreter`` by their own id, else
    a placeholder identity when the case asks for one."""
    where = unit.name + (f" · {unit.consult_rooms[0]}" if unit.consult_rooms else "")
    parties = [
        Party("patient", f"patient-{case.id}", Role.PATIENT, f"{case.patient.name} ({where})"),
        Party(
            "referrer", f"doctor-{case.id}", Role.DOCTOR, f"{case.referring_doctor} ({unit.name})"
        ),
    ]
    parties += [Party("expert", e.id, Role.EXPERT, e.name) for e in experts]
    if interpreter is not None:
        parties.append(Party("interpreter", interpreter.id, Role.INTERPRETER, interpreter.name))
    elif case.interpreter_needed:
        parties.append(
            Party("interpreter", f"interpreter-{case.id}", Role.INTERPRETER, "Interpreter")
        )
    return tuple(parties)


def emergency_parties(case: Case, unit: Unit, expert: Expert) -> tuple[Party, ...]:
    """An emergency room: the requesting unit's consult room (patient and local doctor at one
    screen, as a doctor) and the summoned on-duty expert."""
    where = unit.name + (f" · {unit.consult_rooms[0]}" if unit.consult_rooms else "")
    return (
        Party("unit", f"unit-{unit.id}", Role.DOCTOR, f"{case.referring_doctor} ({where})"),
        Party("expert", expert.id, Role.EXPERT, expert.name),
    )


def lecture_parties(
    lecture: Lecture, presenter: Expert, units: Iterable[Unit]
) -> tuple[Party, ...]:
    """The presenter publishes; every audience unit only watches (observer)."""
    return (
        Party("presenter", presenter.id, Role.EXPERT, presenter.name),
        *(Party("audience", f"unit-{u.id}", Role.OBSERVER, u.name) for u in units),
    )
