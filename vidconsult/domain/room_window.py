"""When a booking's room may be entered, and whether a session was a no-show.

Window: the room opens ``lead`` (default 10 min) before the booked start and closes ``grace``
(default 15 min) after the booked end: ``[start - lead, end + grace)``.

Attendance: the expert side is present when the booked expert joined (participant identity ==
``booking.expert_id`` with role ``expert``); the patient side when a patient or the local doctor
joined. Both present -> held. Otherwise, until ``start + wait`` (default 15 min) the verdict is
pending; after it, the absent side(s) make it a no-show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from vidconsult.domain.bookings import Booking
from vidconsult.domain.roles import Role
from vidconsult.domain.timeutil import require_aware

DEFAULT_LEAD = timedelta(minutes=10)
DEFAULT_GRACE = timedelta(minutes=15)
DEFAULT_NO_SHOW_WAIT = timedelta(minutes=15)
PATIENT_SIDE = frozenset({Role.PATIENT, Role.DOCTOR})


class JoinRefusal(StrEnum):
    BOOKING_CANCELLED = "booking_cancelled"
    TOO_EARLY = "too_early"
    CLOSED = "room_closed"


@dataclass(frozen=True, slots=True)
class JoinDecision:
    allowed: bool
    reason: JoinRefusal | None
    opens_at: datetime
    closes_at: datetime

    def __bool__(self) -> bool:
        return self.allowed


def room_window(
    booking: Booking, *, lead: timedelta = DEFAULT_LEAD, grace: timedelta = DEFAULT_GRACE
) -> tuple[datetime, datetime]:
    """``(opens_at, closes_at)`` of the booking's room."""
    return booking.start - lead, booking.end + grace


def may_join(
    booking: Booking,
    t: datetime,
    *,
    lead: timedelta = DEFAULT_LEAD,
    grace: timedelta = DEFAULT_GRACE,
) -> JoinDecision:
    """May anyone enter the booking's room at ``t``? With the reason when not."""
    require_aware(t, "t")
    opens, closes = room_window(booking, lead=lead, grace=grace)
    reason: JoinRefusal | None = None
    if not booking.active:
        reason = JoinRefusal.BOOKING_CANCELLED
    elif t < opens:
        reason = JoinRefusal.TOO_EARLY
    elif t >= closes:
        reason = JoinRefusal.CLOSED
    return JoinDecision(reason is None, reason, opens, closes)


class Presence(NamedTuple):
    identity: str
    role: Role


class Attendance(StrEnum):
    PENDING = "pending"
    HELD = "held"
    PATIENT_ABSENT = "patient_absent"
    EXPERT_ABSENT = "expert_absent"
    BOTH_ABSENT = "both_absent"

    @property
    def is_no_show(self) -> bool:
        return self in (Attendance.PATIENT_ABSENT, Attendance.EXPERT_ABSENT, Attendance.BOTH_ABSENT)


def decide_attendance(
    booking: Booking,
    joined: Iterable[Presence],
    t: datetime,
    *,
    wait: timedelta = DEFAULT_NO_SHOW_WAIT,
) -> Attendance:
    """The no-show rule, given everyone who has joined the room so far."""
    require_aware(t, "t")
    expert = patient_side = False
    for who in joined:
        if who.role is Role.EXPERT and who.identity == booking.expert_id:
            expert = True
        elif who.role in PATIENT_SIDE:
            patient_side = True
    if expert and patient_side:
        return Attendance.HELD
    if t < booking.start + wait:
        return Attendance.PENDING
    if expert:
        return Attendance.PATIENT_ABSENT
    if patient_side:
        return Attendance.EXPERT_ABSENT
    return Attendance.BOTH_ABSENT
