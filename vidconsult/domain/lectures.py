"""Remote education: a lecture is a booking of the presenter without a patient case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from vidconsult.domain.bookings import Booking
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.slots import BookingPolicy, check_explicit_slot
from vidconsult.domain.timeutil import require_aware
from vidconsult.errors import InvalidInput

MAX_LECTURE = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class Lecture:
    id: str
    title: str
    presenter_id: str  # an expert
    audience_unit_ids: frozenset[str]
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if not self.id or not self.presenter_id or not self.title.strip():
            raise InvalidInput("lecture needs an id, a title and a presenter")
        object.__setattr__(self, "audience_unit_ids", frozenset(self.audience_unit_ids))
        if not self.audience_unit_ids:
            raise InvalidInput("lecture needs at least one audience unit", code="no_audience")
        require_aware(self.start, "lecture start")
        require_aware(self.end, "lecture end")
        if not timedelta(0) < self.end - self.start <= MAX_LECTURE:
            raise InvalidInput(f"lecture must last more than 0 and at most {MAX_LECTURE}")

    def is_audience(self, unit_id: str) -> bool:
        return unit_id in self.audience_unit_ids


def book_lecture(
    index: ScheduleIndex,
    lecture: Lecture,
    booking_id: str,
    *,
    now: datetime,
    policy: BookingPolicy,
    allow_off_roster: bool = True,
) -> Booking:
    """Reserve the presenter's time for ``lecture`` in ``index`` and return the booking.

    Lectures are often outside clinical shifts, so off-roster is allowed by default; leave and
    double booking are still refused (``Conflict``)."""
    offer = check_explicit_slot(
        index,
        lecture.presenter_id,
        lecture.start,
        end=lecture.end,
        policy=policy,
        now=now,
        allow_off_roster=allow_off_roster,
    )
    booking = Booking.from_offer(booking_id, offer, lecture_id=lecture.id)
    index.add_booking(booking)
    return booking
